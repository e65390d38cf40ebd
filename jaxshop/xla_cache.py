"""The on-disk XLA compilation cache of the `jaxshop` command, so a repeated command skips
the compiles it already did (compiles are most of a small `solve` or `eval` on a CPU).

JAX keys every entry by the program, the backend and the compile options, so an entry is
only ever reused for the identical program. Location: `$JAXSHOP_CACHE_DIR`, else
`$XDG_CACHE_HOME/jaxshop/xla`, else `~/.cache/jaxshop/xla`; `JAXSHOP_CACHE_DIR=off`
disables it. A cache directory already configured for JAX (`JAX_COMPILATION_CACHE_DIR`)
is left as it is. Importing `jaxshop` never enables it: only the command line does, so a
program that imports the library keeps its own JAX settings.

JAX traces and lowers a function before it can look its compile up, and for the pointer
decoders that is about a second per instance shape. `reuse_traces` wraps such a jitted
function so that, while the cache is on, its lowered program is stored (`jax.export`,
in `traces/` of the cache folder) under a key of everything it depends on: the caller's
name for it, its static arguments, the structure, shapes and dtypes of the others, the
versions of JAX and jaxlib, the backend and a digest of this package's source code. A
repeated command then loads the program instead of tracing it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
from jax.tree_util import PyTreeDef

ENV = "JAXSHOP_CACHE_DIR"
OFF = ("off", "0", "none", "false", "no")
#: Programs that compile faster than this are not written (their entries cost more to
#: read than to rebuild).
MIN_COMPILE_SECONDS = 0.2
TRACES = "traces"  # subfolder of the cache with the stored (traced, lowered) programs
_TRACE_DIR: list[Path] = []  # the folder `reuse_traces` uses; empty while off


def cache_dir() -> Path | None:
    """Where the command's cache lives, or None when `JAXSHOP_CACHE_DIR` turns it off."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in OFF or not value.strip() else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxshop" / "xla"


def enable() -> Path | None:
    """Points JAX's persistent compilation cache at `cache_dir()`; returns the folder in
    use (JAX's own when one is configured), or None when off or the folder cannot be
    created (the command then runs without a cache)."""
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    _enable_traces(path / TRACES)
    return path


def _enable_traces(folder: Path) -> None:
    try:
        import flatbuffers  # noqa: F401 (jax.export's serialization needs it)

        folder.mkdir(parents=True, exist_ok=True)
    except (ImportError, OSError):
        return
    _TRACE_DIR[:] = [folder]


@functools.cache
def source_digest() -> str:
    """sha256 of every `.py` file of `jaxshop` and `jaxshop_baselines` (paths and bytes):
    a stored program is only reused by the code that wrote it."""
    import importlib.util

    digest = hashlib.sha256()
    for name in ("jaxshop", "jaxshop_baselines"):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for file in sorted(root.rglob("*.py")):
            digest.update(f"{name}/{file.relative_to(root).as_posix()}\0".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def reuse_traces(fun: Callable, name: str, static_argnums: tuple[int, ...] = ()) -> Callable:
    """`fun` (a `jax.jit` function of array pytrees and the hashable `static_argnums`)
    that, while the cache is on and one device is in use, loads its lowered program from
    the cache instead of tracing it again; otherwise it simply calls `fun`.

    `name` must name everything `fun` closes over that changes the program (its config,
    mode, sizes): it is part of the key, with the static arguments, the argument
    structure, shapes and dtypes, the JAX versions, the backend and `source_digest()`.
    """
    loaded: dict[str, tuple[Callable, PyTreeDef] | None] = {}  # key -> (program, out tree)

    def call(*args: Any) -> Any:  # pytrees of arrays, as `fun` takes and gives
        if not _TRACE_DIR or jax.device_count() != 1:
            return fun(*args)
        static = tuple(args[i] for i in static_argnums)
        dynamic = [a for i, a in enumerate(args) if i not in static_argnums]
        leaves, in_tree = jax.tree_util.tree_flatten(dynamic)
        leaves = [jax.numpy.asarray(x) for x in leaves]
        key = _trace_key(name, static, in_tree, leaves)
        if key not in loaded:
            try:
                loaded[key] = _load_or_export(fun, key, args, static_argnums, in_tree, leaves)
            except Exception:  # a program jax.export cannot store runs the plain way
                loaded[key] = None
        if loaded[key] is None:
            return fun(*args)
        program, out_tree = loaded[key]
        return jax.tree_util.tree_unflatten(out_tree, program(*leaves))

    return call


def _trace_key(name: str, static: tuple, in_tree: PyTreeDef, leaves: list[jax.Array]) -> str:
    import jaxlib

    parts = (name, repr(static), str(in_tree),
             [(tuple(x.shape), str(x.dtype), bool(getattr(x, "weak_type", False)))
              for x in leaves],
             jax.__version__, jaxlib.__version__, jax.default_backend(),
             jax.devices()[0].device_kind, source_digest())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _load_or_export(fun: Callable, key: str, args: tuple, static_argnums: tuple[int, ...],
                    in_tree: PyTreeDef, leaves: list[jax.Array]
                    ) -> tuple[Callable, PyTreeDef]:
    from jax import export

    folder = _TRACE_DIR[0]
    program_file, tree_file = folder / f"{key}.jaxexport", folder / f"{key}.tree"
    try:
        exported = export.deserialize(bytearray(program_file.read_bytes()))
        out_tree = pickle.loads(tree_file.read_bytes())
    except Exception:  # missing, partial or from another version: trace it again
        out_trees = []
        positions = [i for i in range(len(args)) if i not in static_argnums]

        def flat(*xs: jax.Array) -> list[jax.Array]:
            full = list(args)
            for i, value in zip(positions, jax.tree_util.tree_unflatten(in_tree, xs),
                                strict=True):
                full[i] = value
            out, tree = jax.tree_util.tree_flatten(fun(*full))
            out_trees.append(tree)
            return out

        exported = export.export(jax.jit(flat))(*leaves)
        out_tree = out_trees[0]
        _write_atomic(program_file, bytes(exported.serialize()))
        _write_atomic(tree_file, pickle.dumps(out_tree))
    return jax.jit(exported.call), out_tree


def _write_atomic(path: Path, data: bytes) -> None:
    """Writes `path` through a temporary file and a rename, so a reader never sees half a
    file; a cache that cannot be written is skipped."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
