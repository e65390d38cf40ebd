"""Saving and loading: orbax checkpoints of whole training runs, small model files.

- Training checkpoints (`<run>/checkpoints/<update>/`, orbax) hold the full runner state
  (parameters, optimizer state, PRNG key, update counter), so `--resume` continues
  exactly where the run stopped.
- A model (`<dir>/config.json` + `<dir>/params.msgpack`, flax serialization) is what
  inference needs; training writes it at the end and `pointer:DIR` reads it (falling back
  to the latest checkpoint of an unfinished run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import serialization
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.pointer.model import init_params

CONFIG_FILE = "config.json"
PARAMS_FILE = "params.msgpack"
META_FILE = "meta.json"
CHECKPOINT_DIR = "checkpoints"


def _manager(run_dir: str | Path, max_to_keep: int = 3):
    import orbax.checkpoint as ocp

    path = (Path(run_dir) / CHECKPOINT_DIR).resolve()
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(path, options=options)


def _as_tree(runner) -> dict:
    return {"params": runner.params, "opt_state": runner.opt_state, "key": runner.key,
            "update": runner.update}


def save_checkpoint(run_dir: str | Path, runner) -> int:
    """Writes the runner state as checkpoint `runner.update` (blocking); returns the step."""
    import orbax.checkpoint as ocp

    step = int(runner.update)
    mngr = _manager(run_dir)
    try:
        mngr.save(step, args=ocp.args.StandardSave(_as_tree(runner)), force=True)
        mngr.wait_until_finished()
    finally:
        mngr.close()
    return step


def latest_checkpoint(run_dir: str | Path) -> int | None:
    """The newest checkpoint step of a run, or None."""
    if not (Path(run_dir) / CHECKPOINT_DIR).is_dir():
        return None
    mngr = _manager(run_dir)
    try:
        return mngr.latest_step()
    finally:
        mngr.close()


def restore_checkpoint(run_dir: str | Path, template, step: int | None = None):
    """The runner state of checkpoint `step` (default: latest), shaped like `template`."""
    import orbax.checkpoint as ocp

    mngr = _manager(run_dir)
    try:
        step = mngr.latest_step() if step is None else step
        if step is None:
            raise ValueError(f"no checkpoint in {Path(run_dir) / CHECKPOINT_DIR}")
        abstract = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), _as_tree(template)
        )
        tree = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    finally:
        mngr.close()
    return template.replace(**tree)


def save_model(model_dir: str | Path, config: PointerConfig, params: dict,
               meta: dict[str, Any] | None = None) -> None:
    """Writes `config.json`, `params.msgpack` and optionally `meta.json`."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    config.to_json(model_dir / CONFIG_FILE)
    (model_dir / PARAMS_FILE).write_bytes(serialization.to_bytes(jax.device_get(params)))
    if meta is not None:
        (model_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def load_model(model_dir: str | Path) -> tuple[PointerConfig, dict]:
    """`(config, params)` of a model directory or of a (possibly unfinished) training run."""
    model_dir = Path(model_dir)
    if not (model_dir / CONFIG_FILE).is_file():
        raise ValueError(f"{model_dir} is not a pointer model directory (no {CONFIG_FILE})")
    config = PointerConfig.from_json(model_dir / CONFIG_FILE)
    if (model_dir / PARAMS_FILE).is_file():
        template = jax.eval_shape(lambda key: init_params(config, key), jax.random.PRNGKey(0))
        params = serialization.msgpack_restore((model_dir / PARAMS_FILE).read_bytes())
        params = jax.tree_util.tree_map(jnp.asarray, params)
        shapes = jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), params)
        if shapes != jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), template):
            raise ValueError(f"{model_dir / PARAMS_FILE} does not match {CONFIG_FILE}")
        return config, params
    if latest_checkpoint(model_dir) is not None:
        from jaxshop_baselines.pointer.train import init_runner

        runner = restore_checkpoint(model_dir, init_runner(config, jax.random.PRNGKey(0)))
        return config, runner.params
    raise ValueError(f"{model_dir} has neither {PARAMS_FILE} nor a checkpoint")
