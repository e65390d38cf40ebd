"""Pointer-net saving and loading on top of the shared `jaxshop_baselines.checkpoints`.

- Training checkpoints (`<run>/checkpoints/<update>/`) hold the full runner state
  (parameters, optimizer state, PRNG key, update counter), so `--resume` continues
  exactly where the run stopped.
- A model (`<dir>/config.json` + `<dir>/params.msgpack`) is what inference needs; training
  writes it at the end and `pointer:DIR` reads it (falling back to the latest checkpoint of
  an unfinished run).
"""

from __future__ import annotations

from pathlib import Path

import jax
from jaxshop_baselines import checkpoints as shared
from jaxshop_baselines.checkpoints import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    META_FILE,
    PARAMS_FILE,
    check_finite,
    latest_checkpoint,
    params_digest,
    save_model,
)
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.pointer.model import init_params

__all__ = [
    "CHECKPOINT_DIR", "CONFIG_FILE", "META_FILE", "PARAMS_FILE", "check_finite",
    "latest_checkpoint", "load_model", "params_digest", "read_config", "restore_checkpoint",
    "save_checkpoint", "save_model",
]


def _as_tree(runner) -> dict:
    return {"params": runner.params, "opt_state": runner.opt_state, "key": runner.key,
            "update": runner.update}


def save_checkpoint(run_dir: str | Path, runner) -> int:
    """Writes the runner state as checkpoint `runner.update` (blocking); returns the step."""
    return shared.save_checkpoint(run_dir, _as_tree(runner), int(runner.update))


def restore_checkpoint(run_dir: str | Path, template, step: int | None = None):
    """The runner state of checkpoint `step` (default: latest), shaped like `template`."""
    return template.replace(**shared.restore_checkpoint(run_dir, _as_tree(template), step))


def read_config(path: str | Path) -> PointerConfig:
    return shared.read_config(PointerConfig, path)


def load_model(model_dir: str | Path) -> tuple[PointerConfig, dict]:
    """`(config, params)` of a model directory or of a (possibly unfinished) training run;
    a one-line ValueError names the folder or file at fault (another agent's folder says
    which kind it is)."""

    def template(config):
        return jax.eval_shape(lambda key: init_params(config, key), shared.abstract_key())

    def from_checkpoint(run_dir, config):
        from jaxshop_baselines.pointer.train import init_runner

        return restore_checkpoint(run_dir, init_runner(config, jax.random.PRNGKey(0))).params

    # A distilled small-pointer student is a pointer model too.
    return shared.load_model(model_dir, PointerConfig, template, from_checkpoint, "pointer",
                             accepts=("pointer", "student"))
