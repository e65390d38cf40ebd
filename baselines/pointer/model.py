"""Pointer actor-critic for FJSP dispatching (Flax linen).

The input set is the `(job, machine)` candidate pairs of the current state (`P = J * M`,
flat index `job * M + machine`, as the env's action space). Per decision:

1. A shared MLP embeds every pair's feature vector into `D` dims (no recurrent encoder:
   the set has no order, and dynamic features are re-read from the env at every step).
   Given the features by group (`jaxshop.fjsp.features.FeatureParts`), its first layer
   runs per group: a job's features meet the kernel once per job, not once per pair.
2. A GRU cell advances the decoder state on the embedding of the previously chosen pair
   (a learned start vector at the first step).
3. Attention from the decoder state over the pair embeddings: an optional glimpse
   (scaled dot-product attention pooled into a context vector, mixed with the decoder
   state) and then pointer scores `e_p . W_q q / sqrt(D)`, squashed to
   `tanh_clip * tanh(.)`. Keys are the embeddings (`W_k` folds into the query).

The embedding's second layer is linear and the decoder only ever uses the embeddings
through dot products with one vector, an attention average or one chosen row, so the
`(P, D)` embeddings are never formed: with `e_p = z_p W + b` (`z_p` the first layer's
activations), `e_p . v = z_p . (W v) + b . v`, `sum_p a_p e_p = (sum_p a_p z_p) W + b` for
attention weights `a` and the chosen pair's embedding is `z_p W + b`. A step then costs
the first layer (`P * F * D`) plus O(P * D + D^2) instead of another `P * D^2`; the
function and its parameters are the embedding MLP's, only the order of float operations
differs.
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
import numpy as np
from jaxshop_baselines.pointer.config import PointerConfig

from jaxshop.fjsp.features import GROUPS, FeatureParts, assemble, group_columns, lay_out
from jaxshop.rollout import MASKED_LOGIT, first_exceeding, masked_logits


@jax.custom_vjp
def instance_linear(x: jax.Array, w: jax.Array) -> jax.Array:
    """`x @ w` for one instance's rows `x (..., F)` and a shared kernel `w (F, D)`.

    The same function and gradients as `x @ w`; only the kernel's gradient is formed per
    instance (`x^T g` over the instance's rows), so under `vmap` it is a batched product
    followed by a sum over the batch. Autodiff of `x @ w` contracts over every row of the
    batch at once, for which XLA's CPU backend first transposes the `(rows, D)` cotangent;
    avoiding that made pointer training at 10x5, batch 128, 1.1-1.2x faster
    (`scripts/bench_train.py`, against the same code with `x @ w`).
    """
    return x @ w


def _instance_linear_fwd(x, w):
    return x @ w, (x, w)


def _instance_linear_bwd(residuals, g):
    x, w = residuals
    rows_x, rows_g = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    return g @ w.T, rows_x.T @ rows_g


instance_linear.defvjp(_instance_linear_fwd, _instance_linear_bwd)


class PairEmbedding(nn.Module):
    """Shared 2-layer MLP applied to every pair: `(P, F) -> (P, D)`.

    `hidden` and `project` are its two layers; `read(z, v)` is `project(z) @ v` computed
    through the second layer's weights, `O(P * D + D^2)` instead of `O(P * D^2)`.
    """

    dim: int

    def setup(self) -> None:
        self.dense0 = nn.Dense(self.dim)
        self.dense1 = nn.Dense(self.dim)

    def hidden(self, x: jax.Array | FeatureParts) -> jax.Array:
        """`(..., P, F) -> (..., P, D)` first-layer activations; from `FeatureParts` (the
        same features by group, `P = J * M`) the layer runs per group (`hidden_parts`)."""
        if isinstance(x, FeatureParts):
            return self.hidden_parts(x)
        return nn.relu(self.dense0(x))

    def hidden_parts(self, parts: FeatureParts) -> jax.Array:
        """`hidden(assemble(parts))` flattened to `(..., J * M, D)`, computed per group.

        The first layer is linear before the ReLU, so a job's features meet the kernel
        once per job instead of once per pair (`x W = sum_g x_g W_g`, repeated along the
        axes the group does not vary on). The layer reads the first `F` features, `F` its
        kernel's rows; a group's columns outside them are never read (nor computed under
        `jit`).
        """
        if self.is_initializing():
            x = assemble(parts)
            return self.hidden(x.reshape(*x.shape[:-3], -1, x.shape[-1]))
        weights = self.dense0.variables["params"]
        kernel = weights["kernel"]  # (F, D)
        pre = weights["bias"]
        for group in GROUPS:
            columns, rows = group_columns(group, kernel.shape[0])
            if not columns:
                continue
            x = getattr(parts, group)
            if columns != tuple(range(x.shape[-1])):
                x = x[..., np.asarray(columns)]
            pre = pre + lay_out(group, instance_linear(x, kernel[np.asarray(rows)]))
        shape = (*parts.pair.shape[:-1], kernel.shape[1])  # (..., J, M, D)
        pre = jnp.broadcast_to(pre, shape)
        return nn.relu(pre.reshape(*shape[:-3], shape[-3] * shape[-2], shape[-1]))

    def hidden_row(self, parts: FeatureParts, pair: jax.Array) -> jax.Array:
        """`hidden_parts(parts)[pair]` `(D,)` for one flat pair index `j * M + m`, from
        that pair's features alone (unbatched `parts`)."""
        M = parts.machine.shape[-2]  # noqa: N806
        j, m = pair // M, pair % M
        one = FeatureParts(glob=parts.glob, job=parts.job[j][None], machine=parts.machine[m][None],
                           pair=parts.pair[j, m][None, None])
        return self.hidden_parts(one)[0]

    def project(self, z: jax.Array) -> jax.Array:
        """`(..., D) -> (..., D)` the second (linear) layer."""
        return self.dense1(z)

    def read(self, z: jax.Array, v: jax.Array) -> jax.Array:
        """`project(z) @ v` for `z (P, D)`, `v (D,)` -> `(P,)`, without projecting `z`."""
        if self.is_initializing():
            self.dense1(z[:1])  # creates the second layer's parameters
        weights = self.dense1.variables["params"]
        return z @ (weights["kernel"] @ v) + weights["bias"] @ v

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.project(self.hidden(x))


class Actor(nn.Module):
    """The decoder. `__call__` is one decoding step:
    `(h, prev, first, features, mask) -> (h', logits, hidden)`, composed of the methods
    `embed`, `advance` and `scores`. `hidden (P, D)` are the pairs' first-layer
    activations (see the module doc); the caller passes the chosen pair's row back as
    `prev` at the next step (`hidden[pair]`, or `chosen`, which computes it from that
    pair's features alone).
    """

    dim: int
    glimpse: bool = True
    tanh_clip: float = 10.0

    def setup(self) -> None:
        self.embedding = PairEmbedding(self.dim)
        self.start = self.param("start", nn.initializers.normal(0.1), (self.dim,))
        self.gru = nn.GRUCell(self.dim)
        if self.glimpse:
            self.glimpse_query = nn.Dense(self.dim)
            self.glimpse_out = nn.Dense(self.dim)
        self.pointer_query = nn.Dense(self.dim)

    def embed(self, features: jax.Array | FeatureParts) -> jax.Array:
        """`(..., P, F)` (or `FeatureParts`) `-> (..., P, D)` the pairs' first-layer
        activations."""
        return self.embedding.hidden(features)

    def chosen(self, features: jax.Array | FeatureParts, pair: jax.Array) -> jax.Array:
        """`embed(features)[pair]` `(D,)`: the chosen pair's row (the next step's `prev`),
        computed from its own features, so no `(P, D)` gather (nor, in a backward pass,
        scatter) is needed."""
        if isinstance(features, FeatureParts):
            return self.embedding.hidden_row(features, pair)
        return self.embedding.hidden(features[pair])

    def advance(self, h: jax.Array, prev: jax.Array, first: jax.Array) -> jax.Array:
        """GRU step on the previous pair's embedding (the learned start vector if `first`);
        `prev (D,)` is that pair's row of `embed`."""
        x = jnp.where(first, self.start, self.embedding.project(prev))
        return self.gru(h, x)[0]

    def scores(self, h: jax.Array, hidden: jax.Array, mask: jax.Array) -> jax.Array:
        """Masked pointer logits `(P,)` from decoder state `h (D,)` over `hidden (P, D)`."""
        scale = 1.0 / jnp.sqrt(jnp.float32(self.dim))
        q = h
        if self.glimpse:
            # Keys and values are the embeddings themselves (W_k, W_v fold into the query
            # and output projections), so attention costs O(P * D), not O(P * D^2).
            logits = self.embedding.read(hidden, self.glimpse_query(h)) * scale
            att = jax.nn.softmax(masked_logits(logits, mask))
            context = self.embedding.project(att @ hidden)
            q = nn.relu(self.glimpse_out(jnp.concatenate([h, context])))
        u = self.embedding.read(hidden, self.pointer_query(q)) * scale
        return masked_logits(self.tanh_clip * jnp.tanh(u), mask)

    def __call__(self, h: jax.Array, prev: jax.Array, first: jax.Array,
                 features: jax.Array | FeatureParts,
                 mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        hidden = self.embed(features)
        h = self.advance(h, prev, first)
        return h, self.scores(h, hidden, mask), hidden


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
        # Normalized makespans are >= 1: start the regression at a typical value (1.5).
        out = nn.Dense(1, kernel_init=nn.initializers.zeros,
                       bias_init=nn.initializers.constant(0.5), name="out")
        return 1.0 + out(x)[0]


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
               first: jax.Array, features: jax.Array | FeatureParts, mask: jax.Array):
    """One decoding step on one instance; see `Actor`. `features` are `(P, F)` model
    inputs (`select_features`) or the env's `FeatureParts` (the first layer per group)."""
    return actor_module(config).apply({"params": params["actor"]}, h, prev, first, features, mask)


def chosen_row(config: PointerConfig, params: dict, features: jax.Array | FeatureParts,
               pair: jax.Array) -> jax.Array:
    """`(D,)` the chosen pair's first-layer activations (`Actor.chosen`), one instance."""
    return actor_module(config).apply({"params": params["actor"]}, features, pair,
                                      method=Actor.chosen)


def critic_value(config: PointerConfig, params: dict, features: jax.Array,
                 mask: jax.Array) -> jax.Array:
    return critic_module(config).apply({"params": params["critic"]}, features, mask)


def choose(key: jax.Array, logits: jax.Array, mask: jax.Array, greedy: bool) -> jax.Array:
    """Greedy argmax, or a sample of the policy (`sample_choice` at temperature 1: one
    uniform per decision rather than a Gumbel draw per pair), as int32."""
    if greedy:
        return jnp.argmax(logits).astype(jnp.int32)
    return sample_choice(key, logits, mask, jnp.float32(1.0))


def sample_choice(key: jax.Array, logits: jax.Array, mask: jax.Array,
                  temperature: jax.Array) -> jax.Array:
    """A valid pair drawn from `softmax(logits / temperature)` over the mask, as int32.

    Inverse-CDF sampling from ONE uniform per decision (`jaxshop.rollout.first_exceeding`
    on the probabilities), not `jax.random.categorical`'s one Gumbel draw per pair: the
    same distribution. `logits` are masked logits (`MASKED_LOGIT` outside the mask, finite
    inside); `temperature` is a positive scalar (1 = the policy's own distribution). A
    float rounding that would land on a masked pair falls back to the greedy pair.
    """
    z = jnp.where(mask, logits / temperature, MASKED_LOGIT)
    p = jnp.where(mask, jnp.exp(z - z.max()), 0.0)
    u = jax.random.uniform(key, (), jnp.float32)
    idx = first_exceeding(p, u * p.sum())
    return jnp.where(mask[idx], idx, jnp.argmax(logits)).astype(jnp.int32)


def num_params(params: dict) -> int:
    from jaxshop_baselines.checkpoints import count_params

    return count_params(params)


__all__ = [
    "MASKED_LOGIT",
    "Actor",
    "Critic",
    "PairEmbedding",
    "actor_step",
    "choose",
    "chosen_row",
    "critic_value",
    "init_params",
    "num_params",
    "sample_choice",
    "select_features",
]
