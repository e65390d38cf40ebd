"""Iterated greedy (Ruiz & Stützle 2007) for the permutation flow shop, in JAX.

Start from NEH improved by insertion local search; then each iteration

1. destruction: remove `d` jobs at random positions (default 4),
2. reconstruction: reinsert them, in removal order, each at its first best position
   (Taillard's acceleration, `jaxshop.pfsp.neh.best_insertion`),
3. local search by insertion: in random order without repetition, remove each job and
   reinsert it at its best position when that strictly lowers the makespan; repeat
   passes while some move improved,
4. acceptance: keep the new sequence with probability `min(1, exp(-delta / T))` at the
   constant temperature `T = t_factor * sum(p) / (n * m * 10)` (`t_factor = 0.4`),

and keep the best sequence seen.

Implementation: one `lax.while_loop` over a flat state machine (`IGState`) whose every
step is exactly one best insertion (an NEH / reconstruction insertion or a local-search
move) followed by the phase transitions. Under vmap (instances x restarts) the runs thus
advance in lockstep without waiting for each other in nested loops, and the insertion
kernel is compiled once. Randomness: each step splits the state's PRNG key and draws one
32-bit seed from the subkey; per-job choices come from a counter hash of that seed, so a
padded instance makes exactly the same choices as the unpadded one. Budgets: a number of
iterations (traced, so changing it does not recompile) in one jitted call
(`iterated_greedy_batch`) or in a host loop over jitted chunks of a bounded number of
steps (`iterated_greedy_chunked`, what the `ig` method runs: the same steps, so the same
answer, with progress reports and room for Ctrl-C between chunks of about
`CHUNK_SECONDS`), or a wall time (`iterated_greedy_timed`: chunks of iterations, carrying
the state).
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxshop_baselines.limits import estimate_ig
from jaxshop_baselines.methods import (
    CHUNK_SECONDS,
    Method,
    Solution,
    next_chunk,
    register_method,
)
from jaxshop_baselines.neh import permutation_solutions
from jaxshop_baselines.timed import run_timed

from jaxshop.instances.types import PFSPInstance, stack
from jaxshop.pfsp.makespan import makespan
from jaxshop.pfsp.neh import best_insertion, insert_at, neh_order, remove_at

DEFAULT_ITERATIONS = 100
MAX_ITERATIONS = 2**31 - 1  # the iteration counter is int32
_BIG = int(np.iinfo(np.int32).max)

__all__ = [
    "CompiledIG",
    "IGState",
    "compile_ig_batch",
    "ig_init",
    "ig_init_batch",
    "ig_run",
    "ig_run_batch",
    "iterated_greedy",
    "iterated_greedy_batch",
    "iterated_greedy_chunked",
    "iterated_greedy_timed",
    "local_search_insertion",
    "temperature",
]


class IGState(NamedTuple):
    """State of one IG run; a pytree, so it vmaps and crosses jit boundaries.

    The search runs as a flat state machine that does exactly one best insertion per step
    (NEH or reconstruction insertions while `inserting`, else one local-search move), so
    vmapped runs never wait for each other inside nested loops and the insertion kernel is
    compiled once. The first six fields are the public result.
    """

    sequence: jax.Array  # (max_jobs,) int32 current (accepted) permutation, -1 padded
    makespan: jax.Array  # () int32 makespan of `sequence` (int32 max before the start)
    best_sequence: jax.Array  # (max_jobs,) int32 best permutation seen
    best_makespan: jax.Array  # () int32
    key: jax.Array  # PRNG key of the next step
    iterations: jax.Array  # () int32 IG iterations done; -1 until NEH + local search end
    work: jax.Array  # (max_jobs,) int32 sequence being built / improved
    work_length: jax.Array  # () int32 jobs in `work`
    work_makespan: jax.Array  # () int32 makespan of `work` (when complete)
    queue: jax.Array  # (max_jobs,) int32 jobs still to insert (NEH order or removed jobs)
    queue_pos: jax.Array  # () int32 next entry of `queue`
    queue_length: jax.Array  # () int32 entries in `queue`
    visited: jax.Array  # (max_jobs,) bool jobs already tried in this local-search pass
    visited_count: jax.Array  # () int32 jobs tried in this pass
    improved: jax.Array  # () bool some move of this pass lowered the makespan
    inserting: jax.Array  # () bool inserting from `queue` (else local search)


def temperature(
    processing_times: jax.Array,
    job_mask: jax.Array,
    machine_mask: jax.Array,
    t_factor: float = 0.4,
) -> jax.Array:
    """Ruiz & Stützle's constant temperature `t_factor * sum(p) / (n * m * 10)` (float32)."""
    total = jnp.sum(jnp.where(job_mask[:, None], processing_times, 0), dtype=jnp.int32)
    n = jnp.sum(job_mask, dtype=jnp.int32)
    m = jnp.sum(machine_mask, dtype=jnp.int32)
    t = t_factor * total.astype(jnp.float32) / (jnp.maximum(n * m, 1) * 10).astype(jnp.float32)
    return jnp.maximum(t, jnp.finfo(jnp.float32).tiny)


