"""PPO saving and loading on top of the shared `jaxshop_baselines.checkpoints`.

- `<run>/checkpoints/<update>/` holds the whole runner state (parameters, optimizer
  state, the vmapped env states and observations, PRNG key, update counter) as a flat
  dict of arrays, so `--resume` continues exactly where the run stopped.
- A model is `<dir>/config.json` + `<dir>/params.msgpack`; `ppo:DIR` reads it, or the
  latest checkpoint of an unfinished run.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
from jaxshop_baselines import checkpoints as shared
from jaxshop_baselines.checkpoints import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    META_FILE,
    PARAMS_FILE,
    latest_checkpoint,
    save_model,
)
from jaxshop_baselines.ppo.config import PPOConfig

__all__ = [
    "CHECKPOINT_DIR", "CONFIG_FILE", "META_FILE", "PARAMS_FILE", "latest_checkpoint",
    "load_model", "read_config", "restore_checkpoint", "save_checkpoint", "save_model",
]


def _as_tree(runner) -> dict:
    leaves = jax.tree_util.tree_leaves(runner)
    return {f"{i:04d}": jnp.asarray(x) for i, x in enumerate(leaves)}


def save_checkpoint(run_dir: str | Path, runner) -> int:
    """Writes the runner as checkpoint `runner.update` (blocking); returns the step."""
    return shared.save_checkpoint(run_dir, _as_tree(runner), int(runner.update))


def restore_checkpoint(run_dir: str | Path, template, step: int | None = None):
    """The runner of checkpoint `step` (default: latest), structured like `template`."""
    tree = shared.restore_checkpoint(run_dir, _as_tree(template), step)
    treedef = jax.tree_util.tree_structure(template)
    return jax.tree_util.tree_unflatten(treedef, [tree[k] for k in sorted(tree)])


def read_config(path: str | Path) -> PPOConfig:
    return shared.read_config(PPOConfig, path)


def load_model(model_dir: str | Path) -> tuple[PPOConfig, dict]:
    """`(config, params)` of a model directory or of a (possibly unfinished) run; a
    one-line ValueError names the folder or file at fault (another agent's folder says
    which kind it is)."""
    from jaxshop_baselines.ppo.train import init_runner

    def template(config):
        runner = jax.eval_shape(lambda k: init_runner(config, k), shared.abstract_key())
        return runner.params

    def from_checkpoint(run_dir, config):
        return restore_checkpoint(run_dir, init_runner(config, jax.random.PRNGKey(0))).params

    return shared.load_model(model_dir, PPOConfig, template, from_checkpoint, "ppo")
