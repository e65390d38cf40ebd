"""Simple policies over action masks and a jitted whole-episode rollout.

`rollout` steps any env for at most `num_steps` decisions (the padded episode length):
inside `lax.scan` by default, or inside a `lax.while_loop` that stops once the episode is
done (`until_done=True`; under `vmap`, once every episode of the batch is done).
Finished states are no-ops, so mixed-size batches run in lockstep. The loop carries only
the env state, so observation features that the policy does not read are never computed.

`random_valid_action` draws one uniform per decision and takes the k-th valid action;
`random_valid_action_per_action` (one uniform per action and an argmax) draws from the
same distribution at a higher cost. `first_exceeding` finds the first index whose
inclusive prefix sum exceeds a threshold in O(n) work (a two-level blocked count, no
`cumsum`), which also serves inverse-CDF sampling of categorical distributions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxshop.env import Environment, InstanceT, ObsT, StateT

MASKED_LOGIT = -1e9  # finite stand-in for -inf in masked logits (no NaN from inf - inf)

Policy = Callable[[jax.Array, Any], jax.Array]  # (key, any env's state) -> () int32 action


def masked_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Replaces masked-out logits by a large finite negative value."""
    return jnp.where(mask, logits, MASKED_LOGIT)


def _block_shape(n: int) -> tuple[int, int]:
    """`(rows, cols)` with `rows * cols >= n` and both about `sqrt(n)`."""
    cols = max(1, math.isqrt(max(n - 1, 0)) + 1)
    return -(-n // cols), cols


def _prefix(x: jax.Array) -> jax.Array:
    """Inclusive prefix sums of a short 1-D array as one masked sum (O(len^2) work,
    meant for the `sqrt(n)`-long blocks of `first_exceeding`)."""
    n = x.shape[-1]
    lower = jnp.arange(n)[None, :] <= jnp.arange(n)[:, None]  # lower[i, j] = j <= i
    return jnp.where(lower, x[None, :], jnp.zeros((), x.dtype)).sum(-1)


def first_exceeding(weights: jax.Array, threshold: jax.Array) -> jax.Array:
    """Lowest index `i` with `sum(weights[: i + 1]) > threshold`, as int32.

    `weights` is a flat non-negative array (int32 counts or float probabilities). The
    search is two-level: the `sqrt(n)` block totals locate the block, then one block's
    own prefix sums locate the index, so the work is O(n) and nothing is sequential.
    When no prefix exceeds `threshold` (it is >= the total) the result is clamped to
    `n - 1`; callers that need a positive-weight index guard for that case.
    """
    n = weights.shape[-1]
    rows, cols = _block_shape(n)
    zero = jnp.zeros((), weights.dtype)
    w = jnp.concatenate([weights, jnp.full((rows * cols - n,), zero)]).reshape(rows, cols)
    totals = w.sum(-1)
    ends = _prefix(totals)  # inclusive prefix of the block totals
    r = jnp.minimum((ends <= threshold).sum(dtype=jnp.int32), rows - 1)
    inside = threshold - (ends[r] - totals[r])
    c = jnp.minimum((_prefix(w[r]) <= inside).sum(dtype=jnp.int32), cols - 1)
    return jnp.minimum(r * cols + c, n - 1).astype(jnp.int32)


def random_valid_action(key: jax.Array, mask: jax.Array) -> jax.Array:
    """Uniform over the valid actions of a flat mask, from ONE uniform draw; 0 when none
    is valid.

    Draws `u ~ U[0, 1)`, sets `k = floor(u * num_valid)` and returns the k-th valid index
    (`first_exceeding` on the mask's counts). Same distribution as
    `random_valid_action_per_action`, which draws one uniform per action. An all-False
    mask is the terminal convention of every env (a LAST timestep); action 0 is then a
    no-op step.
    """
    counts = mask.astype(jnp.int32)
    num_valid = counts.sum(dtype=jnp.int32)
    u = jax.random.uniform(key, (), jnp.float32)
    k = jnp.floor(u * num_valid.astype(jnp.float32)).astype(jnp.int32)
    k = jnp.clip(k, 0, jnp.maximum(num_valid - 1, 0))  # u * n may round up to n
    return jnp.where(num_valid > 0, first_exceeding(counts, k), 0).astype(jnp.int32)


def random_valid_action_per_action(key: jax.Array, mask: jax.Array) -> jax.Array:
    """Uniform over the valid actions of a flat mask; 0 when none is valid.

    One uniform per action and an argmax over the valid ones: the same distribution as
    `random_valid_action` (one uniform per decision), at the cost of `mask.size` draws.
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


def random_policy(env: Environment) -> Policy:
    """Uniform over valid actions, one uniform per decision (`random_valid_action`)."""
    return lambda key, state: random_valid_action(key, env.action_mask(state))


def random_per_action_policy(env: Environment) -> Policy:
    """Uniform over valid actions, one uniform per action (`random_valid_action_per_action`)."""
    return lambda key, state: random_valid_action_per_action(key, env.action_mask(state))


def first_valid_policy(env: Environment) -> Policy:
    return lambda key, state: first_valid_action(env.action_mask(state))


def last_valid_policy(env: Environment) -> Policy:
    return lambda key, state: last_valid_action(env.action_mask(state))


def rollout(env: Environment[InstanceT, StateT, ObsT], state: StateT, key: jax.Array,
            policy: Callable[[jax.Array, StateT], jax.Array], num_steps: int,
            until_done: bool = False) -> tuple[StateT, jax.Array, jax.Array]:
    """Runs up to `num_steps` decisions; returns `(final_state, episode_return, actions)`
    (`episode_return`: () float32).

    `actions` is `(num_steps,)` int32 of the actions the policy asked for; step `t` uses
    `jax.random.split(key, num_steps)[t]` either way. With `until_done=True` the loop is a
    `lax.while_loop` that stops once `env.is_done(state)` (under `vmap`: once every
    episode of the batch is done) instead of always running `num_steps`; the steps it
    skips are no-ops with zero reward, so the final state and return are those of the
    scan, and their actions are recorded as 0 (what every mask policy asks for on a
    finished state, whose mask is all False).
    """
    keys = jax.random.split(key, num_steps)
    ret0 = jnp.zeros((), jnp.float32)
    if not until_done:

        def body(carry, step_key):
            state, ret = carry
            action = policy(step_key, state)
            state, ts = env.step(state, action)
            return (state, ret + ts.reward), action

        (state, ret), actions = lax.scan(body, (state, ret0), keys)
        return state, ret, actions

    def cond(carry):
        state, _, _, t = carry
        return (t < num_steps) & ~env.is_done(state)

    def step(carry):
        state, ret, actions, t = carry
        action = jnp.asarray(policy(keys[t], state), jnp.int32)
        state, ts = env.step(state, action)
        return state, ret + ts.reward, actions.at[t].set(action), t + 1

    init = (state, ret0, jnp.zeros((num_steps,), jnp.int32), jnp.zeros((), jnp.int32))
    state, ret, actions, _ = lax.while_loop(cond, step, init)
    return state, ret, actions
