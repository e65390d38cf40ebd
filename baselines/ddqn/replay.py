"""A pure-JAX ring replay buffer (FIFO eviction) with uniform and recency-biased sampling.

The buffer is a pytree of fixed-capacity arrays that lives in the training carry: `add`
writes a batch of transitions at the write position (wrapping around, so the oldest
transitions are overwritten first) and `sample` draws minibatch indices. Everything is
jit/vmap friendly; nothing syncs with the host.

Sampling (`sample(buffer, key, batch_size, power, decay)`): number the stored
transitions by *age*, `a = 0` for the newest up to `a = n - 1` for the oldest (`n` =
`buffer.size`). A transition of age `a` is drawn (with replacement) with probability

    P(a) = w(a) / sum_{b=0}^{n-1} w(b),    w(a) = (1 - a / n) ** power * exp(-decay * a / n)

With `power = decay = 0` this is uniform; increasing either parameter makes recent
transitions more likely (both are monotone: the weight ratio of a newer to an older
transition grows with each). `power` bends the whole range (the oldest keep
`(1/n)^power`), `decay` is an exponential recency with scale `n / decay` transitions.
Draws use the inverse CDF over the `capacity` slots (one cumulative sum, then a binary
search per draw), so the cost is `O(capacity + batch * log capacity)`.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    data: Any  # pytree of (capacity, ...) arrays, one row per transition
    position: jax.Array  # () int32: next slot written (the oldest slot once full)
    size: jax.Array  # () int32: transitions stored, <= capacity

    @property
    def capacity(self) -> int:
        return int(jax.tree_util.tree_leaves(self.data)[0].shape[0])


def init(example: Any, capacity: int) -> ReplayBuffer:
    """An empty buffer for transitions shaped like the pytree `example` (one transition)."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    data = jax.tree_util.tree_map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example
    )
    zero = jnp.zeros((), jnp.int32)
    return ReplayBuffer(data, zero, zero)


def add(buffer: ReplayBuffer, batch: Any) -> ReplayBuffer:
    """Writes a batch of transitions (leading axis `k <= capacity`) in order, FIFO."""
    cap = buffer.capacity
    k = int(jax.tree_util.tree_leaves(batch)[0].shape[0])
    chex.assert_tree_shape_prefix(batch, (k,))
    if k > cap:
        raise ValueError(f"cannot add {k} transitions to a buffer of capacity {cap}")
    slots = (buffer.position + jnp.arange(k, dtype=jnp.int32)) % cap
    data = jax.tree_util.tree_map(lambda d, x: d.at[slots].set(x.astype(d.dtype)),
                                  buffer.data, batch)
    return ReplayBuffer(
        data, (buffer.position + k) % cap, jnp.minimum(buffer.size + k, cap).astype(jnp.int32)
    )


def ages(buffer: ReplayBuffer) -> jax.Array:
    """(capacity,) int32 age of each slot: 0 = newest; `>= size` for an empty slot."""
    slots = jnp.arange(buffer.capacity, dtype=jnp.int32)
    return (buffer.position - 1 - slots) % buffer.capacity


def sampling_weights(buffer: ReplayBuffer, power: float | jax.Array = 0.0,
                     decay: float | jax.Array = 0.0) -> jax.Array:
    """(capacity,) float32 unnormalized `w(age)` per slot (see module doc); 0 when empty."""
    n = jnp.maximum(buffer.size, 1).astype(jnp.float32)
    age = ages(buffer)
    u = age.astype(jnp.float32) / n
    w = jnp.exp(power * jnp.log1p(-jnp.minimum(u, 1.0 - 1e-7)) - decay * u)
    return jnp.where(age < buffer.size, w, 0.0)


def sample_indices(buffer: ReplayBuffer, key: jax.Array, batch_size: int,
                   power: float | jax.Array = 0.0, decay: float | jax.Array = 0.0,
                   uniform: bool = False) -> jax.Array:
    """(batch_size,) int32 slots drawn with replacement: uniform over the stored
    transitions with `uniform=True` (cheapest), else by the recency weights."""
    if uniform:
        n = jnp.maximum(buffer.size, 1)
        offset = jax.random.randint(key, (batch_size,), 0, n, dtype=jnp.int32)  # ages
        return (buffer.position - 1 - offset) % buffer.capacity
    cdf = jnp.cumsum(sampling_weights(buffer, power, decay))
    u = jax.random.uniform(key, (batch_size,), jnp.float32) * cdf[-1]
    idx = jnp.searchsorted(cdf, u, side="right").astype(jnp.int32)
    idx = jnp.minimum(idx, buffer.capacity - 1)
    # Rounding can only land on a zero-weight slot next to a stored one: snap to the newest.
    stored = ages(buffer)[idx] < buffer.size
    return jnp.where(stored, idx, (buffer.position - 1) % buffer.capacity)


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int,
           power: float | jax.Array = 0.0, decay: float | jax.Array = 0.0,
           uniform: bool = False) -> Any:
    """A minibatch (pytree of `(batch_size, ...)` arrays) drawn by `sample_indices`."""
    idx = sample_indices(buffer, key, batch_size, power, decay, uniform)
    return jax.tree_util.tree_map(lambda d: d[idx], buffer.data)


__all__ = ["ReplayBuffer", "add", "ages", "init", "sample", "sample_indices",
           "sampling_weights"]
