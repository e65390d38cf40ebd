"""A small actor-critic over the flat action space: a per-action MLP with pooling.

Per-action inputs come from the observation alone (the public API): fields whose leading
axis is the action space (after flattening the leading axes whose product is the number
of actions, e.g. FJSP's `pair_features (J, M, F)`) give per-action features; every other
numeric field is summarized by its mean and max (shape-free global features). Masked
actions are left out of the pooling; logits of masked actions are -1e9.

    h_a    = MLP([x_a, globals])                 per action
    pool   = [masked mean_a h_a, masked max_a h_a]
    logit_a = w . tanh(W [h_a, pool])            value = MLP(pool)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxshop.rollout import MASKED_LOGIT


def _per_action(leaf: jax.Array, num_actions: int) -> jax.Array | None:
    """`(A, k)` when the leading axes of `leaf` multiply to `num_actions`, else None."""
    size = 1
    for d in leaf.shape:
        size *= d
        if size == num_actions:
            return leaf.reshape(num_actions, -1).astype(jnp.float32)
        if size > num_actions:
            return None
    return None


def features(obs) -> tuple[jax.Array, jax.Array]:
    """`(per_action (A, Fa), globals (G,))` float32 features of one observation."""
    mask = obs.action_mask
    num_actions = mask.shape[0]
    fields = {f.name: getattr(obs, f.name) for f in dataclasses.fields(obs)}
    fields.pop("action_mask")
    if "pair_features" in fields:  # the designed per-action view of the job-shop envs
        fields = {"pair_features": fields["pair_features"]}
    per, glob = [], []
    for name in sorted(fields):
        leaf = jnp.asarray(fields[name])
        if leaf.dtype == jnp.bool_ or leaf.size == 0:
            leaf = leaf.astype(jnp.float32)
        rows = _per_action(leaf, num_actions)
        if rows is not None:
            per.append(rows)
        else:
            x = leaf.astype(jnp.float32).reshape(-1)
            glob += [x.mean(), x.max()]
    per_action = jnp.concatenate(per, axis=-1) if per else jnp.zeros((num_actions, 1))
    globals_ = jnp.stack(glob) if glob else jnp.zeros((0,), jnp.float32)
    return per_action, globals_


def _dense(key, n_in: int, n_out: int, scale: float = np.sqrt(2)) -> dict:
    w = jax.nn.initializers.orthogonal(scale)(key, (n_in, n_out), jnp.float32)
    return {"w": w, "b": jnp.zeros((n_out,), jnp.float32)}


def _apply(layer: dict, x: jax.Array) -> jax.Array:
    return x @ layer["w"] + layer["b"]


def init_params(key: jax.Array, obs_example, hidden: int) -> dict:
    """Parameters for observations shaped like `obs_example` (one observation)."""
    per_action, globals_ = features(obs_example)
    n_in = per_action.shape[-1] + globals_.shape[0]
    k = jax.random.split(key, 6)
    return {
        "embed1": _dense(k[0], n_in, hidden),
        "embed2": _dense(k[1], hidden, hidden),
        "actor1": _dense(k[2], 3 * hidden, hidden),
        "actor2": _dense(k[3], hidden, 1, 0.01),
        "critic1": _dense(k[4], 2 * hidden, hidden),
        "critic2": _dense(k[5], hidden, 1, 1.0),
    }


def apply(params: dict, obs) -> tuple[jax.Array, jax.Array]:
    """`(masked logits (A,), value ())` for one observation."""
    mask = obs.action_mask
    per_action, globals_ = features(obs)
    x = jnp.concatenate(
        [per_action, jnp.broadcast_to(globals_, (per_action.shape[0], globals_.shape[0]))], -1
    )
    h = jax.nn.relu(_apply(params["embed1"], x))
    h = jax.nn.relu(_apply(params["embed2"], h))
    pool_mask = jnp.where(mask.any(), mask, True)[:, None]  # all-False (terminal): pool all
    count = jnp.maximum(pool_mask.sum(), 1)
    mean = jnp.where(pool_mask, h, 0.0).sum(0) / count
    peak = jnp.where(pool_mask, h, -1e9).max(0)
    pool = jnp.concatenate([mean, peak])
    a = jnp.tanh(_apply(params["actor1"], jnp.concatenate(
        [h, jnp.broadcast_to(pool, (h.shape[0], pool.shape[0]))], -1)))
    logits = _apply(params["actor2"], a)[:, 0]
    logits = jnp.where(mask, logits, MASKED_LOGIT)
    v = jnp.tanh(_apply(params["critic1"], pool))
    value = _apply(params["critic2"], v)[0]
    return logits, value


def num_params(params: dict) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params))
