"""Saving and loading: orbax checkpoints of whole training runs, small model files.

- Training checkpoints (`<run>/checkpoints/<update>/`, orbax) hold the full runner state
  (parameters, optimizer state, PRNG key, update counter), so `--resume` continues
  exactly where the run stopped.
- A model (`<dir>/config.json` + `<dir>/params.msgpack`, flax serialization) is what
  inference needs; training writes it at the end and `pointer:DIR` reads it (falling back
  to the latest checkpoint of an unfinished run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.pointer.model import init_params

from jaxshop.options import one_line

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
    with _quiet_orbax():
        mngr = _manager(run_dir)
        try:
            return mngr.latest_step()
        finally:
            mngr.close()


@contextlib.contextmanager
def _quiet_orbax():
    """Silences orbax's and asyncio's log lines (warnings, unretrieved-future tracebacks of
    a failed read): a failure reaches the caller as one exception instead."""
    loggers = [logging.getLogger(name) for name in ("absl", "asyncio", "orbax")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers[:1], levels[:1], strict=True):
            lg.setLevel(level)  # asyncio and orbax stay quiet: failed futures log late


def _check_step_folder(step_dir: Path) -> None:
    """ValueError naming the folder when a checkpoint step is incomplete (e.g. empty)."""
    missing = [name for name in ("_CHECKPOINT_METADATA", "default/_METADATA")
               if not (step_dir / name).is_file()]
    if missing:
        raise ValueError(
            f"checkpoint {step_dir} is incomplete or corrupt (missing {', '.join(missing)}); "
            "remove that folder to resume from the checkpoint before it"
        )


def restore_checkpoint(run_dir: str | Path, template, step: int | None = None):
    """The runner state of checkpoint `step` (default: latest), shaped like `template`.

    A missing, incomplete or corrupt checkpoint is a one-line `ValueError` naming its folder.
    """
    import orbax.checkpoint as ocp

    with _quiet_orbax():
        mngr = _manager(run_dir)
        try:
            step = mngr.latest_step() if step is None else step
            if step is None:
                raise ValueError(f"no checkpoint in {Path(run_dir) / CHECKPOINT_DIR}")
            step_dir = Path(run_dir) / CHECKPOINT_DIR / str(step)
            _check_step_folder(step_dir)
            abstract = jax.tree_util.tree_map(
                lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), _as_tree(template)
            )
            try:
                tree = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
            except Exception as err:  # orbax / tensorstore raise many types on bad bytes
                raise ValueError(
                    f"checkpoint {step_dir} is unreadable ({type(err).__name__}: "
                    f"{one_line(err, 160)}); remove that folder to resume from the one before"
                ) from None
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


def read_config(path: str | Path) -> PointerConfig:
    """The config in `path`; a ValueError naming the file when it is unreadable."""
    path = Path(path)
    try:
        return PointerConfig.from_json(path)
    except (ValueError, TypeError, KeyError, OSError) as err:
        raise ValueError(f"{path}: not a valid pointer config ({one_line(err, 200)})") from None


def params_digest(params) -> str:
    """A short SHA-256 digest of the parameters (identifies a model in run records)."""
    blob = serialization.to_bytes(jax.device_get(params))
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:12]


def check_finite(params, source: str | Path) -> None:
    """ValueError when any parameter is NaN or infinite (a diverged or corrupted model)."""
    leaves = jax.tree_util.tree_leaves(jax.device_get(params))
    if not all(np.isfinite(np.asarray(x)).all() for x in leaves):
        raise ValueError(f"{source}: the parameters hold NaN or infinite values; the model is "
                         "unusable (a diverged run?)")


def load_model(model_dir: str | Path) -> tuple[PointerConfig, dict]:
    """`(config, params)` of a model directory or of a (possibly unfinished) training run.

    Every failure is a one-line `ValueError` naming the file: a missing or corrupt
    `config.json` / `params.msgpack`, parameters that do not match the config, and
    parameters that are not finite.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"pointer model folder {model_dir} does not exist")
    if not (model_dir / CONFIG_FILE).is_file():
        raise ValueError(f"{model_dir} is not a pointer model directory (no {CONFIG_FILE})")
    config = read_config(model_dir / CONFIG_FILE)
    params_path = model_dir / PARAMS_FILE
    if params_path.is_file():
        template = jax.eval_shape(lambda key: init_params(config, key), jax.random.PRNGKey(0))
        try:
            params = serialization.msgpack_restore(params_path.read_bytes())
            params = jax.tree_util.tree_map(jnp.asarray, params)
        except Exception as err:  # msgpack raises several unrelated types on bad bytes
            raise ValueError(f"{params_path}: unreadable parameters ({one_line(err, 200)})"
                             ) from None
        shapes = jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), params)
        if shapes != jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), template):
            raise ValueError(f"{params_path} does not match {model_dir / CONFIG_FILE}")
        check_finite(params, params_path)
        return config, params
    if latest_checkpoint(model_dir) is not None:
        from jaxshop_baselines.pointer.train import init_runner

        runner = restore_checkpoint(model_dir, init_runner(config, jax.random.PRNGKey(0)))
        check_finite(runner.params, model_dir / CHECKPOINT_DIR)
        return config, runner.params
    raise ValueError(f"{model_dir} has neither {PARAMS_FILE} nor a checkpoint")
