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
import sys
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


def _closed_loop_callback(unraisable: Any) -> bool:
    """Whether an unraisable error is a late tensorstore callback into orbax's closed event
    loop (`RuntimeError: Event loop is closed` in asyncio's `call_soon_threadsafe`)."""
    err, tb = unraisable.exc_value, unraisable.exc_traceback
    if not isinstance(err, RuntimeError) or str(err) != "Event loop is closed":
        return False
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is None or "asyncio" in tb.tb_frame.f_code.co_filename


def _drop_closed_loop_callbacks() -> None:
    """After a failed restore (a truncated checkpoint), the reads still in flight finish
    later and hand their results to orbax's event loop, closed by then: each would print an
    `Event loop is closed` traceback (through `sys.unraisablehook`) after the one-line
    error. Those, and only those, are dropped, for the rest of the process."""
    previous = sys.unraisablehook
    if getattr(previous, "drops_closed_loop_callbacks", False):
        return

    def hook(unraisable: Any) -> None:
        if not _closed_loop_callback(unraisable):
            previous(unraisable)

    hook.drops_closed_loop_callbacks = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


@contextlib.contextmanager
def _quiet_orbax() -> Iterator[None]:
    """Silences orbax's and asyncio's log lines (warnings, unretrieved-future tracebacks of
    a failed read): a failure reaches the caller as one exception instead."""
    _drop_closed_loop_callbacks()
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


def _leaves(tree: Any) -> dict[str, Any]:
    """The pytree's leaves by position (`"0000"`, ...): the run checkpoint layout."""
    return {f"{i:04d}": leaf for i, leaf in enumerate(jax.tree_util.tree_leaves(tree))}


def save_leaves(run_dir: str | Path, tree: Any, step: int) -> int:
    """Writes a runner state (any pytree) as checkpoint `step` of the run, its leaves by
    position (blocking); returns the step."""
    return save_checkpoint(run_dir, _leaves(tree), step)


def restore_leaves(run_dir: str | Path, template: Any, step: int | None = None) -> Any:
    """The runner state of checkpoint `step` (default: latest) written by `save_leaves`,
    structured like `template`."""
    flat = restore_checkpoint(run_dir, _leaves(template), step)
    treedef = jax.tree_util.tree_structure(template)
    return jax.tree_util.tree_unflatten(treedef, [flat[k] for k in sorted(flat)])


def read_config(cls: type, path: str | Path) -> Any:
    """`cls.from_json(path)`; a one-line ValueError naming the file when it is unreadable."""
    path = Path(path)
    try:
        return cls.from_json(path)
    except ValueError as err:
        if str(path) in str(err):  # `JSONConfig.from_json` names the file already
            raise ValueError(one_line(err)) from None
        raise ValueError(f"{path}: not a valid {cls.__name__} ({one_line(err, 200)})") from None
    except (TypeError, KeyError, OSError) as err:
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


# --- What kind of model a folder holds -------------------------------------------------

DISTILL_FILE = "distill.json"  # a distillation run's config (its student's is config.json)
KERNEL_Q_FILE = "model.npz"  # a kernel-Q model's arrays (next to its config.json)

#: Every kind of model folder `model_kind` tells apart: how messages name it, and the
#: `--method` that reads it.
MODEL_KINDS: dict[str, tuple[str, str]] = {
    "pointer": ("a pointer model", "pointer"),
    "ppo": ("a ppo model", "ppo"),
    "ddqn": ("a ddqn model", "ddqn"),
    "ddqn-fab": ("a fab ddqn model", "ddqn"),
    "kernel-q": ("a kernel-q model", "kernel-q"),
    "student": ("a distilled student model", "student"),
    "mlp": ("an mlp student model", "mlp"),
}

#: `config.json` fields that only one agent's config has (checked against the config
#: classes by tests/agents/test_model_loading.py). An MLP student's config is `hidden` + `mode`.
MARKER_FIELDS: dict[str, frozenset[str]] = {
    "pointer": frozenset({"variant", "embed_dim", "glimpse", "tanh_clip"}),
    "ppo": frozenset({"clip_eps", "gae_lambda", "num_steps", "update_epochs", "vf_coef"}),
    "ddqn": frozenset({"rules", "buffer_size", "target_update_every", "eps_start"}),
    "kernel-q": frozenset({"rff", "lam", "sigma", "walk"}),
}
MLP_FIELDS = frozenset({"hidden", "mode"})

#: What a model folder of each method holds (messages for a folder that is no model).
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "kernel-q": (CONFIG_FILE, KERNEL_Q_FILE),
    "student": (CONFIG_FILE, PARAMS_FILE, DISTILL_FILE),
    "mlp": (CONFIG_FILE, PARAMS_FILE, DISTILL_FILE),
}


