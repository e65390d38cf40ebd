"""Iterated greedy (Ruiz & Stützle 2007) for the permutation flow shop, in JAX.

Start from NEH improved by insertion local search; then each iteration

1. destruction: remove `d` random jobs (default 4),
2. reconstruction: reinsert them, in removal order, each at its first best position
   (Taillard's acceleration, `neh.best_insertion`),
3. local search by insertion: take the jobs in a fresh random order, remove each and
   reinsert it at its best position when that strictly lowers the makespan; repeat
   passes while some move improved,
4. acceptance: keep the new sequence with probability `min(1, exp(-delta / T))` at the
   constant temperature `T = t_factor * sum(p) / (n * m * 10)` (`t_factor = 0.4`),

and keep the best sequence seen. Every step is a `lax` loop with an explicit PRNG key in
the state, so one jitted call runs many iterations and vmaps over instances and over
restarts (one key per restart). `iterated_greedy_timed` gives a wall-time budget by calling
a jitted chunk of iterations repeatedly from the host, carrying the state.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxshop_baselines.methods import Method, Solution, register_method
from jaxshop_baselines.neh import (
    best_insertion,
    insert_at,
    neh,
    permutation_solutions,
    remove_at,
)

from jaxshop.instances.types import PFSPInstance, stack

DEFAULT_ITERATIONS = 100

__all__ = [
    "IGState",
    "ig_init",
    "ig_init_batch",
    "ig_run",
    "ig_run_batch",
    "iterated_greedy",
    "iterated_greedy_batch",
    "iterated_greedy_timed",
    "local_search_insertion",
    "temperature",
]


class IGState(NamedTuple):
    """Search state of one IG run; a pytree, so it vmaps and crosses jit boundaries."""

    sequence: jax.Array  # (max_jobs,) int32 current permutation, -1 padded at the end
    makespan: jax.Array  # () int32 makespan of `sequence`
    best_sequence: jax.Array  # (max_jobs,) int32 best permutation seen
    best_makespan: jax.Array  # () int32
    key: jax.Array  # PRNG key for the next iteration
    iterations: jax.Array  # () int32 iterations done (after the initial solution)


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


def _uniform_per_slot(key: jax.Array, n_slots: int) -> jax.Array:
    """`(n_slots,)` uniforms where slot `i` depends only on `(key, i)`.

    Drawing per slot (instead of one `(n_slots,)` draw) keeps the random choices of the
    real jobs independent of the padded size, so a padded instance runs exactly like the
    unpadded one.
    """
    return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i)))(
        jnp.arange(n_slots)
    )


def local_search_insertion(
    sequence: jax.Array,
    cmax: jax.Array,
    processing_times: jax.Array,
    job_mask: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Insertion local search to a local optimum: `(sequence, makespan)`.

    Each pass visits the jobs in a new random order, removes each one and reinsert it at its
    first best position if that strictly lowers the makespan; passes repeat while improving.
    """
    p = processing_times
    n = jnp.sum(job_mask, dtype=jnp.int32)
    n_slots = sequence.shape[0]

    def try_job(t, carry):
        seq, ms, improved, order = carry
        job = order[t]
        pos = jnp.argmax(seq == job)
        rest = remove_at(seq, pos)
        new_pos, new_ms = best_insertion(rest, n - 1, job, p)
        better = new_ms < ms
        seq = jnp.where(better, insert_at(rest, new_pos, job), seq)
        return seq, jnp.where(better, new_ms, ms), improved | better, order

    def one_pass(carry):
        seq, ms, _, key = carry
        key, sub = jax.random.split(key)
        u = jnp.where(job_mask, _uniform_per_slot(sub, n_slots), 2.0)
        order = jnp.argsort(u).astype(jnp.int32)
        seq, ms, improved, _ = lax.fori_loop(0, n, try_job, (seq, ms, jnp.bool_(False), order))
        return seq, ms, improved, key

    init = (sequence, cmax, n > 1, key)
    seq, ms, _, _ = lax.while_loop(lambda c: c[2], one_pass, init)
    return seq, ms


