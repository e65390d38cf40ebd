"""Saving and loading for every agent: orbax run checkpoints and small model folders.

One place for what every trainer needs, so each agent's own `checkpoint` module only says
what its runner and config are:

- Run checkpoints (`<run>/checkpoints/<step>/`, orbax) hold any pytree (parameters,
  optimizer state, PRNG key, counters, env states), so a resumed run repeats the
  uninterrupted one exactly. A missing, incomplete or corrupt checkpoint is a one-line
  `ValueError` naming its folder (orbax's own log lines are silenced).
- A model folder (`config.json` + `params.msgpack` + optional `meta.json`) is what
  inference reads. Loading names the file at fault: unreadable config or parameters,
  parameters that do not match the config, and parameters that are NaN or infinite.
- `check_training_finite` stops a diverging run before any of its bad chunk is saved;
  `read_rows` / `write_rows` keep a run's metrics CSV in step with its checkpoints.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxshop.options import one_line

CONFIG_FILE = "config.json"
PARAMS_FILE = "params.msgpack"
META_FILE = "meta.json"
CHECKPOINT_DIR = "checkpoints"


@contextlib.contextmanager
def _quiet_orbax() -> Iterator[None]:
    """Silences orbax's and asyncio's log lines (warnings, unretrieved-future tracebacks of
    a failed read): a failure reaches the caller as one exception instead."""
    absl = logging.getLogger("absl")
    level = absl.level
    for name in ("absl", "asyncio", "orbax"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        absl.setLevel(level)  # asyncio and orbax stay quiet: failed futures log late


def _manager(run_dir: str | Path, max_to_keep: int = 3):
    import orbax.checkpoint as ocp

    _primary_writes_arrays()

    path = (Path(run_dir) / CHECKPOINT_DIR).resolve()
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(path, options=options)


@functools.cache
def _primary_writes_arrays() -> None:
    """Multi-host runs: every process calls `save_checkpoint` (orbax coordinates them),
    and the arrays, replicated parameters and optimizer state, are written once, by
    replica 0 on process 0 (orbax would otherwise split the writing over the replicas)."""
    import orbax.checkpoint as ocp

    handler = ocp.type_handlers.ArrayHandler(use_replica_parallel=False)
    with _quiet_orbax():
        ocp.type_handlers.register_type_handler(jax.Array, handler, override=True)


def save_checkpoint(run_dir: str | Path, tree: Any, step: int) -> int:
    """Writes `tree` as checkpoint `step` of the run (blocking); returns the step."""
    import orbax.checkpoint as ocp

    mngr = _manager(run_dir)
    try:
        mngr.save(int(step), args=ocp.args.StandardSave(tree), force=True)
        mngr.wait_until_finished()
    finally:
        mngr.close()
    return int(step)


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


def _check_step_folder(step_dir: Path) -> None:
    """ValueError naming the folder when a checkpoint step is incomplete (e.g. empty)."""
    missing = [name for name in ("_CHECKPOINT_METADATA", "default/_METADATA")
               if not (step_dir / name).is_file()]
    if missing:
        raise ValueError(
            f"checkpoint {step_dir} is incomplete or corrupt (missing {', '.join(missing)}); "
            "remove that folder to resume from the checkpoint before it"
        )


def _abstract(x: Any) -> jax.ShapeDtypeStruct:
    """Shape, dtype and, for a placed `jax.Array`, its sharding (a multi-device or
    multi-host run restores straight onto its mesh)."""
    sharding = x.sharding if isinstance(x, jax.Array) else None
    return jax.ShapeDtypeStruct(np.shape(x), jnp.asarray(x).dtype, sharding=sharding)


def restore_checkpoint(run_dir: str | Path, template: Any, step: int | None = None) -> Any:
    """Checkpoint `step` (default: latest) of the run, shaped like the pytree `template`."""
    import orbax.checkpoint as ocp

    with _quiet_orbax():
        mngr = _manager(run_dir)
        try:
            step = mngr.latest_step() if step is None else step
            if step is None:
                raise ValueError(f"no checkpoint in {Path(run_dir) / CHECKPOINT_DIR}")
            step_dir = Path(run_dir) / CHECKPOINT_DIR / str(step)
            _check_step_folder(step_dir)
            abstract = jax.tree_util.tree_map(_abstract, template)
            try:
                return mngr.restore(step, args=ocp.args.StandardRestore(abstract))
            except Exception as err:  # orbax / tensorstore raise many types on bad bytes
                raise ValueError(
                    f"checkpoint {step_dir} is unreadable ({type(err).__name__}: "
                    f"{one_line(err, 160)}); remove that folder to resume from the one before"
                ) from None
        finally:
            mngr.close()


def read_config(cls: type, path: str | Path) -> Any:
    """`cls.from_json(path)`; a ValueError naming the file when it is unreadable."""
    path = Path(path)
    try:
        return cls.from_json(path)
    except (ValueError, TypeError, KeyError, OSError) as err:
        raise ValueError(f"{path}: not a valid {cls.__name__} ({one_line(err, 200)})") from None


def params_digest(params: Any) -> str:
    """A short SHA-256 digest of the parameters (identifies a model in run records)."""
    blob = serialization.to_bytes(jax.device_get(params))
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:12]


def count_params(params: Any) -> int:
    """The number of scalars in a parameter tree (a model's size in every record)."""
    return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))


