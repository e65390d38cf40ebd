"""Schedule improvement with the learned Q: tabu search over swaps, batched over instances.

The search runs through the `pfsp_swap` env (`ENV`): its state carries the permutation,
makespan and swap table, its observation gives the features, and `ENV.move_to` is every
move and kick. From NEH, every move scores all swaps of the current permutation at once (all swap
makespans by `jaxshop.pfsp_swap.swap_makespans`, once per move), takes the candidate list
(the model's `candidates` allowed swaps of least makespan; every allowed swap when 0),
computes their features and `Q`, and applies the candidate of highest Q (a tabu swap is
allowed when it gives a new best makespan). With `w = 0` and the exact reward (`Q = r`)
this is a plain tabu search of steepest swaps, the ablation of the learned part.
The tabu list holds the job pairs of the last `tabu` swaps. After `patience` moves without
a new best, the search restarts from the best permutation kicked by `kick` random swaps
(and an empty tabu list). The best permutation seen is kept. Budgets: a number of moves
(traced, one compile per padded shape; `search_chunked` runs them as a host loop over
jitted chunks of about `CHUNK_SECONDS`, with progress and room for Ctrl-C, to the same
answer) or a wall time (`search_timed`: a host loop over jitted chunks of moves).
`swap_descent` is the plain baseline: steepest-descent swaps from NEH until no swap
improves.
"""

from __future__ import annotations

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxshop_baselines.kernel_q.train import BIG, ENV, NEG_Q, candidate_moves, q_values
from jaxshop_baselines.methods import CHUNK_SECONDS, next_chunk
from jaxshop_baselines.timed import run_timed

from jaxshop.instances.types import PFSPInstance
from jaxshop.pfsp_swap import (
    features,
    neh_permutation,
    sequence_makespan,
    swap_makespans,
    swap_positions,
)
from jaxshop.pfsp_swap.swaps import pair_table
from jaxshop.pfsp_swap.types import SwapState


class SearchState(NamedTuple):
    env: SwapState  # the env's state: permutation, makespan, swap makespans, instance
    best_perm: jax.Array  # (N,) int32
    best_cmax: jax.Array  # () int32
    tabu: jax.Array  # (T, 2) int32 job pairs (lower, higher), -1 empty
    tabu_pos: jax.Array  # () int32 next slot of the ring buffer
    since_best: jax.Array  # () int32 moves without a new best
    moves: jax.Array  # () int32
    key: jax.Array


def search_init(instance: PFSPInstance, key: jax.Array, tabu: int = 8) -> SearchState:
    env, _ = ENV.start(key, instance)
    zero = jnp.int32(0)
    return SearchState(env, env.permutation, env.makespan,
                       jnp.full((tabu, 2), -1, jnp.int32), zero, zero, zero, key)


def search_step(s: SearchState, instance: PFSPInstance, params: dict, lam: float,
                patience: int, kick: int, candidates: int = 0) -> SearchState:
    env = s.env
    perm, spans = env.permutation, env.swap_makespans
    n = instance.job_mask.sum()
    f_idx, g_idx = (jnp.asarray(a) for a in pair_table(perm.shape[0]))
    valid = spans < BIG
    jf, jg = perm[f_idx], perm[g_idx]
    lo, hi = jnp.minimum(jf, jg), jnp.maximum(jf, jg)
    is_tabu = jnp.any((s.tabu[None, :, 0] == lo[:, None]) & (s.tabu[None, :, 1] == hi[:, None]),
                      axis=1)
    allowed = valid & (~is_tabu | (spans < s.best_cmax))
    cand, ok = candidate_moves(spans, allowed, candidates)
    obs = ENV.observe(env)
    q = q_values(params, lam, features(obs.state_features, obs.action_features[cand]))
    a = cand[jnp.argmax(jnp.where(ok, q, NEG_Q))]
    has = ok.any()
    moved = jnp.where(has, swap_positions(perm, f_idx[a], g_idx[a]), perm)

    key, sub = jax.random.split(s.key)
    restart = s.since_best >= patience
    picks = jax.random.randint(sub, (kick, 2), 0, jnp.maximum(n, 1))

    def kick_one(i, perm):
        return swap_positions(perm, picks[i, 0], picks[i, 1])

    kicked = lax.fori_loop(0, kick, kick_one, s.best_perm)
    perm = jnp.where(restart, kicked, moved)
    cmax = jnp.where(restart, sequence_makespan(instance.processing_times, perm),
                     jnp.where(has, spans[a], env.makespan))
    better = cmax < s.best_cmax
    push = has & ~restart
    tabu = jnp.where(restart, -1, s.tabu)
    tabu = jnp.where(push, tabu.at[s.tabu_pos].set(jnp.stack([lo[a], hi[a]])), tabu)
    return SearchState(
        env=ENV.move_to(env, perm, cmax),
        best_perm=jnp.where(better, perm, s.best_perm),
        best_cmax=jnp.minimum(cmax, s.best_cmax),
        tabu=tabu,
        tabu_pos=jnp.where(push, (s.tabu_pos + 1) % s.tabu.shape[0],
                           jnp.where(restart, 0, s.tabu_pos)),
        since_best=jnp.where(better | restart, 0, s.since_best + 1),
        moves=s.moves + 1,
        key=key,
    )