def _mix32(x: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: a bijective avalanche mix of uint32 values."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def _slot_bits(seed: jax.Array, n_slots: int) -> jax.Array:
    """`(n_slots,)` distinct pseudo-random uint32 where slot `i` depends only on `(seed, i)`.

    Each step draws one `seed` from its own PRNG subkey; expanding it per slot with a
    counter hash (instead of a `(n_slots,)` `jax.random` draw) keeps the choices for the
    real jobs independent of the padded size, so a padded instance runs exactly like the
    unpadded one, and is far cheaper to compile than a vmapped threefry draw.
    """
    return _mix32(seed + _mix32(jnp.arange(1, n_slots + 1, dtype=jnp.uint32)))


def _destruct(
    sequence: jax.Array, n: jax.Array, seed: jax.Array, d: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Removes `min(d, n)` jobs at random positions, one after the other.

    Returns `(partial, removed, count)`: `partial` keeps the other jobs in order (`-1`
    after them); `removed` lists the removed jobs in removal order (`-1` after them), as a
    `(max_jobs,)` insertion queue. `O(d * max_jobs)`, no sorting.
    """
    n_slots = sequence.shape[0]
    d = min(d, n_slots)  # static
    count = jnp.minimum(d, n)
    words = _slot_bits(seed ^ jnp.uint32(0x5BD1E995), d)

    def remove_one(t, carry):
        seq, removed = carry
        length = jnp.maximum(n - t, 1).astype(jnp.uint32)
        pos = (words[t] % length).astype(jnp.int32)  # bias < length / 2**32
        ok = t < count
        removed = removed.at[t].set(jnp.where(ok, seq[pos], -1))
        return jnp.where(ok, remove_at(seq, pos), seq), removed

    init = (sequence, jnp.full(n_slots, -1, jnp.int32))
    partial, removed = lax.fori_loop(0, d, remove_one, init)
    return partial, removed, count


def _fresh_state(processing_times: jax.Array, job_mask: jax.Array, key: jax.Array) -> IGState:
    """A state whose first steps run NEH (queue = NEH order into an empty sequence)."""
    n_slots = processing_times.shape[0]
    n = jnp.sum(job_mask, dtype=jnp.int32)
    empty = jnp.full(n_slots, -1, jnp.int32)
    queue = jnp.where(jnp.arange(n_slots) < n, neh_order(processing_times, job_mask), -1)
    zero, big = jnp.int32(0), jnp.int32(_BIG)
    return IGState(
        empty, big, empty, big, key, jnp.int32(-1),
        empty, zero, zero, queue, zero, n, jnp.zeros(n_slots, bool), zero, jnp.bool_(False),
        jnp.bool_(True),
    )  # fmt: skip


def _step(
    s: IGState, p: jax.Array, job_mask: jax.Array, n: jax.Array, temp: jax.Array, d: int
) -> IGState:
    """One best insertion, then the phase transitions (pass end, iteration end)."""
    n_slots = p.shape[0]
    key, sub = jax.random.split(s.key)
    seed = jax.random.bits(sub, dtype=jnp.uint32)
    bits = _slot_bits(seed, n_slots)
    u_accept = (_mix32(seed ^ jnp.uint32(0x9E3779B9)) >> 8).astype(jnp.float32) / 2.0**24
    ins = s.inserting

    # One insertion: the next queued job into `work`, or a random job not yet tried in
    # this local-search pass, removed from `work` and put back at its best position.
    q_job = s.queue[jnp.minimum(s.queue_pos, n_slots - 1)]
    untried = job_mask & ~s.visited
    ls_job = jnp.argmax(jnp.where(untried, (bits >> 1) + 1, 0)).astype(jnp.int32)
    job = jnp.where(
        ins,
        jnp.where(s.queue_pos < s.queue_length, q_job, -1),
        jnp.where(s.visited_count < n, ls_job, -1),
    )
    base = jnp.where(ins, s.work, remove_at(s.work, jnp.argmax(s.work == job)))
    base_length = jnp.where(ins, s.work_length, n - 1)
    pos, cand_ms = best_insertion(base, base_length, job, p)
    take = (job >= 0) & (ins | (cand_ms < s.work_makespan))
    work = jnp.where(take, insert_at(base, pos, job), s.work)
    work_ms = jnp.where(take, cand_ms, s.work_makespan)
    work_length = s.work_length + (ins & (job >= 0))
    queue_pos = s.queue_pos + ins
    visited = s.visited | (~ins & (jnp.arange(n_slots) == job))
    visited_count = s.visited_count + ~ins
    improved = s.improved | (~ins & take)

    insert_done = ins & (queue_pos >= s.queue_length)
    pass_done = ~ins & (visited_count >= n)
    new_pass = insert_done | (pass_done & improved)
    iter_end = pass_done & ~improved  # local optimum reached: accept, then destroy

    delta = (work_ms - s.makespan).astype(jnp.float32)
    accept = (work_ms <= s.makespan) | (u_accept < jnp.exp(-delta / temp))
    cur = jnp.where(accept, work, s.sequence)
    cur_ms = jnp.where(accept, work_ms, s.makespan)
    better = work_ms < s.best_makespan
    partial, removed, count = _destruct(cur, n, seed, d)

    pick = lambda at, new, old: jnp.where(at, new, old)
    return IGState(
        sequence=pick(iter_end, cur, s.sequence),
        makespan=pick(iter_end, cur_ms, s.makespan),
        best_sequence=pick(iter_end & better, work, s.best_sequence),
        best_makespan=pick(iter_end & better, work_ms, s.best_makespan),
        key=key,
        iterations=s.iterations + iter_end,
        work=pick(iter_end, partial, work),
        work_length=pick(iter_end, n - count, work_length),
        work_makespan=work_ms,
        queue=pick(iter_end, removed, s.queue),
        queue_pos=pick(iter_end, 0, queue_pos),
        queue_length=pick(iter_end, count, s.queue_length),
        visited=visited & ~new_pass,
        visited_count=pick(new_pass, 0, visited_count),
        improved=improved & ~(new_pass | iter_end),
        inserting=iter_end | (ins & ~insert_done),
    )


def _advance(
    state: IGState,
    target: jax.Array,
    processing_times: jax.Array,
    job_mask: jax.Array,
    machine_mask: jax.Array,
    d: int,
    t_factor: float,
    max_steps: jax.Array | None = None,
) -> IGState | tuple[IGState, jax.Array]:
    """Steps until `state.iterations == target` (under vmap, finished runs stay frozen).

    With `max_steps`, at most that many steps, and returns `(state, steps done)`: the steps
    are the same, so a host loop of such calls ends in the very same state."""
    p = jnp.asarray(processing_times, jnp.int32)
    n = jnp.sum(job_mask, dtype=jnp.int32)
    temp = temperature(p, job_mask, machine_mask, t_factor)
    step = lambda s: _step(s, p, job_mask, n, temp, d)
    if max_steps is None:
        return lax.while_loop(lambda s: s.iterations < target, step, state)
    return lax.while_loop(
        lambda c: (c[0].iterations < target) & (c[1] < max_steps),
        lambda c: (step(c[0]), c[1] + 1),
        (state, jnp.int32(0)),
    )


def local_search_insertion(
    sequence: jax.Array,
    processing_times: jax.Array,
    job_mask: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Insertion local search from a complete `sequence` to a local optimum.

    Each pass visits the jobs in a new random order, removes each one and reinserts it at
    its first best position if that strictly lowers the makespan; passes repeat while some
    move improved. Returns `(sequence, makespan)`.
    """
    p = jnp.asarray(processing_times, jnp.int32)
    n = jnp.sum(job_mask, dtype=jnp.int32)
    ones = jnp.ones(p.shape[-1], bool)
    state = _fresh_state(p, job_mask, key)._replace(
        work=sequence.astype(jnp.int32),
        work_length=n,
        work_makespan=makespan(p, sequence),
        queue_length=jnp.int32(0),  # nothing to insert: the first step starts a pass
    )
    state = _advance(state, jnp.int32(0), p, job_mask, ones, 1, 0.4)
    return state.best_sequence, state.best_makespan


def ig_init(processing_times: jax.Array, job_mask: jax.Array, machine_mask: jax.Array,
            key: jax.Array, d: int = 4, t_factor: float = 0.4) -> IGState:
    """Initial IG state: NEH followed by insertion local search (as in the paper).

    It also draws the destruction of the first iteration, so pass the same `d` to `ig_run`.
    """
    state = _fresh_state(jnp.asarray(processing_times, jnp.int32), job_mask, key)
    return _advance(state, jnp.int32(0), processing_times, job_mask, machine_mask, d, t_factor)


def ig_run(state: IGState, processing_times: jax.Array, job_mask: jax.Array,
           machine_mask: jax.Array, num_iters: jax.Array | int, d: int = 4,
           t_factor: float = 0.4) -> IGState:
    """Runs `num_iters` (static or traced) more IG iterations from `state`."""
    target = state.iterations + jnp.asarray(num_iters, jnp.int32)
    return _advance(state, target, processing_times, job_mask, machine_mask, d, t_factor)


def iterated_greedy(processing_times: jax.Array, job_mask: jax.Array, machine_mask: jax.Array,
                    key: jax.Array, num_iters: jax.Array | int, d: int = 4,
                    t_factor: float = 0.4) -> tuple[jax.Array, jax.Array]:
    """One IG run of `num_iters` iterations: best permutation `(max_jobs,)` and makespan."""
    state = _fresh_state(jnp.asarray(processing_times, jnp.int32), job_mask, key)
    target = jnp.asarray(num_iters, jnp.int32)
    state = _advance(state, target, processing_times, job_mask, machine_mask, d, t_factor)
    return state.best_sequence, state.best_makespan


# Batched versions: instances `(B, ...)` on axis 0, restarts (one key or state each) on
# axis 1 of the keys / states. `d` and `t_factor` are static; an iteration budget is
# passed as a traced int32 (`_traced_budget`), so changing it (or passing a Python int)
# does not recompile.


def _over_keys(run):
    """`run(times, job_mask, machine_mask, key)` over `(B, ...)` instances, `(B, R)` keys."""
    return jax.vmap(jax.vmap(run, in_axes=(None, None, None, 0)))


def _over_states(run):
    """`run(state, times, job_mask, machine_mask)` over `(B, R)` states, `(B, ...)`
    instances."""
    return jax.vmap(jax.vmap(run, in_axes=(0, None, None, None)))


def _traced_budget(jitted):
    """`jitted(*args, budget, d=, t_factor=)` with the budget cast to an int32 array."""

    def call(*args, d: int = 4, t_factor: float = 0.4):
        *args, budget = args
        return jitted(*args, jnp.asarray(budget, jnp.int32), d=d, t_factor=t_factor)

    call.__doc__ = jitted.__doc__
    return call


@partial(jax.jit, static_argnames=("d", "t_factor"))
def _iterated_greedy_batch(processing_times, job_mask, machine_mask, keys, num_iters, d=4,
                           t_factor=0.4):
    """`(B, J, M)`, `(B, J)`, `(B, M)`, keys `(B, R)`, `num_iters` -> `(B, R, J)` perms,
    `(B, R)` makespans (jitted once per shape)."""
    run = lambda p, jm, mm, k: iterated_greedy(p, jm, mm, k, num_iters, d, t_factor)
    return _over_keys(run)(processing_times, job_mask, machine_mask, keys)


iterated_greedy_batch = _traced_budget(_iterated_greedy_batch)


@partial(jax.jit, static_argnames=("d", "t_factor"))
def ig_init_batch(processing_times, job_mask, machine_mask, keys, d=4, t_factor=0.4) -> IGState:
    """`ig_init` for `(B, ...)` instances and keys `(B, R)` (jitted): state axes `(B, R)`."""
    init = lambda p, jm, mm, k: ig_init(p, jm, mm, k, d, t_factor)
    return _over_keys(init)(processing_times, job_mask, machine_mask, keys)


@partial(jax.jit, static_argnames=("d", "t_factor"))
def _ig_run_batch(state, processing_times, job_mask, machine_mask, num_iters, d=4,
                  t_factor=0.4) -> IGState:
    """`ig_run` over a `(B, R)` state batch and `(B, ...)` instances (jitted, traced budget)."""
    run = lambda s, p, jm, mm: ig_run(s, p, jm, mm, num_iters, d, t_factor)
    return _over_states(run)(state, processing_times, job_mask, machine_mask)


ig_run_batch = _traced_budget(_ig_run_batch)

_fresh_batch = jax.jit(jax.vmap(jax.vmap(_fresh_state, in_axes=(None, None, 0))))


class CompiledIG(NamedTuple):
    """Ahead-of-time compiled batched IG for one shape (see `compile_ig_batch`)."""

    init: Any  # (times, job_mask, machine_mask, keys) -> IGState
    run: Any  # (state, times, job_mask, machine_mask, int32 num_iters) -> IGState
    compile_s: float  # seconds spent tracing and compiling both


def compile_ig_batch(processing_times: jax.Array, job_mask: jax.Array, machine_mask: jax.Array,
                     keys: jax.Array, d: int = 4, t_factor: float = 0.4) -> CompiledIG:
    """Compiles `ig_init_batch` and `ig_run_batch` for these shapes, to time them apart."""
    args = (processing_times, job_mask, machine_mask)
    t0 = time.perf_counter()
    init_fn = ig_init_batch.lower(*args, keys, d=d, t_factor=t_factor).compile()
    # A concrete (unsearched) state, so that this compilation also serves later
    # `ig_run_batch` calls on real states (abstract shapes would lower differently).
    state = _fresh_batch(processing_times, job_mask, keys)
    run_fn = _ig_run_batch.lower(state, *args, jnp.int32(1), d=d, t_factor=t_factor).compile()
    return CompiledIG(init_fn, run_fn, time.perf_counter() - t0)


@partial(jax.jit, static_argnames=("d", "t_factor"))
def _ig_steps_batch(state, processing_times, job_mask, machine_mask, target, max_steps, d,
                    t_factor) -> tuple[IGState, jax.Array]:
    """`_advance` over a `(B, R)` state batch: each run steps towards `target` iterations,
    at most `max_steps` steps (both traced: one compile per shape)."""
    run = lambda s, p, jm, mm: _advance(s, target, p, jm, mm, d, t_factor, max_steps)
    return _over_states(run)(state, processing_times, job_mask, machine_mask)


class _Stepper:
    """Host loop over `_ig_steps_batch` calls of about `chunk_seconds` each (the chunk
    size, in steps, adapts to the measured time per step), so that progress, time limits
    and Ctrl-C get a turn between calls. Compiles on creation (a call of 0 steps)."""

    def __init__(self, state, args, d, t_factor, chunk_seconds):
        self.state, self.args, self.d, self.t_factor = state, args, d, t_factor
        self.chunk_seconds, self.steps, self.reported = chunk_seconds, 8, -1.0
        t0 = time.perf_counter()
        self.call(0, 0)
        self.compile_s = time.perf_counter() - t0

    def call(self, target: int, max_steps: int) -> np.ndarray:
        t0 = time.perf_counter()
        state, steps = _ig_steps_batch(self.state, *self.args, jnp.int32(target),
                                       jnp.int32(max_steps), d=self.d, t_factor=self.t_factor)
        iterations = np.asarray(state.iterations)  # waits for the call
        self.state = state
        if max_steps:
            done = int(np.max(steps))
            self.steps = next_chunk(self.steps, done, time.perf_counter() - t0,
                                    self.chunk_seconds)
        return iterations

    def run_to(self, target: int, progress=None) -> None:
        """Steps every run to `target` iterations (`progress(fraction)` after each call:
        iterations done, the NEH + local search start counted as one)."""
        iterations = np.asarray(self.state.iterations)
        while iterations.min() < target:
            iterations = self.call(target, self.steps)
            done = float((np.minimum(iterations, target) + 1).mean()) / (target + 1)
            if progress is not None and done > self.reported:  # increasing fractions
                self.reported = done
                progress(done)


def iterated_greedy_chunked(processing_times: jax.Array, job_mask: jax.Array,
                            machine_mask: jax.Array, keys: jax.Array, num_iters: int,
                            d: int = 4, t_factor: float = 0.4, progress: Any = None,
                            chunk_seconds: float = CHUNK_SECONDS) -> IGState:
    """`iterated_greedy_batch` as a host loop over jitted chunks of about `chunk_seconds`
    (bounded numbers of steps, the PRNG state carried), so a long budget reports
    `progress(fraction done)` and can be interrupted between chunks. The runs take the
    very same steps: the final `(B, R)` state's best permutations and makespans are
    those of `iterated_greedy_batch` with the same keys and budget."""
    if not 0 <= int(num_iters) <= MAX_ITERATIONS:
        raise ValueError(f"num_iters must be in 0..{MAX_ITERATIONS}, got {num_iters}")
    args = (processing_times, job_mask, machine_mask)
    state = _fresh_batch(processing_times, job_mask, keys)
    stepper = _Stepper(state, args, d, t_factor, chunk_seconds)
    stepper.run_to(int(num_iters), progress)
    if progress is not None and stepper.reported < 1.0:
        progress(1.0)
    return stepper.state


def iterated_greedy_timed(processing_times: jax.Array, job_mask: jax.Array,
                          machine_mask: jax.Array, keys: jax.Array, time_limit_s: float,
                          d: int = 4, t_factor: float = 0.4, max_chunk: int = 1000,
                          progress: Any = None, chunk_seconds: float = CHUNK_SECONDS,
                          ) -> tuple[IGState, dict[str, float | int]]:
    """Batched IG under a wall-time budget (host loop over jitted chunks of iterations).

    The jitted step function is compiled first, so `time_limit_s` covers only the search
    (NEH + local search start, then iterations). Chunk sizes adapt to the measured time
    per iteration (each aims at half the remaining time, at most `max_chunk` iterations,
    and every jitted call runs about `chunk_seconds` at most), so the budget is overrun by
    about one iteration at most; at least one iteration always runs, and every run does
    the same number. `progress(fraction of the time limit used)` after each chunk.
    Returns the final `(B, R)` state and timings (`compile_s`, `search_s`, `iterations`
    per run).
    """
    args = (processing_times, job_mask, machine_mask)
    stepper = _Stepper(_fresh_batch(processing_times, job_mask, keys), args, d, t_factor,
                       chunk_seconds)
    start = time.perf_counter()
    stepper.run_to(0)
    done = run_timed(lambda done, chunk: stepper.run_to(done + chunk), time_limit_s, start,
                     max_chunk, progress)
    timings = {
        "compile_s": stepper.compile_s,
        "search_s": time.perf_counter() - start,
        "iterations": done,
    }
    return stepper.state, timings


@register_method(
    "ig",
    "iterated greedy (Ruiz & Stuetzle 2007) from NEH (PFSP)",
    options=("seed", "iterations", "time_limit", "restarts"),
    problems=("pfsp",),
    estimate=estimate_ig,
)
def _ig_method(
    arg: str | None = None,
    iterations: int | None = None,
    time_limit: float | None = None,
    restarts: int = 1,
    **_: Any,
) -> Method:
    """The `ig` method: `iterations` (default 100) or, if only it is given, a `time_limit`
    in seconds for the whole batch. With `restarts > 1` each instance gets that many
    independent runs (vmapped) and keeps the best.
    """
    if iterations is not None and time_limit is not None:
        raise ValueError("ig: give iterations or time_limit, not both")
    if iterations is not None and not 0 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"ig: iterations must be in 0..{MAX_ITERATIONS}, got {iterations}")
    if time_limit is not None and not (0 < time_limit < math.inf):
        raise ValueError(f"ig: time_limit must be a finite number of seconds > 0, got {time_limit}")
    if not 1 <= restarts <= 1024:
        raise ValueError(f"ig: restarts must be in 1..1024, got {restarts}")

    def solve(instances: list[PFSPInstance], key: jax.Array, progress=None) -> list[Solution]:
        batch = stack(instances)
        args = (batch.processing_times, batch.job_mask, batch.machine_mask)
        keys = jax.random.split(key, (len(instances), restarts))
        if time_limit is not None and iterations is None:
            state, _ = iterated_greedy_timed(*args, keys, time_limit, progress=progress)
        else:
            n_iter = DEFAULT_ITERATIONS if iterations is None else iterations
            state = iterated_greedy_chunked(*args, keys, n_iter, progress=progress)
        perms, spans = state.best_sequence, state.best_makespan
        best = jnp.argmin(spans, axis=1)  # best restart of each instance
        best_perms = jnp.take_along_axis(perms, best[:, None, None], axis=1)[:, 0]
        return permutation_solutions(instances, best_perms)

    return Method("ig", ("pfsp",), solve)