def _json_object(path: Path) -> dict | None:
    """The JSON object in `path`; None when absent, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def identify_model(path: str | Path) -> tuple[str | None, str]:
    """`(kind, evidence)`: the key of `MODEL_KINDS` the folder holds (None: none known)
    and the file that tells. Reads only small JSON files, never parameters:

    - `distill.json` (or a `meta.json` naming a student and teacher): a distilled student,
      `mlp` when its model config (or the run's `student`) is the MLP;
    - `model.npz`: kernel-q;
    - otherwise `config.json`'s fields: an MLP config is exactly `hidden` (+ `mode`), the
      other agents' by their `MARKER_FIELDS`; a ddqn config of env "fab" is `ddqn-fab`.
    """
    path = Path(path)
    if not path.is_dir():
        return None, ""
    config = _json_object(path / CONFIG_FILE)
    fields = set(config) if config is not None else set()
    is_mlp = "hidden" in fields and fields <= MLP_FIELDS
    meta = _json_object(path / META_FILE) or {}
    if (path / DISTILL_FILE).is_file() or {"student", "teacher"} <= set(meta):
        evidence = DISTILL_FILE if (path / DISTILL_FILE).is_file() else META_FILE
        run = _json_object(path / DISTILL_FILE) or meta
        mlp = is_mlp if config is not None else run.get("student") == "mlp"
        return ("mlp" if mlp else "student"), evidence
    if (path / KERNEL_Q_FILE).is_file():
        return "kernel-q", KERNEL_Q_FILE
    if config is None:
        return None, ""
    if is_mlp:
        return "mlp", CONFIG_FILE
    kind = max(MARKER_FIELDS, key=lambda k: len(fields & MARKER_FIELDS[k]))
    if not fields & MARKER_FIELDS[kind]:
        return None, ""
    if kind == "ddqn" and config.get("env") == "fab":
        kind = "ddqn-fab"
    return kind, CONFIG_FILE


def model_kind(path: str | Path) -> str | None:
    """The kind of model (a key of `MODEL_KINDS`) the folder holds; None when it is no
    folder or holds no model of any agent (see `identify_model`)."""
    return identify_model(path)[0]


def check_model_kind(path: str | Path, method: str,
                     accepts: tuple[str, ...] | None = None) -> Path:
    """`Path(path)` when it is a folder of a kind `method` reads (`accepts`, default
    `(method,)`); else a one-line ValueError that says what the folder is: missing, not
    a folder, no model (and the files expected), or another agent's model and the
    `--method` that reads it. A folder whose `config.json` is unreadable passes: the
    loader names that file."""
    path = Path(path)
    accepts = accepts or (method,)
    what = MODEL_KINDS.get(method, (f"a {method} model", method))[0]
    if not path.exists():
        raise ValueError(f"{method} model folder {path} does not exist")
    if not path.is_dir():
        raise ValueError(f"{path} is a file, not {what} folder")
    kind, evidence = identify_model(path)
    if kind in accepts:
        return path
    if kind is None:
        if (path / CONFIG_FILE).is_file():
            return path
        files = " + ".join(MODEL_FILES.get(method, (CONFIG_FILE, PARAMS_FILE)))
        run = "" if method == "kernel-q" else f", or a training run's {CHECKPOINT_DIR}/"
        raise ValueError(f"{path} holds no model: {what} folder has {files}{run}")
    name, reader = MODEL_KINDS[kind]
    raise ValueError(f"{path} is {name} (use --method {reader}:{path}), not {what} "
                     f"(judging by its {evidence})")


def abstract_key() -> jax.ShapeDtypeStruct:
    """The shape of `jax.random.PRNGKey(0)` without making one (which compiles): what a
    parameter template's `jax.eval_shape(init, key)` needs."""
    return jax.eval_shape(lambda: jax.random.PRNGKey(0))


def read_params(path: Path) -> Any:
    """The parameter tree of a `params.msgpack`; a one-line ValueError naming the file
    when it is damaged (truncated, garbage, not a tree of numeric arrays)."""
    try:
        tree = serialization.msgpack_restore(path.read_bytes())
    except Exception as err:  # msgpack raises several unrelated types on bad bytes
        raise ValueError(f"{path}: damaged or not a parameter file ({type(err).__name__}: "
                         f"{one_line(err, 120)})") from None
    leaves = jax.tree_util.tree_leaves(tree)
    if not isinstance(tree, dict) or not leaves or not all(
            isinstance(x, np.ndarray | np.number) and x.dtype.kind in "biuf" for x in leaves):
        raise ValueError(f"{path}: damaged or not a parameter file (no tree of numeric "
                         "arrays)")
    return tree


def load_model(model_dir: str | Path, config_cls: type, params_template: Callable[[Any], Any],
               params_from_checkpoint: Callable[[Path, Any], Any], kind: str,
               accepts: tuple[str, ...] | None = None) -> tuple[Any, Any]:
    """`(config, params)` of a model folder or of a (possibly unfinished) training run.

    `params_template(config)` gives the parameters' shapes (`jax.eval_shape` is enough);
    `params_from_checkpoint(run_dir, config)` restores them from the latest checkpoint.
    `kind` is the method reading it, `accepts` the `model_kind`s it reads (default
    `(kind,)`). Every problem is a one-line ValueError naming the folder or file (another
    agent's folder says which), found before anything is compiled.
    """
    model_dir = check_model_kind(model_dir, kind, accepts)
    if not (model_dir / CONFIG_FILE).is_file():
        if (model_dir / DISTILL_FILE).is_file():
            raise ValueError(f"{model_dir} is an unfinished distillation run (no student "
                             f"{CONFIG_FILE} yet; finish it with `jaxshop distill --resume "
                             f"--out {model_dir}`)")
        raise ValueError(f"{model_dir} is not a {kind} model folder (no {CONFIG_FILE})")
    config_path = model_dir / CONFIG_FILE
    config = read_config(config_cls, config_path)
    params_path = model_dir / PARAMS_FILE
    if params_path.is_file():
        params = read_params(params_path)
        template = params_template(config)
        shapes = jax.tree_util.tree_map(lambda x: (np.shape(x), np.dtype(x.dtype)), params)
        if shapes != jax.tree_util.tree_map(lambda x: (x.shape, np.dtype(x.dtype)), template):
            raise ValueError(f"{params_path} does not match {config_path} (other layers or "
                             "shapes: a damaged file or an edited config?)")
        check_finite(params, params_path)
        return config, jax.device_put(params)  # no compile (jnp.asarray compiles a copy)
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