def check_finite(params: Any, source: str | Path) -> None:
    """ValueError when any parameter is NaN or infinite (a diverged or corrupted model)."""
    leaves = jax.tree_util.tree_leaves(jax.device_get(params))
    if not all(np.isfinite(np.asarray(x)).all() for x in leaves):
        raise ValueError(f"{source}: the parameters hold NaN or infinite values; the model is "
                         "unusable (a diverged run?)")


def save_model(model_dir: str | Path, config: Any, params: Any,
               meta: dict[str, Any] | None = None) -> None:
    """Writes `config.json` (`config.to_json`), `params.msgpack` and optionally `meta.json`."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    config.to_json(model_dir / CONFIG_FILE)
    (model_dir / PARAMS_FILE).write_bytes(serialization.to_bytes(jax.device_get(params)))
    if meta is not None:
        (model_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def load_model(model_dir: str | Path, config_cls: type, params_template: Callable[[Any], Any],
               params_from_checkpoint: Callable[[Path, Any], Any], kind: str
               ) -> tuple[Any, Any]:
    """`(config, params)` of a model folder or of a (possibly unfinished) training run.

    `params_template(config)` gives the parameters' shapes (`jax.eval_shape` is enough);
    `params_from_checkpoint(run_dir, config)` restores them from the latest checkpoint.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"{kind} model folder {model_dir} does not exist")
    if not (model_dir / CONFIG_FILE).is_file():
        raise ValueError(f"{model_dir} is not a {kind} model directory (no {CONFIG_FILE})")
    config = read_config(config_cls, model_dir / CONFIG_FILE)
    params_path = model_dir / PARAMS_FILE
    if params_path.is_file():
        template = params_template(config)
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
        params = params_from_checkpoint(model_dir, config)
        check_finite(params, model_dir / CHECKPOINT_DIR)
        return config, params
    raise ValueError(f"{model_dir} has neither {PARAMS_FILE} nor a checkpoint")


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: the run stops and keeps its last good checkpoint."""


def check_training_finite(metrics: dict[str, Any], names: tuple[str, ...], done: int,
                          run_dir: Path, hint: str = "try a smaller --lr") -> None:
    """Raises `TrainingDiverged` when a chunk's metrics `names` (per update) are not all
    finite; call it before anything of the chunk is saved."""
    bad = np.zeros(np.shape(metrics[names[0]]), bool)
    for name in names:
        bad |= ~np.isfinite(np.asarray(metrics[name]))
    if bad.any():
        first = done + int(np.argmax(bad.reshape(-1))) + 1
        last = latest_checkpoint(run_dir)
        kept = (f"the last good checkpoint is update {last}" if last is not None
                else "no checkpoint was written")
        raise TrainingDiverged(
            f"training diverged: non-finite loss at update {first}; stopped, {kept} in "
            f"{run_dir} ({hint})"
        )


def check_resume_steps(run_dir: Path, done: int, total: int) -> None:
    """Refuses to resume a run to fewer updates than it has already done."""
    if done > total:
        raise ValueError(f"--resume: --steps {total} is fewer than the {done} updates already "
                         f"done in {run_dir}")


def read_rows(path: Path, upto: int) -> list[dict[str, str]]:
    """The rows of a run's metrics CSV up to update `upto` (none when the file is absent)."""
    if not path.is_file():
        return []
    with path.open() as f:
        return [r for r in csv.DictReader(f) if int(r["update"]) <= upto]


def write_rows(path: Path, rows: list[dict], mode: str, fields: tuple[str, ...]) -> None:
    """Writes (`mode="w"`, with header) or appends (`"a"`) rows of a run's metrics CSV."""
    with path.open(mode, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if mode == "w":
            writer.writeheader()
        writer.writerows(rows)
