"""The on-disk XLA compilation cache of the `jaxshop` command, so a repeated command skips
the compiles it already did (compiles are most of a small `solve` or `eval` on a CPU).

JAX keys every entry by the program, the backend and the compile options, so an entry is
only ever reused for the identical program. Location: `$JAXSHOP_CACHE_DIR`, else
`$XDG_CACHE_HOME/jaxshop/xla`, else `~/.cache/jaxshop/xla`; `JAXSHOP_CACHE_DIR=off`
disables it. A cache directory already configured for JAX (`JAX_COMPILATION_CACHE_DIR`)
is left as it is. Importing `jaxshop` never enables it: only the command line does, so a
program that imports the library keeps its own JAX settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "JAXSHOP_CACHE_DIR"
OFF = ("off", "0", "none", "false", "no")
#: Programs that compile faster than this are not written (their entries cost more to
#: read than to rebuild).
MIN_COMPILE_SECONDS = 0.2


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
    return path
