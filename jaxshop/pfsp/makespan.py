"""Flow-shop completion-time kernels (jit/vmap friendly).

Appending job j to a partial sequence whose last completion per machine is `c` gives
`c'[k] = max(c'[k-1], c[k]) + p[j, k]`. Unrolled, this is a max-plus prefix scan:
`c'[k] = P[k] + max_{i<=k}(c[i] - P[i-1])` with `P` the prefix sums of `p[j]`, i.e. one
`cumsum` and one `cummax` instead of a loop over machines.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def append_job(completion: jax.Array, times: jax.Array) -> jax.Array:
    """Machine completion times after appending a job with `times` (both `(..., m)`)."""
    prefix = jnp.cumsum(times, axis=-1)
    return prefix + lax.cummax(completion - (prefix - times), axis=completion.ndim - 1)


def completion_times(processing_times: jax.Array, permutation: jax.Array) -> jax.Array:
    """`(n, m)` completion time of each job (in sequence order) on each machine.

    `processing_times` is `(n_jobs, m)`; `permutation` is `(n,)` job ids, where entries
    `< 0` are skipped (padding). Padded machines must have zero times.
    """
    processing_times = jnp.asarray(processing_times)
    m = processing_times.shape[-1]

    def body(c, job):
        new = append_job(c, processing_times[jnp.maximum(job, 0)])
        new = jnp.where(job >= 0, new, c)
        return new, new

    _, rows = lax.scan(body, jnp.zeros(m, processing_times.dtype), permutation)
    return rows


def makespan(processing_times: jax.Array, permutation: jax.Array) -> jax.Array:
    """Makespan of a permutation; vmap for batches of permutations and/or instances."""
    processing_times = jnp.asarray(processing_times)
    m = processing_times.shape[-1]

    def body(c, job):
        new = append_job(c, processing_times[jnp.maximum(job, 0)])
        return jnp.where(job >= 0, new, c), None

    c, _ = lax.scan(body, jnp.zeros(m, processing_times.dtype), permutation)
    return c[-1]


batched_makespan = jax.jit(
    jax.vmap(makespan, in_axes=(0, 0)),
)
"""`(B, n, m)` times and `(B, n)` permutations -> `(B,)` makespans."""
