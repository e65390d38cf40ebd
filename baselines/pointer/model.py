"""Pointer actor-critic for FJSP dispatching (Flax linen).

The input set is the `(job, machine)` candidate pairs of the current state (`P = J * M`,
flat index `job * M + machine`, as the env's action space). Per decision:

1. A shared MLP embeds every pair's feature vector into `D` dims (no recurrent encoder:
   the set has no order, and dynamic features are re-read from the env at every step).
2. A GRU cell advances the decoder state on the embedding of the previously chosen pair
   (a learned start vector at the first step).
3. Attention from the decoder state over the pair embeddings: an optional glimpse
   (Bahdanau attention pooled into a context vector) and then pointer scores
   `v . tanh(W_ref e_p + W_q q)`, squashed to `tanh_clip * tanh(.)`.
4. Invalid pairs get the finite `MASKED_LOGIT`, so the softmax puts zero mass on them.

The policy is the chain-rule product of these per-step distributions. The critic embeds
the pairs of the initial state with its own MLP, pools the valid ones (mean and max) and
regresses the normalized makespan (makespan / lower bound) of the episode.

All modules work on one unbatched instance; callers `vmap` over instances.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxshop_baselines.pointer.config import PointerConfig

from jaxshop.rollout import MASKED_LOGIT, masked_logits


class PairEmbedding(nn.Module):
    """Shared 2-layer MLP applied to every pair: `(P, F) -> (P, D)`."""

    dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(self.dim, name="dense0")(x))
        return nn.Dense(self.dim, name="dense1")(x)


class Actor(nn.Module):
    """One decoding step: `(h, prev, first, features, mask) -> (h', logits, embeddings)`."""

    dim: int
    glimpse: bool = True
    tanh_clip: float = 10.0

    @nn.compact
    def __call__(self, h: jax.Array, prev: jax.Array, first: jax.Array, features: jax.Array,
                 mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        emb = PairEmbedding(self.dim, name="embed")(features)  # (P, D)
        start = self.param("start", nn.initializers.normal(0.1), (self.dim,))
        x = jnp.where(first, start, prev)
        h, _ = nn.GRUCell(self.dim, name="gru")(h, x)
        q = h
        if self.glimpse:
            ref = nn.Dense(self.dim, use_bias=False, name="glimpse_ref")(emb)
            u = jnp.tanh(ref + nn.Dense(self.dim, name="glimpse_query")(q))
            u = nn.Dense(1, use_bias=False, name="glimpse_v")(u)[:, 0]
            attn = jax.nn.softmax(masked_logits(u, mask))
            q = attn @ ref  # (D,)
        ref = nn.Dense(self.dim, use_bias=False, name="pointer_ref")(emb)
        u = jnp.tanh(ref + nn.Dense(self.dim, name="pointer_query")(q))
        u = nn.Dense(1, use_bias=False, name="pointer_v")(u)[:, 0]
        logits = self.tanh_clip * jnp.tanh(u)
        return h, masked_logits(logits, mask), emb


class Critic(nn.Module):
    """`(features, mask) -> ()` expected normalized makespan of the episode."""

    dim: int

    @nn.compact
    def __call__(self, features: jax.Array, mask: jax.Array) -> jax.Array:
        emb = nn.relu(PairEmbedding(self.dim, name="embed")(features))  # (P, D)
        w = mask.astype(jnp.float32)[:, None]
        mean = (emb * w).sum(0) / jnp.maximum(w.sum(), 1.0)
        top = jnp.where(mask[:, None], emb, 0.0).max(0)
        x = nn.relu(nn.Dense(self.dim, name="dense0")(jnp.concatenate([mean, top])))
        # Normalized makespans are >= 1: start the regression near typical values.
        return 1.0 + nn.Dense(1, name="out")(x)[0]


def actor_module(config: PointerConfig) -> Actor:
    return Actor(config.embed_dim, config.glimpse, config.tanh_clip)


def critic_module(config: PointerConfig) -> Critic:
    return Critic(config.embed_dim)


def select_features(config: PointerConfig, pair_features: jax.Array) -> jax.Array:
    """`(..., J, M, F)` env features -> `(..., J * M, F')` model input (static only for AC-S)."""
    x = pair_features[..., : config.num_features]
    return x.reshape(*x.shape[:-3], x.shape[-3] * x.shape[-2], x.shape[-1])


def init_params(config: PointerConfig, key: jax.Array) -> dict:
    """Fresh `{"actor": ..., "critic": ...}` parameters (shape-independent of J and M)."""
    k_actor, k_critic = jax.random.split(key)
    feats = jnp.zeros((2, config.num_features), jnp.float32)
    mask = jnp.ones((2,), bool)
    h = jnp.zeros((config.embed_dim,), jnp.float32)
    actor = actor_module(config).init(k_actor, h, h, jnp.array(True), feats, mask)
    critic = critic_module(config).init(k_critic, feats, mask)
    return {"actor": actor["params"], "critic": critic["params"]}


def actor_step(config: PointerConfig, params: dict, h: jax.Array, prev: jax.Array,
               first: jax.Array, features: jax.Array, mask: jax.Array):
    """One decoding step on one instance; see `Actor`."""
    return actor_module(config).apply({"params": params["actor"]}, h, prev, first, features, mask)


def critic_value(config: PointerConfig, params: dict, features: jax.Array,
                 mask: jax.Array) -> jax.Array:
    return critic_module(config).apply({"params": params["critic"]}, features, mask)


def choose(key: jax.Array, logits: jax.Array, greedy: bool) -> jax.Array:
    """Greedy argmax or a categorical sample of masked logits, as int32."""
    if greedy:
        return jnp.argmax(logits).astype(jnp.int32)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def num_params(params: dict) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


__all__ = [
    "MASKED_LOGIT",
    "Actor",
    "Critic",
    "PairEmbedding",
    "actor_step",
    "choose",
    "critic_value",
    "init_params",
    "num_params",
    "select_features",
]