def _destruct_construct(
    sequence: jax.Array, cmax: jax.Array, p: jax.Array, n: jax.Array, key: jax.Array, d: int
) -> tuple[jax.Array, jax.Array]:
    """Removes `min(d, n)` random jobs and greedily reinserts them (removal order)."""
    n_slots = sequence.shape[0]
    d = min(d, n_slots)  # static
    idx = jnp.arange(n_slots)
    d_eff = jnp.minimum(d, n)
    u = jnp.where(idx < n, _uniform_per_slot(key, n_slots), 2.0)
    picked = jnp.argsort(u)[:d]  # distinct random positions, valid ones first
    picked_ok = jnp.arange(d) < d_eff
    removed_jobs = jnp.where(picked_ok, sequence[picked], -1)
    removed = jnp.zeros(n_slots, bool).at[picked].max(picked_ok)
    keep = (idx < n) & ~removed
    partial = sequence[jnp.argsort(~keep, stable=True)]
    partial = jnp.where(idx < n - d_eff, partial, -1)

    def reinsert(t, carry):
        seq, length, ms = carry
        job = removed_jobs[t]
        pos, new_ms = best_insertion(seq, length, job, p)
        ok = job >= 0
        seq = jnp.where(ok, insert_at(seq, pos, job), seq)
        return seq, length + ok.astype(jnp.int32), jnp.where(ok, new_ms, ms)

    seq, _, ms = lax.fori_loop(0, d, reinsert, (partial, n - d_eff, cmax))
    return seq, ms


def ig_init(
    processing_times: jax.Array, job_mask: jax.Array, machine_mask: jax.Array, key: jax.Array
) -> IGState:
    """Initial IG state: NEH followed by insertion local search (as in the paper)."""
    del machine_mask  # same signature as `ig_run`; the start does not depend on it
    p = jnp.asarray(processing_times, jnp.int32)
    key, sub = jax.random.split(key)
    seq, ms = neh(p, job_mask)
    seq, ms = local_search_insertion(seq, ms, p, job_mask, sub)
    return IGState(seq, ms, seq, ms, key, jnp.int32(0))


def ig_run(
    state: IGState,
    processing_times: jax.Array,
    job_mask: jax.Array,
    machine_mask: jax.Array,
    num_iters: jax.Array | int,
    d: int = 4,
    t_factor: float = 0.4,
) -> IGState:
    """Runs `num_iters` (static or traced) IG iterations from `state`."""
    p = jnp.asarray(processing_times, jnp.int32)
    n = jnp.sum(job_mask, dtype=jnp.int32)
    temp = temperature(p, job_mask, machine_mask, t_factor)

    def iteration(_, s: IGState) -> IGState:
        key, k_destroy, k_search, k_accept = jax.random.split(s.key, 4)
        seq, ms = _destruct_construct(s.sequence, s.makespan, p, n, k_destroy, d)
        seq, ms = local_search_insertion(seq, ms, p, job_mask, k_search)
        delta = (ms - s.makespan).astype(jnp.float32)
        accept = jax.random.uniform(k_accept) < jnp.exp(-delta / temp)  # always if delta<=0
        cur_seq = jnp.where(accept, seq, s.sequence)
        cur_ms = jnp.where(accept, ms, s.makespan)
        better = ms < s.best_makespan
        return IGState(
            cur_seq,
            cur_ms,
            jnp.where(better, seq, s.best_sequence),
            jnp.where(better, ms, s.best_makespan),
            key,
            s.iterations + 1,
        )

    return lax.fori_loop(0, num_iters, iteration, state)


def iterated_greedy(
    processing_times: jax.Array,
    job_mask: jax.Array,
    machine_mask: jax.Array,
    key: jax.Array,
    num_iters: jax.Array | int,
    d: int = 4,
    t_factor: float = 0.4,
) -> tuple[jax.Array, jax.Array]:
    """One IG run of `num_iters` iterations: best permutation `(max_jobs,)` and makespan."""
    state = ig_init(processing_times, job_mask, machine_mask, key)
    state = ig_run(state, processing_times, job_mask, machine_mask, num_iters, d, t_factor)
    return state.best_sequence, state.best_makespan


# Batched versions: instances on axis 0, restarts (one key each) on axis 1.
_over_restarts = dict(in_axes=(None, None, None, 0))


@partial(jax.jit, static_argnames=("d", "t_factor"))
def iterated_greedy_batch(
    processing_times: jax.Array,
    job_mask: jax.Array,
    machine_mask: jax.Array,
    keys: jax.Array,
    num_iters: jax.Array | int,
    d: int = 4,
    t_factor: float = 0.4,
) -> tuple[jax.Array, jax.Array]:
    """`(B, J, M)`, `(B, J)`, `(B, M)`, keys `(B, R)` -> `(B, R, J)` perms, `(B, R)` makespans.

    `num_iters` is traced (changing it does not recompile).
    """
    run = lambda p, jm, mm, k: iterated_greedy(p, jm, mm, k, num_iters, d, t_factor)
    return jax.vmap(jax.vmap(run, **_over_restarts))(processing_times, job_mask, machine_mask, keys)


