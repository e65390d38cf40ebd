"""Small array helpers shared by the envs and the agents (one home each)."""

from __future__ import annotations

from typing import TypeVar

import jax
import jax.numpy as jnp


def safe_div(a: jax.Array, b: jax.Array) -> jax.Array:
    """`a / b` in float32, 0 where `b == 0` (features of empty or degenerate states)."""
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    return jnp.where(b != 0, a / jnp.where(b != 0, b, 1.0), 0.0)


def clamped_div(a: jax.Array, b: jax.Array, floor: float = 1e-6) -> jax.Array:
    """`a / max(b, floor)`: a ratio of non-negative counts or sums that stays finite."""
    return a / jnp.maximum(b, floor)


TreeT = TypeVar("TreeT")  # any pytree


def tree_select(pred: jax.Array, on_true: TreeT, on_false: TreeT) -> TreeT:
    """Per-leaf `where(pred, on_true, on_false)` of two pytrees of one structure.

    `pred` is a scalar or a leading batch shape `(B, ...)`: it is broadcast over each
    leaf's trailing axes (so a per-env flag selects whole rows of batched leaves).
    """

    def pick(x: jax.Array, y: jax.Array) -> jax.Array:
        p = jnp.asarray(pred)
        return jnp.where(p.reshape(p.shape + (1,) * (jnp.ndim(x) - p.ndim)), x, y)

    return jax.tree_util.tree_map(pick, on_true, on_false)
