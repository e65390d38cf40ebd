"""NEH for the permutation flow shop, with Taillard's (1990) acceleration, in JAX.

NEH (Nawaz, Enscore & Ham 1983) sorts jobs by decreasing total processing time and inserts
them one by one at the position of the partial sequence that gives the lowest makespan.
Taillard's acceleration evaluates all `L + 1` insertion positions of a job into a
length-`L` sequence at once from

* heads `e[i, k]`: completion time of the first `i` jobs on machine `k`,
* tails `q[i, k]`: time from the start of position `i` on machine `k` to the end,
* `f[i] = append(e[i], p[job])`: the inserted job's completion times at position `i`,

so that `makespan(insert at i) = max_k f[i, k] + q[i, k]`: `O(n m)` per insertion and
`O(n^2 m)` for NEH. Heads and tails are computed column by column: prefix sums along the
positions once for all machines, then a scan over machines in which each column is one
`cummax` over positions (the max-plus trick of `jaxshop.pfsp.makespan`), so an insertion
costs `m` sequential steps of vector work instead of `n`.

Sequences are fixed-length `(max_jobs,)` int32 arrays: the first `length` entries are job
ids, the rest `-1`. Padded jobs (`job_mask` False) are never scheduled; padded machines
have zero times and change nothing. Everything jits and vmaps over padded instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxshop_baselines.methods import Method, Solution, register_method

from jaxshop.instances.types import PFSPInstance, stack
from jaxshop.schedule import permutation_schedule

_BIG = int(np.iinfo(np.int32).max)
_WINDOW_MAX = 8  # longest axis whose prefix scans use `reduce_window` (see `_cumsum`)

__all__ = [
    "best_insertion",
    "heads_and_tails",
    "insert_at",
    "neh",
    "neh_batch",
    "neh_order",
    "permutation_solutions",
    "remove_at",
]


def _cumsum(x: jax.Array, axis: int = 0, reverse: bool = False) -> jax.Array:
    """Inclusive prefix sum along `axis`.

    On CPU `jnp.cumsum` / `lax.cummax` lower to a full-width `reduce_window`: one op, quick
    to compile, but `O(n^2)` and slow per element. Beyond `_WINDOW_MAX` entries an
    associative scan (`O(n log n)` in `log n` steps, more ops to compile) is used instead.
    """
    if x.shape[axis] <= _WINDOW_MAX:
        if reverse:
            return jnp.flip(jnp.cumsum(jnp.flip(x, axis), axis), axis)
        return jnp.cumsum(x, axis)
    return lax.associative_scan(jnp.add, x, reverse=reverse, axis=axis)


def _cummax(x: jax.Array, axis: int = 0, reverse: bool = False) -> jax.Array:
    """Inclusive prefix max along `axis` (see `_cumsum`)."""
    if x.shape[axis] <= _WINDOW_MAX:
        return lax.cummax(x, axis, reverse=reverse)
    return lax.associative_scan(jnp.maximum, x, reverse=reverse, axis=axis)


def heads_and_tails(rows: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Completion times `e` and tails `q` (both `(L, m)`) of a sequence's `(L, m)` time rows.

    `e[i, k]` is when position `i` finishes on machine `k`; `q[i, k]` is the length of the
    longest path from position `i` on machine `k` to the end (including `rows[i, k]`).
    Zero rows (empty positions) are neutral for both.

    Column `k` follows from column `k - 1` by the max-plus prefix trick along positions,
    `e[:, k] = S[:, k] + cummax(e[:, k - 1] - S[:, k] + rows[:, k])` with `S` the prefix
    sums (and mirrored for `q`), so the prefix sums of all columns are taken once and the
    scan over machines does one stacked `cummax` per column for `e` and `q` together.
    """
    pre = _cumsum(rows, axis=0)
    suf = _cumsum(rows, axis=0, reverse=True)

    def column(carry, cols):
        e_prev, q_next = carry
        e_off, e_pre, q_off, q_suf = cols
        y = _cummax(jnp.stack([e_prev + e_off, (q_next + q_off)[::-1]]), axis=1)
        e, q = e_pre + y[0], q_suf + y[1][::-1]
        return (e, q), (e, q)

    zeros = jnp.zeros(rows.shape[0], rows.dtype)
    cols = ((rows - pre).T, pre.T, (rows - suf).T[::-1], suf.T[::-1])
    _, (e, q_rev) = lax.scan(column, (zeros, zeros), cols)
    return e.T, q_rev[::-1].T


def _append_to_all(completion: jax.Array, times: jax.Array) -> jax.Array:
    """`append_job` of one job (`times`, `(m,)`) after each row of `completion` (`(L, m)`).

    Same max-plus identity as `jaxshop.pfsp.makespan.append_job`, with the `cummax` over
    machines by `_cummax`.
    """
    prefix = _cumsum(times)
    return prefix + _cummax(completion - (prefix - times), axis=1)


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
    f = _append_to_all(heads, p[job])
    cmax = jnp.max(f + q, axis=-1)
    cmax = jnp.where(idx <= length, cmax, _BIG)
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


neh_batch = jax.jit(jax.vmap(neh))
"""`(B, J, M)` times and `(B, J)` job masks -> `(B, J)` permutations and `(B,)` makespans."""


def permutation_solutions(
    instances: Sequence[PFSPInstance], permutations: jax.Array
) -> list[Solution]:
    """`Solution`s (makespan, exact-size schedule, permutation) from `(B, max_jobs)` perms."""
    perms = np.asarray(permutations)
    out = []
    for inst, row in zip(instances, perms, strict=True):
        perm = [int(j) for j in row if j >= 0]
        schedule = permutation_schedule(inst, perm)
        out.append(Solution(schedule.makespan, schedule, perm))
    return out


@register_method("neh", "NEH with Taillard's acceleration (PFSP)", options=(), problems=("pfsp",))
def _neh_method(arg: str | None = None, **_: Any) -> Method:
    """The `neh` method of the CLI / method registry (no options)."""

    def solve(instances: list[PFSPInstance], key: jax.Array) -> list[Solution]:
        batch = stack(instances)
        perms, _ = neh_batch(batch.processing_times, batch.job_mask)
        return permutation_solutions(instances, perms)

    def makespans(instances: PFSPInstance, keys: jax.Array) -> jax.Array:
        return jax.vmap(neh)(instances.processing_times, instances.job_mask)[1]

    return Method("neh", ("pfsp",), solve, batch_makespans=makespans)
