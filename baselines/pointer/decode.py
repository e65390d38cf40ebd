"""Whole-episode decoding with the pointer policy (one instance; `vmap` for batches).

`episode` runs `env.max_steps` decisions in `lax.scan`. Each step reads the current
state's pair features by group (`env.feature_parts`: the observation's `pair_features`
without their repetition, so dynamic features follow the partial schedule and the first
layer runs per group) and action mask, takes one `Actor` step, picks a pair (greedy or
sampled) and advances the env with `env.transition` (no observation is built). Steps after the
schedule is complete are no-ops and add nothing to the log-likelihood or entropy.
`search_episode` is the lean variant of best-of-N search: greedy or sampled per episode
(a traced flag, so both share one compiled program), an optional temperature, one
uniform per decision, and no log-likelihood or entropy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.pointer.model import actor_step, choose, chosen_row, sample_choice


class Episode(NamedTuple):
    """Outcome of one decoded episode."""

    state: Any  # final env state
    log_prob: jax.Array  # () float32: log p(pi | s) over the live steps (0 when greedy)
    entropy: jax.Array  # () float32: policy entropy over the live steps (0 when greedy)
    invalid: jax.Array  # () int32: live steps whose chosen pair was masked (always 0)


def _inputs(env, state) -> tuple[Any, jax.Array]:
    """What the actor reads at `state`: `(FeatureParts, (P,) action mask)`."""
    return env.feature_parts(state), env.action_mask(state)


def _advance(config, env, params, state, feats, action, alive, h, h_new, prev, first) -> tuple:
    """Steps the env and the decoder state (frozen once the episode is done)."""
    row = chosen_row(config, params, feats, action)
    state, _ = env.transition(state, action)
    return (state, jnp.where(alive, h_new, h), jnp.where(alive, row, prev), first & ~alive)


def episode(config: PointerConfig, env, params: dict, state: Any, key: jax.Array,
            greedy: bool, num_steps: int, step: Callable | None = None) -> Episode:
    """Decodes one schedule from `state` (as returned by `env.reset`); `step` is
    `actor_step` with `config` bound (default), or a transform of it."""
    dim = config.embed_dim
    step = step or functools.partial(actor_step, config)

    def body(carry, step_key):
        state, h, prev, first, logp, ent, invalid = carry
        alive = ~env.is_done(state)
        feats, mask = _inputs(env, state)
        h_new, logits, _ = step(params, h, prev, first, feats, mask)
        action = choose(step_key, logits, mask, greedy)
        live = alive.astype(jnp.float32)
        invalid = invalid + (alive & ~mask[action]).astype(jnp.int32)
        if not greedy:
            log_p = jax.nn.log_softmax(logits)
            logp = logp + live * log_p[action]
            ent = ent - live * (jnp.exp(log_p) * log_p).sum()
        carry = (*_advance(config, env, params, state, feats, action, alive, h, h_new, prev,
                           first),
                 logp, ent, invalid)
        return carry, None

    zeros = jnp.zeros((dim,), jnp.float32)
    init = (state, zeros, zeros, jnp.array(True), jnp.zeros((), jnp.float32),
            jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
    (state, _, _, _, logp, ent, invalid), _ = lax.scan(
        body, init, jax.random.split(key, num_steps)
    )
    return Episode(state, logp, ent, invalid)


def search_episode(config: PointerConfig, env, params: dict, state: Any, key: jax.Array,
                   greedy: jax.Array, temperature: jax.Array, num_steps: int) -> Any:
    """Decodes one schedule from `state`; returns the final env state.

    `greedy` (a bool array) takes the argmax pair at every step, as `episode` does with
    `greedy=True`; otherwise each pair is drawn from `softmax(logits / temperature)`
    (`sample_choice`, one uniform per decision).
    """
    dim = config.embed_dim

    def body(carry, step_key):
        state, h, prev, first = carry
        alive = ~env.is_done(state)
        feats, mask = _inputs(env, state)
        h_new, logits, _ = actor_step(config, params, h, prev, first, feats, mask)
        sampled = sample_choice(step_key, logits, mask, temperature)
        action = jnp.where(greedy, jnp.argmax(logits).astype(jnp.int32), sampled)
        return _advance(config, env, params, state, feats, action, alive, h, h_new, prev,
                        first), None

    zeros = jnp.zeros((dim,), jnp.float32)
    init = (state, zeros, zeros, jnp.array(True))
    (state, *_), _ = lax.scan(body, init, jax.random.split(key, num_steps))
    return state


def episode_keys(key: jax.Array, batch: int) -> tuple[jax.Array, jax.Array]:
    """Per-episode `(reset_keys, run_keys)`, each `(batch, ...)`: episode `b`'s randomness
    depends only on `key` and `b`, so any split of the batch decodes the same episodes."""
    k_reset, k_run = jax.random.split(key)
    return jax.random.split(k_reset, batch), jax.random.split(k_run, batch)


def run_episodes(config: PointerConfig, env, params: dict, instances: Any,
                 reset_keys: jax.Array, run_keys: jax.Array, greedy: bool
                 ) -> tuple[Episode, Any]:
    """Resets and decodes a stacked batch with one key pair per episode (`episode_keys`).

    The actor step is rematerialized (`jax.checkpoint`): a backward pass recomputes each
    step's activations from its inputs instead of storing them for every step, which is
    faster on CPU (less memory traffic); values are unchanged.
    """
    num_steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances))
    states, ts = jax.vmap(env.reset)(reset_keys, instances)
    step = jax.checkpoint(functools.partial(actor_step, config))
    run = jax.vmap(lambda s, k: episode(config, env, params, s, k, greedy, num_steps, step))
    return run(states, run_keys), ts.observation


def batch_episodes(config: PointerConfig, env, params: dict, instances: Any, key: jax.Array,
                   greedy: bool) -> tuple[Episode, Any]:
    """Resets and decodes a stacked batch of instances; returns episodes and first obs."""
    batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
    return run_episodes(config, env, params, instances, *episode_keys(key, batch), greedy)
