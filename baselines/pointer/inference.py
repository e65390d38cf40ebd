"""Inference with a trained pointer model: greedy decoding and best-of-N sampling.

Both run a whole batch of (padded, stacked) instances in one jitted call; sampling
decodes `num_samples` schedules per instance in the same call (instances are repeated
`num_samples` times) and keeps the shortest. Compiled functions are cached per
`(config, mode)`; parameters are arguments, so any model of the same config reuses them.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from jaxshop_baselines.pointer import checkpoint as ckpt
from jaxshop_baselines.pointer.config import PointerConfig, fast_compile, pointer_jit
from jaxshop_baselines.pointer.decode import batch_episodes

import jaxshop
from jaxshop.instances.types import FJSPInstance

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODELS = {"sd": MODELS_DIR / "ac-sd", "s": MODELS_DIR / "ac-s"}
MAX_SAMPLES = 1024


@dataclasses.dataclass(frozen=True)
class PointerAgent:
    """A loaded model: its config and parameters."""

    config: PointerConfig
    params: Any
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None, variant: str = "sd") -> PointerAgent:
        """A model directory or run directory; `None` is the shipped default of `variant`."""
        if path is None:
            if variant not in DEFAULT_MODELS:
                raise ValueError(f"no shipped pointer model for variant {variant!r}")
            path = DEFAULT_MODELS[variant]
            if not (path / ckpt.PARAMS_FILE).is_file():
                raise ValueError(f"the shipped pointer model {path} is missing")
        config, params = ckpt.load_model(path)
        return cls(config, params, str(path))

    @property
    def version(self) -> str:
        """The library version and the model's identity (folder, digest of parameters)."""
        digest = ckpt.params_digest(self.params)
        return f"jaxshop {jaxshop.__version__}, pointer model {self.source} ({digest})"


def _decoders(config: PointerConfig, mode: str):
    return _cached_decoders(config, mode, fast_compile())


@functools.lru_cache(maxsize=16)
def _cached_decoders(config: PointerConfig, mode: str, fast: bool):
    env = jaxshop.make("fjsp", mode=mode)

    def greedy(params, instances):
        eps, _ = batch_episodes(config, env, params, instances, jax.random.PRNGKey(0), True)
        return eps.state

    def sample(params, instances, key, num_samples):
        batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
        tiled = jax.tree_util.tree_map(lambda x: jnp.repeat(x, num_samples, axis=0), instances)
        eps, _ = batch_episodes(config, env, params, tiled, key, False)
        makespans = eps.state.makespan.reshape(batch, num_samples)
        best = jnp.argmin(makespans, axis=1)
        flat = jnp.arange(batch) * num_samples + best
        states = jax.tree_util.tree_map(lambda x: x[flat], eps.state)
        return states, makespans

    return env, pointer_jit(greedy, fast), pointer_jit(sample, fast, static_argnums=3)


def greedy_decode(agent: PointerAgent, instances: FJSPInstance, mode: str | None = None):
    """Final env states of greedy decoding of a stacked batch; `(states, env)`."""
    env, greedy, _ = _decoders(agent.config, mode or agent.config.mode)
    return greedy(agent.params, instances), env


def sample_decode(agent: PointerAgent, instances: FJSPInstance, key: jax.Array,
                  num_samples: int, mode: str | None = None):
    """Best of `num_samples` sampled schedules per instance, in one call.

    Returns `(best_states, makespans (B, num_samples) int32, env)`.
    """
    if not 1 <= num_samples <= MAX_SAMPLES:
        raise ValueError(f"num_samples must be in 1..{MAX_SAMPLES}, got {num_samples}")
    env, _, sample = _decoders(agent.config, mode or agent.config.mode)
    states, makespans = sample(agent.params, instances, key, int(num_samples))
    return states, makespans, env


def solve_batch(agent: PointerAgent, instances: FJSPInstance, key: jax.Array,
                sample: int = 0, mode: str | None = None):
    """Greedy (`sample <= 0`) or best-of-`sample`; returns `(final_states, env)`."""
    if sample and sample > 0:
        states, _, env = sample_decode(agent, instances, key, sample, mode)
        return states, env
    return greedy_decode(agent, instances, mode)
