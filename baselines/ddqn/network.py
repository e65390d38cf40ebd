"""The Q-network (a Flax MLP), masked greedy selection and the Double-DQN target.

Per-transition functions follow rlax's conventions (`_tm1` for the step the action was
taken in, `_t` for the next one, no batch axis, chex shape asserts); callers `jax.vmap`
them over a minibatch.

Masked values never use -inf arithmetic: a masked Q-value is replaced by the finite
`MASKED_Q` (the float32 minimum) before the argmax, and with no valid action at all
(a terminal observation) the bootstrap value is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

MASKED_Q = float(np.finfo(np.float32).min)  # finite stand-in for masked-out Q-values


class QNetwork(nn.Module):
    """`features (F,) -> Q-values (num_actions,)`: ReLU MLP with `hidden` layer widths."""

    hidden: Sequence[int]
    num_actions: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x, jnp.float32)
        for i, width in enumerate(self.hidden):
            x = nn.relu(nn.Dense(int(width), name=f"hidden_{i}")(x))
        return nn.Dense(self.num_actions, name="out")(x)


def init_params(key: jax.Array, num_features: int, num_actions: int,
                hidden: Sequence[int]) -> dict:
    """Fresh parameters of a `QNetwork` (LeCun-normal kernels, zero biases)."""
    net = QNetwork(tuple(hidden), num_actions)
    return net.init(key, jnp.zeros((num_features,), jnp.float32))


def architecture(params: dict) -> tuple[tuple[int, ...], int]:
    """`(hidden, num_actions)` read from the parameter shapes (static under jit)."""
    layers = params["params"]
    hidden = tuple(int(layers[f"hidden_{i}"]["kernel"].shape[1])
                   for i in range(len(layers) - 1))
    return hidden, int(layers["out"]["kernel"].shape[1])


def q_values(params: dict, features: jax.Array) -> jax.Array:
    """Q-values of one feature vector `(F,)` (or a batch `(..., F)`: the MLP broadcasts)."""
    hidden, num_actions = architecture(params)
    return QNetwork(hidden, num_actions).apply(params, features)


def masked_argmax(q: jax.Array, mask: jax.Array) -> jax.Array:
    """() int32: the valid action of highest Q (lowest index on ties; 0 if none is valid)."""
    chex.assert_rank([q, mask], 1)
    chex.assert_equal_shape([q, mask])
    masked = jnp.where(mask, q, MASKED_Q)
    best = mask & (masked >= masked.max())  # a valid Q equal to MASKED_Q still wins
    # NaN Q-values match nothing: fall back to the lowest valid action, never a masked one.
    return jnp.where(best.any(), jnp.argmax(best), jnp.argmax(mask)).astype(jnp.int32)


def masked_max(q: jax.Array, mask: jax.Array) -> jax.Array:
    """() float32: the largest valid Q-value, 0 when no action is valid."""
    return jnp.where(mask.any(), q[masked_argmax(q, mask)], 0.0)


def act(params: dict, features: jax.Array, mask: jax.Array) -> jax.Array:
    """() int32 greedy action of one observation: the masked argmax of its Q-values.

    Works for any env of the DDQN contract (flat float32 `features`, flat bool `mask`);
    vmap it for a batch.
    """
    return masked_argmax(q_values(params, features), mask)


def double_q_bootstrap(q_t_value: jax.Array, q_t_selector: jax.Array,
                       mask_t: jax.Array) -> jax.Array:
    """() `Q_value(s_t, argmax_a Q_selector(s_t, a))` over valid actions; 0 if none is valid."""
    chex.assert_rank([q_t_value, q_t_selector, mask_t], 1)
    chex.assert_equal_shape([q_t_value, q_t_selector, mask_t])
    a_t = masked_argmax(q_t_selector, mask_t)
    return jnp.where(mask_t.any(), q_t_value[a_t], 0.0)


def double_q_learning(q_tm1: jax.Array, a_tm1: jax.Array, r_t: jax.Array,
                      discount_t: jax.Array, q_t_value: jax.Array, q_t_selector: jax.Array,
                      mask_t: jax.Array, stop_target_gradients: bool = True) -> jax.Array:
    """() TD error `target - q_tm1[a_tm1]` of one transition (Double DQN, van Hasselt 2016).

    `target = r_t + discount_t * q_t_value[argmax_{a valid} q_t_selector[a]]`, where
    `q_t_value` comes from the target network and `q_t_selector` from the online one, and
    `discount_t = gamma * (1 - done)` (0 at termination; a truncated step keeps `gamma`).
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t], [1, 0, 0, 0])
    chex.assert_type([a_tm1], [jnp.int32])
    target = r_t + discount_t * double_q_bootstrap(q_t_value, q_t_selector, mask_t)
    if stop_target_gradients:
        target = jax.lax.stop_gradient(target)
    return target - q_tm1[a_tm1]


def td_loss(td_error: jax.Array, kind: str = "huber", delta: float = 1.0) -> jax.Array:
    """Per-transition loss of a TD error: Huber (quadratic within `delta`) or `0.5 td^2`."""
    if kind == "huber":
        abs_td = jnp.abs(td_error)
        quad = jnp.minimum(abs_td, delta)
        return 0.5 * quad**2 + delta * (abs_td - quad)
    if kind == "squared":
        return 0.5 * td_error**2
    raise ValueError(f"loss must be 'huber' or 'squared', got {kind!r}")


def num_params(params) -> int:
    from jaxshop_baselines.checkpoints import count_params

    return count_params(params)


__all__ = [
    "MASKED_Q",
    "QNetwork",
    "act",
    "architecture",
    "double_q_bootstrap",
    "double_q_learning",
    "init_params",
    "masked_argmax",
    "masked_max",
    "num_params",
    "q_values",
    "td_loss",
]
