"""Simple policies over action masks and a jitted whole-episode rollout.

`rollout` steps any env inside `lax.scan` for a static number of steps (the padded
episode length); finished states are no-ops, so mixed-size batches run in lockstep.
The scan carries only the env state, so observation features that the policy does not
read are never computed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

MASKED_LOGIT = -1e9  # finite stand-in for -inf in masked logits (no NaN from inf - inf)

Policy = Callable[[jax.Array, Any], jax.Array]  # (key, state) -> action


def masked_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Replaces masked-out logits by a large finite negative value."""
    return jnp.where(mask, logits, MASKED_LOGIT)


def random_valid_action(key: jax.Array, mask: jax.Array) -> jax.Array:
    """Uniform over the valid actions of a flat mask; 0 when none is valid.

    An all-False mask is the terminal convention of every env (a LAST timestep); action 0
    is then a no-op step.
    """
    scores = jnp.where(mask, jax.random.uniform(key, mask.shape) + 1.0, 0.0)
    return jnp.argmax(scores).astype(jnp.int32)


def first_valid_action(mask: jax.Array) -> jax.Array:
    """Lowest valid index; 0 when none is valid (the env's own invalid-action fallback)."""
    return jnp.argmax(mask).astype(jnp.int32)


def last_valid_action(mask: jax.Array) -> jax.Array:
    """Highest valid index; 0 when none is valid."""
    last = (mask.shape[-1] - 1 - jnp.argmax(mask[::-1])).astype(jnp.int32)
    return jnp.where(mask.any(), last, 0).astype(jnp.int32)


def random_policy(env) -> Policy:
    return lambda key, state: random_valid_action(key, env.action_mask(state))


def first_valid_policy(env) -> Policy:
    return lambda key, state: first_valid_action(env.action_mask(state))


def last_valid_policy(env) -> Policy:
    return lambda key, state: last_valid_action(env.action_mask(state))


def rollout(env, state: Any, key: jax.Array, policy: Policy, num_steps: int):
    """Runs `num_steps` decisions; returns `(final_state, episode_return, actions)`.

    `actions` is `(num_steps,)` int32 of the actions the policy asked for.
    """

    def body(carry, step_key):
        state, ret = carry
        action = policy(step_key, state)
        state, ts = env.step(state, action)
        return (state, ret + ts.reward), action

    (state, ret), actions = lax.scan(
        body, (state, jnp.zeros((), jnp.float32)), jax.random.split(key, num_steps)
    )
    return state, ret, actions