ig_init_batch = jax.jit(jax.vmap(jax.vmap(ig_init, **_over_restarts)))
"""`(B, J, M)`, `(B, J)`, `(B, M)`, keys `(B, R)` -> `IGState` with leading axes `(B, R)`."""


@partial(jax.jit, static_argnames=("d", "t_factor"))
def ig_run_batch(
    state: IGState,
    processing_times: jax.Array,
    job_mask: jax.Array,
    machine_mask: jax.Array,
    num_iters: jax.Array | int,
    d: int = 4,
    t_factor: float = 0.4,
) -> IGState:
    """`ig_run` over a `(B, R)` state batch and `(B, ...)` instances; `num_iters` traced."""
    run = lambda s, p, jm, mm: ig_run(s, p, jm, mm, num_iters, d, t_factor)
    per_instance = jax.vmap(run, in_axes=(0, None, None, None))
    return jax.vmap(per_instance)(state, processing_times, job_mask, machine_mask)


def iterated_greedy_timed(
    processing_times: jax.Array,
    job_mask: jax.Array,
    machine_mask: jax.Array,
    keys: jax.Array,
    time_limit_s: float,
    d: int = 4,
    t_factor: float = 0.4,
    max_chunk: int = 1000,
) -> tuple[IGState, dict[str, float | int]]:
    """Batched IG under a wall-time budget (host loop over jitted chunks of iterations).

    Both jitted functions are compiled ahead of time, so `time_limit_s` covers only the
    search (NEH + local search start, then iterations). Chunk sizes adapt to the measured
    time per iteration so that the budget is overrun by at most about one iteration; at
    least one iteration always runs. Returns the final `(B, R)` state and timings.
    """
    args = (processing_times, job_mask, machine_mask)
    t0 = time.perf_counter()
    init_fn = ig_init_batch.lower(*args, keys).compile()
    state_shape = jax.eval_shape(ig_init_batch, *args, keys)
    run_fn = ig_run_batch.lower(state_shape, *args, jnp.int32(1), d=d, t_factor=t_factor).compile()
    compile_s = time.perf_counter() - t0

    start = time.perf_counter()
    state = jax.block_until_ready(init_fn(*args, keys))
    chunk, done = 1, 0
    while True:
        t_chunk = time.perf_counter()
        state = jax.block_until_ready(run_fn(state, *args, jnp.int32(chunk)))
        done += chunk
        now = time.perf_counter()
        remaining = time_limit_s - (now - start)
        if remaining <= 0:
            break
        per_iter = (now - t_chunk) / chunk
        chunk = int(min(max_chunk, max(1, remaining // max(per_iter, 1e-9))))
    timings = {"compile_s": compile_s, "search_s": time.perf_counter() - start, "iterations": done}
    return state, timings


@register_method("ig", "iterated greedy (Ruiz & Stuetzle 2007) from NEH (PFSP)")
def _ig_method(
    arg: str | None = None,
    iterations: int | None = None,
    time_limit: float | None = None,
    restarts: int = 1,
    **_: Any,
) -> Method:
    """The `ig` method: `iterations` (default 100) or a `time_limit` in seconds per batch.

    With `restarts > 1` each instance gets that many independent runs and keeps the best.
    """
    if iterations is not None and iterations < 0:
        raise ValueError(f"ig: iterations must be >= 0, got {iterations}")
    if time_limit is not None and time_limit <= 0:
        raise ValueError(f"ig: time_limit must be > 0 seconds, got {time_limit}")

    def solve(instances: list[PFSPInstance], key: jax.Array) -> list[Solution]:
        batch = stack(instances)
        args = (batch.processing_times, batch.job_mask, batch.machine_mask)
        keys = jax.random.split(key, (len(instances), restarts))
        if time_limit is not None and iterations is None:
            state, _ = iterated_greedy_timed(*args, keys, time_limit)
            perms, spans = state.best_sequence, state.best_makespan
        else:
            n_iter = DEFAULT_ITERATIONS if iterations is None else iterations
            perms, spans = iterated_greedy_batch(*args, keys, n_iter)
        best = jnp.argmin(spans, axis=1)
        return permutation_solutions(
            instances, jnp.take_along_axis(perms, best[:, None, None], 1)[:, 0]
        )

    return Method("ig", ("pfsp",), solve)
