"""NEH for the permutation flow shop, with Taillard's (1990) acceleration, in JAX.

NEH (Nawaz, Enscore & Ham 1983) sorts jobs by decreasing total processing time and inserts
them one by one at the position of the partial sequence that gives the lowest makespan.
Taillard's acceleration evaluates all `L + 1` insertion positions of a job into a
length-`L` sequence at once from

* heads `e[i, k]`: completion time of the first `i` jobs on machine `k`,
* tails `q[i, k]`: time from the start of position `i` on machine `k` to the end,
* `f[i] = append(e[i], p[job])`: the inserted job's completion times at position `i`,

so that `makespan(insert at i) = max_k f[i, k] + q[i, k]`: `O(n m)` per insertion and
`O(n^2 m)` for NEH (heads and tails by `jaxshop.pfsp.makespan.heads_and_tails`, `m`
sequential steps of vector work per insertion).

Sequences are fixed-length `(max_jobs,)` int32 arrays: the first `length` entries are job
ids, the rest `-1`. Padded jobs (`job_mask` False) are never scheduled; padded machines
have zero times and change nothing. Everything jits and vmaps over padded instances. This
is the NEH of the swap env's `start="neh"`, of kernel-Q and of the `neh` / `ig` methods.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxshop.pfsp.makespan import append_job_scan, heads_and_tails

BIG = int(np.iinfo(np.int32).max)  # makespan of an impossible insertion

__all__ = [
    "best_insertion",
    "insert_at",
    "neh",
    "neh_batch",
    "neh_order",
    "neh_permutation",
    "remove_at",
]


def best_insertion(
    sequence: jax.Array, length: jax.Array, job: jax.Array, processing_times: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """First best position (0..length) to insert `job` into `sequence[:length]`, and its makespan.

    `sequence` is `(max_jobs,)` with at least one free slot (`length < max_jobs`);
    `processing_times` is `(max_jobs, max_machines)`. Ties go to the earliest position.
    """
    p = processing_times
    n_slots = sequence.shape[0]
    idx = jnp.arange(n_slots)
    filled = idx < length
    rows = jnp.where(filled[:, None], p[jnp.where(filled, sequence, 0)], 0)
    e, q = heads_and_tails(rows)
    heads = jnp.concatenate([jnp.zeros_like(e[:1]), e[:-1]])  # after the first i jobs
    f = append_job_scan(heads, p[job])
    cmax = jnp.max(f + q, axis=-1)
    cmax = jnp.where(idx <= length, cmax, BIG)
    pos = jnp.argmin(cmax).astype(jnp.int32)
    return pos, cmax[pos]


def insert_at(sequence: jax.Array, position: jax.Array, job: jax.Array) -> jax.Array:
    """`sequence` with `job` inserted before `position` (the last slot falls off)."""
    idx = jnp.arange(sequence.shape[0])
    shifted = jnp.roll(sequence, 1)
    out = jnp.where(idx < position, sequence, jnp.where(idx == position, job, shifted))
    return out.astype(sequence.dtype)


def remove_at(sequence: jax.Array, position: jax.Array) -> jax.Array:
    """`sequence` without the entry at `position`, with `-1` appended at the end."""
    idx = jnp.arange(sequence.shape[0])
    shifted = jnp.concatenate([sequence[1:], jnp.full((1,), -1, sequence.dtype)])
    return jnp.where(idx < position, sequence, shifted)


def neh_order(processing_times: jax.Array, job_mask: jax.Array) -> jax.Array:
    """Jobs by decreasing total time (stable: lower index first on ties), padding last."""
    total = jnp.sum(processing_times, axis=-1, dtype=jnp.int32)
    key = jnp.where(job_mask, -total, 1)
    return jnp.argsort(key, stable=True).astype(jnp.int32)


def neh(
    processing_times: jax.Array, job_mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """NEH permutation `(max_jobs,)` int32 (`-1` padding at the end) and its makespan.

    `processing_times` is `(max_jobs, max_machines)` int32 with zero padding; `job_mask`
    (default: all jobs real) marks real jobs. Jit/vmap-able; see `neh_batch`.
    """
    p = jnp.asarray(processing_times, jnp.int32)
    n_slots = p.shape[0]
    if job_mask is None:
        job_mask = jnp.ones(n_slots, bool)
    order = neh_order(p, job_mask)
    n = jnp.sum(job_mask, dtype=jnp.int32)

    def insert_next(i, carry):
        seq, _ = carry
        job = order[i]
        pos, cmax = best_insertion(seq, i, job, p)
        return insert_at(seq, pos, job), cmax

    init = (jnp.full(n_slots, -1, jnp.int32), jnp.int32(0))
    return lax.fori_loop(0, n, insert_next, init)


def neh_permutation(processing_times: jax.Array, job_mask: jax.Array) -> jax.Array:
    """The NEH permutation alone, `(max_jobs,)` int32 (the swap env's `start="neh"`)."""
    return neh(processing_times, job_mask)[0]


neh_batch = jax.jit(jax.vmap(neh))
"""`(B, J, M)` times and `(B, J)` job masks -> `(B, J)` permutations and `(B,)` makespans."""
