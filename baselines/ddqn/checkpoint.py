"""DDQN saving and loading on top of the shared `jaxshop_baselines.checkpoints`.

- `<run>/checkpoints/<iteration>/` holds the whole `TrainState` (online and target
  parameters, Adam state with its learning rate, replay buffer, env states and current
  observations, running episode stats, PRNG key, counters), so `--resume` continues
  exactly where the run stopped.
- A model is `<dir>/config.json` (`DDQNConfig`) + `<dir>/params.msgpack` (online
  Q-network parameters); `load_ddqn(dir)` reads it, or the latest checkpoint of an
  unfinished run.
"""

from __future__ import annotations

from pathlib import Path

import jax
from jaxshop_baselines import checkpoints as shared
from jaxshop_baselines.checkpoints import CONFIG_FILE, PARAMS_FILE, latest_checkpoint
from jaxshop_baselines.ddqn.config import DDQNConfig

__all__ = ["CONFIG_FILE", "PARAMS_FILE", "latest_checkpoint", "load_ddqn", "read_config",
           "restore_checkpoint", "save_checkpoint"]


def _leaves(state) -> dict:
    """The state's leaves by position (orbax stores a flat dict of arrays)."""
    return {f"{i:04d}": leaf for i, leaf in enumerate(jax.tree_util.tree_leaves(state))}


def save_checkpoint(run_dir: str | Path, state) -> int:
    """Writes the `TrainState` as checkpoint `state.iteration` (blocking); returns the step."""
    return shared.save_checkpoint(run_dir, _leaves(state), int(state.iteration))


def restore_checkpoint(run_dir: str | Path, template, step: int | None = None):
    """The `TrainState` of checkpoint `step` (default latest), structured like `template`."""
    flat = shared.restore_checkpoint(run_dir, _leaves(template), step)
    treedef = jax.tree_util.tree_structure(template)
    return jax.tree_util.tree_unflatten(treedef, [flat[k] for k in sorted(flat)])


def read_config(path: str | Path) -> DDQNConfig:
    return shared.read_config(DDQNConfig, path)


def _template_state(config: DDQNConfig):
    from jaxshop_baselines.ddqn.agent import cached_ddqn

    init = cached_ddqn(config).init
    return jax.eval_shape(init, shared.abstract_key())


def load_ddqn(path: str | Path) -> tuple[DDQNConfig, dict]:
    """`(config, params)` of a DDQN model folder or of a (possibly unfinished) run.

    A one-line `ValueError` names the file at fault (missing, unreadable, not matching the
    config, NaN parameters) or says which other agent's folder it is.
    """
    def template(config):
        return _template_state(config).params

    def from_checkpoint(run_dir, config):
        abstract = _template_state(config)
        zeros = jax.tree_util.tree_map(lambda x: jax.numpy.zeros(x.shape, x.dtype), abstract)
        return restore_checkpoint(run_dir, zeros).params

    return shared.load_model(path, DDQNConfig, template, from_checkpoint, "ddqn",
                             accepts=("ddqn", "ddqn-fab"))
