"""Flow-shop max-plus kernels (jit/vmap friendly): the one home of every completion-time,
head/tail and makespan computation of the flow-shop envs, NEH and the swap neighbourhood.

Appending job j to a partial sequence whose last completion per machine is `c` gives
`c'[k] = max(c'[k-1], c[k]) + p[j, k]`. Unrolled, this is a max-plus prefix scan:
`c'[k] = P[k] + max_{i<=k}(c[i] - P[i-1])` with `P` the prefix sums of `p[j]`, i.e. one
`cumsum` and one `cummax` instead of a loop over machines.

On CPU `jnp.cumsum` / `lax.cummax` lower to a full-width `reduce_window`: one op, quick to
compile, but `O(n^2)` per row. `append_job` keeps them (the env step, `makespan`);
`append_job_scan`, `prefix_sum` and `prefix_max` switch to an associative scan beyond
`WINDOW_MAX` entries (`O(n log n)` in `log n` steps, more ops to compile), for the hot
loops of NEH, IG and the swap kernels. Every variant gives identical integers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

WINDOW_MAX = 8  # longest axis whose prefix scans use `reduce_window`
NEG = -(2**30)  # "minus infinity" of max-plus matrices (no int32 wrap)


def prefix_sum(x: jax.Array, axis: int = 0, reverse: bool = False) -> jax.Array:
    """Inclusive prefix sum along `axis` (`reduce_window` up to `WINDOW_MAX` entries)."""
    axis = axis % x.ndim
    if x.shape[axis] <= WINDOW_MAX:
        if reverse:
            return jnp.flip(jnp.cumsum(jnp.flip(x, axis), axis), axis)
        return jnp.cumsum(x, axis)
    return lax.associative_scan(jnp.add, x, reverse=reverse, axis=axis)


def prefix_max(x: jax.Array, axis: int = 0, reverse: bool = False) -> jax.Array:
    """Inclusive prefix max along `axis` (see `prefix_sum`)."""
    axis = axis % x.ndim
    if x.shape[axis] <= WINDOW_MAX:
        return lax.cummax(x, axis, reverse=reverse)
    return lax.associative_scan(jnp.maximum, x, reverse=reverse, axis=axis)


def append_job(completion: jax.Array, times: jax.Array) -> jax.Array:
    """Machine completion times after appending a job with `times` (both `(..., m)`)."""
    prefix = jnp.cumsum(times, axis=-1)
    return prefix + lax.cummax(completion - (prefix - times), axis=completion.ndim - 1)


def append_job_scan(completion: jax.Array, times: jax.Array) -> jax.Array:
    """`append_job` (broadcasting `(..., m)` operands) with `prefix_sum` / `prefix_max`."""
    prefix = prefix_sum(times, axis=-1)
    return prefix + prefix_max(completion - (prefix - times), axis=-1)


def prepend_job(tail: jax.Array, times: jax.Array) -> jax.Array:
    """Tails from a job put in front of a block whose tails are `tail` (both `(..., m)`)."""
    return jnp.flip(append_job_scan(jnp.flip(tail, -1), jnp.flip(times, -1)), -1)


def append_job_sequential(completion: jax.Array, times: jax.Array) -> jax.Array:
    """`append_job` as a `lax.scan` over the machine axis (`m` steps on `(...)` slices):
    cheaper than the prefix-scan form for large batched operands (the swap kernels)."""
    shape = jnp.broadcast_shapes(times.shape, completion.shape)
    c = jnp.moveaxis(jnp.broadcast_to(completion, shape), -1, 0)
    t = jnp.moveaxis(jnp.broadcast_to(times, shape), -1, 0)

    def body(prev, ck_tk):
        new = jnp.maximum(prev, ck_tk[0]) + ck_tk[1]
        return new, new

    _, out = lax.scan(body, jnp.full(c.shape[1:], NEG, c.dtype), (c, t))
    return jnp.moveaxis(out, 0, -1)


def prepend_job_sequential(tail: jax.Array, times: jax.Array) -> jax.Array:
    """`prepend_job` by `append_job_sequential`."""
    return jnp.flip(append_job_sequential(jnp.flip(tail, -1), jnp.flip(times, -1)), -1)


def sequence_rows(processing_times: jax.Array, permutation: jax.Array) -> jax.Array:
    """`(N, m)` times in sequence order, zero rows for `-1` entries."""
    rows = processing_times[jnp.maximum(permutation, 0)]
    return jnp.where((permutation >= 0)[:, None], rows, 0)


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
    pre = prefix_sum(rows, axis=0)
    suf = prefix_sum(rows, axis=0, reverse=True)

    def column(carry, cols):
        e_prev, q_next = carry
        e_off, e_pre, q_off, q_suf = cols
        y = prefix_max(jnp.stack([e_prev + e_off, (q_next + q_off)[::-1]]), axis=1)
        e, q = e_pre + y[0], q_suf + y[1][::-1]
        return (e, q), (e, q)

    zeros = jnp.zeros(rows.shape[0], rows.dtype)
    cols = ((rows - pre).T, pre.T, (rows - suf).T[::-1], suf.T[::-1])
    _, (e, q_rev) = lax.scan(column, (zeros, zeros), cols)
    return e.T, q_rev[::-1].T


def _scan_jobs(processing_times: jax.Array, permutation: jax.Array, keep_rows: bool):
    """Completion times job by job (`-1` entries skipped); last row and, if asked, all."""
    processing_times = jnp.asarray(processing_times)
    m = processing_times.shape[-1]

    def body(c, job):
        new = append_job(c, processing_times[jnp.maximum(job, 0)])
        new = jnp.where(job >= 0, new, c)
        return new, (new if keep_rows else None)

    return lax.scan(body, jnp.zeros(m, processing_times.dtype), permutation)


def completion_times(processing_times: jax.Array, permutation: jax.Array) -> jax.Array:
    """`(n, m)` completion time of each job (in sequence order) on each machine.

    `processing_times` is `(n_jobs, m)`; `permutation` is `(n,)` job ids, where entries
    `< 0` are skipped (padding). Padded machines must have zero times.
    """
    return _scan_jobs(processing_times, permutation, True)[1]


def machine_completions(processing_times: jax.Array, permutation: jax.Array) -> jax.Array:
    """`(m,)` completion time of the last job on every machine (`-1` entries skipped)."""
    return _scan_jobs(processing_times, permutation, False)[0]


def makespan(processing_times: jax.Array, permutation: jax.Array) -> jax.Array:
    """Makespan of a permutation; vmap for batches of permutations and/or instances."""
    return machine_completions(processing_times, permutation)[-1]


batched_makespan = jax.jit(
    jax.vmap(makespan, in_axes=(0, 0)),
)
"""`(B, n, m)` times and `(B, n)` permutations -> `(B,)` makespans."""
