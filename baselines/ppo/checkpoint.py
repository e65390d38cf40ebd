"""PPO saving and loading: orbax checkpoints of whole runs, small model directories.

- `<run>/checkpoints/<update>/` (orbax) holds the whole runner state (parameters,
  optimizer state, the vmapped env states and observations, PRNG key, update counter) as
  a flat list of arrays, so `--resume` continues exactly where the run stopped.
- A model is `<dir>/config.json` + `<dir>/params.msgpack`; `ppo:DIR` reads it, or the
  latest checkpoint of an unfinished run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import serialization
from jaxshop_baselines.ppo.config import PPOConfig

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
    leaves = jax.tree_util.tree_leaves(runner)
    return {f"{i:04d}": jnp.asarray(x) for i, x in enumerate(leaves)}


def save_checkpoint(run_dir: str | Path, runner) -> int:
    """Writes the runner as checkpoint `runner.update` (blocking); returns the step."""
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
    if not (Path(run_dir) / CHECKPOINT_DIR).is_dir():
        return None
    mngr = _manager(run_dir)
    try:
        return mngr.latest_step()
    finally:
        mngr.close()


def restore_checkpoint(run_dir: str | Path, template, step: int | None = None):
    """The runner of checkpoint `step` (default: latest), structured like `template`."""
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
    treedef = jax.tree_util.tree_structure(template)
    return jax.tree_util.tree_unflatten(treedef, [tree[k] for k in sorted(tree)])


def save_model(model_dir: str | Path, config: PPOConfig, params: dict,
               meta: dict[str, Any] | None = None) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    config.to_json(model_dir / CONFIG_FILE)
    (model_dir / PARAMS_FILE).write_bytes(serialization.to_bytes(jax.device_get(params)))
    if meta is not None:
        (model_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def load_model(model_dir: str | Path) -> tuple[PPOConfig, dict]:
    """`(config, params)` of a model directory or of a (possibly unfinished) run."""
    from jaxshop_baselines.ppo.train import init_runner

    model_dir = Path(model_dir)
    if not (model_dir / CONFIG_FILE).is_file():
        raise ValueError(f"{model_dir} is not a ppo model directory (no {CONFIG_FILE})")
    config = PPOConfig.from_json(model_dir / CONFIG_FILE)
    template = jax.eval_shape(lambda k: init_runner(config, k), jax.random.PRNGKey(0))
    if (model_dir / PARAMS_FILE).is_file():
        params = serialization.msgpack_restore((model_dir / PARAMS_FILE).read_bytes())
        params = jax.tree_util.tree_map(jnp.asarray, params)
        shapes = jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), params)
        if shapes != jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), template.params):
            raise ValueError(f"{model_dir / PARAMS_FILE} does not match {CONFIG_FILE}")
        return config, params
    if latest_checkpoint(model_dir) is not None:
        runner = restore_checkpoint(model_dir, init_runner(config, jax.random.PRNGKey(0)))
        return config, runner.params
    raise ValueError(f"{model_dir} has neither {PARAMS_FILE} nor a checkpoint")
