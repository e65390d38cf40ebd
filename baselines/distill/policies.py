"""Pair policies that teach or learn in distillation, behind one small protocol.

Every policy scores the FJSP env's `(job, machine)` actions (`A = J * M`, the env's flat
action) of ONE state (callers `vmap`):

- `init_carry()`: its recurrent state before the first decision (`()` when it has none);
- `logits(params, carry, state, obs, tau) -> (logits (A,), mid)`: masked logits of this
  decision and the carry after reading it;
- `advance(mid, action) -> carry`: the carry once `action` (whoever chose it) is applied.

So a teacher can label the states a student visits (its recurrence follows the actions
actually taken), and one rollout drives both. `tau` is used only by the Q-teacher, whose
rule distribution `softmax(q / tau)` must be formed before it is mapped onto pairs.

Policies:
- `PointerPolicy`: the pointer actor (`jaxshop_baselines.pointer.model.Actor`), any size;
  teacher (the shipped AC-SD model) and the `small-pointer` student.
- `MLPPolicy`: the `mlp` student, a per-candidate MLP scorer with no recurrence and no
  attention: `logit_p = MLP(features_p)`, the cheapest policy that reads the same features.
- `QRulePolicy`: a Double-DQN rule-selection Q-network as teacher; its pair logits are
  `q_pair_logits` of its rules' Q values and of the pair each rule picks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.distill.loss import q_pair_logits
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.pointer.model import actor_module, select_features

from jaxshop.fjsp.features import DYNAMIC_FEATURES, STATIC_FEATURES
from jaxshop.rollout import masked_logits


@dataclasses.dataclass(frozen=True)
class PointerPolicy:
    """The pointer actor as a pair policy; carry `(h, prev, first)` as in its decoder."""

    config: PointerConfig

    def init_carry(self) -> Any:
        zeros = jnp.zeros((self.config.embed_dim,), jnp.float32)
        return zeros, zeros, jnp.array(True)

    def logits(self, params: dict, carry: Any, state: Any, obs: Any, tau: Any = 1.0):
        h, prev, first = carry
        feats = select_features(self.config, obs.pair_features)
        h, logits, hidden = actor_module(self.config).apply(
            {"params": params["actor"]}, h, prev, first, feats, obs.action_mask)
        return logits, (h, hidden)

    def advance(self, mid: Any, action: jax.Array) -> Any:
        h, hidden = mid
        return h, hidden[action], jnp.array(False)


@dataclasses.dataclass(frozen=True)
class MLPConfig(JSONConfig):
    """The per-candidate MLP scorer: pair features (static + dynamic) -> hidden -> 1."""

    hidden: tuple[int, ...] = (32, 32)
    mode: str = "append"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden}")
        if self.mode not in ("append", "insert"):
            raise ValueError(f"mode must be 'append' or 'insert', got {self.mode!r}")

    @property
    def num_features(self) -> int:
        return len(STATIC_FEATURES) + len(DYNAMIC_FEATURES)


class PairScorer(nn.Module):
    """`(A, F) -> (A,)`: one ReLU MLP applied to every pair independently."""

    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.hidden):
            x = nn.relu(nn.Dense(width, name=f"hidden_{i}")(x))
        return nn.Dense(1, name="out")(x)[..., 0]


def mlp_init(config: MLPConfig, key: jax.Array) -> dict:
    """Fresh `{"scorer": ...}` parameters of the MLP student."""
    x = jnp.zeros((2, config.num_features), jnp.float32)
    return {"scorer": PairScorer(config.hidden).init(key, x)["params"]}


@dataclasses.dataclass(frozen=True)
class MLPPolicy:
    """The MLP scorer as a pair policy (no carry)."""

    config: MLPConfig

    def init_carry(self) -> Any:
        return ()

    def logits(self, params: dict, carry: Any, state: Any, obs: Any, tau: Any = 1.0):
        pf = obs.pair_features
        feats = pf.reshape(pf.shape[0] * pf.shape[1], pf.shape[2])
        scores = PairScorer(self.config.hidden).apply({"params": params["scorer"]}, feats)
        return masked_logits(scores, obs.action_mask), ()

    def advance(self, mid: Any, action: jax.Array) -> Any:
        return ()


@dataclasses.dataclass(frozen=True)
class QRulePolicy:
    """A rule-selection Q-network (`jaxshop_baselines.ddqn`) as a pair teacher."""

    rules: tuple[str, ...]
    mode: str = "append"

    def _rule_env(self):
        import jaxshop_baselines.ddqn.rule_selection  # noqa: F401  (registers the env)

        import jaxshop

        return jaxshop.cached_make("rule_selection", mode=self.mode, rules=tuple(self.rules))

    def init_carry(self) -> Any:
        return ()

    def logits(self, params: dict, carry: Any, state: Any, obs: Any, tau: Any = 1.0):
        from jaxshop_baselines.ddqn.network import q_values
        from jaxshop_baselines.ddqn.rule_selection import schedule_features

        env = self._rule_env()
        q = q_values(params, schedule_features(env.env, state))
        picks = jax.vmap(lambda r: env.rule_action(state, r))(
            jnp.arange(len(self.rules), dtype=jnp.int32))
        logits = q_pair_logits(q, picks, obs.action_mask.shape[0], tau)
        return masked_logits(logits, obs.action_mask), ()

    def advance(self, mid: Any, action: jax.Array) -> Any:
        return ()


def policy_num_params(params: Any) -> int:
    """Parameters of the network that acts at inference (a pointer model's critic, used
    only in training, is not counted)."""
    from jaxshop_baselines.checkpoints import count_params

    return count_params(params["actor"] if isinstance(params, dict) and "actor" in params
                        else params)