@partial(jax.jit, static_argnames=("tabu",))
def search_init_batch(batch: PFSPInstance, keys: jax.Array, tabu: int = 8) -> SearchState:
    return jax.vmap(lambda i, k: search_init(i, k, tabu))(batch, keys)


@partial(jax.jit, static_argnames=("lam", "patience", "kick", "candidates"))
def search_run_batch(state: SearchState, batch: PFSPInstance, params: dict, moves: jax.Array,
                     lam: float, patience: int = 40, kick: int = 3,
                     candidates: int = 0) -> SearchState:
    """`moves` more search moves for every instance of the batch (traced budget)."""
    step = jax.vmap(lambda s, i: search_step(s, i, params, lam, patience, kick, candidates))
    return lax.fori_loop(0, moves, lambda _, s: step(s, batch), state)


def search_chunked(batch, params, lam, keys, moves: int, patience: int = 40, kick: int = 3,
                   tabu: int = 8, candidates: int = 0, progress=None,
                   chunk_seconds: float = CHUNK_SECONDS) -> SearchState:
    """`moves` search moves from `search_init_batch` as a host loop over
    `search_run_batch` calls of about `chunk_seconds` each (the number of moves per call
    adapts to the measured time per move), so that a long budget reports
    `progress(fraction of the moves done)` and can be interrupted between calls. Every
    move depends only on the carried state (its PRNG key included): the final state is
    that of one `search_run_batch` call of `moves` moves."""
    state = search_init_batch(batch, keys, tabu)

    def run(state, n):
        return search_run_batch(state, batch, params, jnp.int32(n), lam=lam, patience=patience,
                                kick=kick, candidates=candidates)

    state = jax.block_until_ready(run(state, 0))  # compiles (the budget is traced)
    chunk, done = 1, 0
    while done < moves:
        n = min(chunk, moves - done)
        t0 = time.perf_counter()
        state = jax.block_until_ready(run(state, n))
        done += n
        chunk = next_chunk(chunk, n, time.perf_counter() - t0, chunk_seconds)
        if progress is not None:
            progress(done / moves)
    if progress is not None and moves == 0:
        progress(1.0)
    return state


def search_timed(batch, params, lam, keys, time_limit_s: float, patience: int = 40,
                 kick: int = 3, tabu: int = 8, max_chunk: int = 500, candidates: int = 0,
                 progress=None, chunk_seconds: float = CHUNK_SECONDS):
    """Search under a wall-time budget (compile excluded); returns `(state, timings)`.
    Chunks of moves aim at half the remaining time, at most `max_chunk` moves and about
    `chunk_seconds` each; `progress(fraction of the time used)` after each."""
    t0 = time.perf_counter()
    state = search_init_batch(batch, keys, tabu)
    run = search_run_batch.lower(state, batch, params, jnp.int32(1), lam=lam,
                                 patience=patience, kick=kick,
                                 candidates=candidates).compile()
    compile_s = time.perf_counter() - t0
    start = time.perf_counter()
    state = jax.block_until_ready(search_init_batch(batch, keys, tabu))

    def advance(done: int, chunk: int) -> None:
        nonlocal state
        state = jax.block_until_ready(run(state, batch, params, jnp.int32(chunk)))

    done = run_timed(advance, time_limit_s, start, max_chunk, progress, chunk_seconds)
    return state, {"compile_s": compile_s, "search_s": time.perf_counter() - start,
                   "moves": done}


def swap_descent(instance: PFSPInstance) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Steepest-descent swaps from NEH: `(permutation, makespan, moves)`."""
    p, jm = instance.processing_times, instance.job_mask
    n = jm.sum()
    f_idx, g_idx = (jnp.asarray(a) for a in pair_table(p.shape[0]))
    perm = neh_permutation(p, jm)
    cmax = sequence_makespan(p, perm)

    def cond(c):
        _, cmax, spans, _ = c
        return jnp.min(spans) < cmax

    def body(c):
        perm, _, spans, moves = c
        a = jnp.argmin(spans)
        perm = swap_positions(perm, f_idx[a], g_idx[a])
        return perm, spans[a], swap_makespans(p, perm, n), moves + 1

    perm, cmax, _, moves = lax.while_loop(
        cond, body, (perm, cmax, swap_makespans(p, perm, n), jnp.int32(0)))
    return perm, cmax, moves


swap_descent_batch = jax.jit(jax.vmap(swap_descent))

__all__ = [
    "BIG",
    "SearchState",
    "search_init",
    "search_init_batch",
    "search_chunked",
    "search_run_batch",
    "search_step",
    "search_timed",
    "swap_descent",
    "swap_descent_batch",
]
