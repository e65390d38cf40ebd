"""The command line's on-disk XLA compilation cache (`jaxshop.xla_cache`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshop import xla_cache


@pytest.mark.parametrize("value", ["off", "0", "none", "", " OFF "])
def test_off_values_disable_the_cache(monkeypatch, value):
    monkeypatch.setenv(xla_cache.ENV, value)
    assert xla_cache.cache_dir() is None


def test_location(monkeypatch, tmp_path):
    monkeypatch.setenv(xla_cache.ENV, str(tmp_path / "here"))
    assert xla_cache.cache_dir() == tmp_path / "here"
    monkeypatch.delenv(xla_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert xla_cache.cache_dir() == tmp_path / "xdg" / "jaxshop" / "xla"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert xla_cache.cache_dir() == Path.home() / ".cache" / "jaxshop" / "xla"


def _solve(cache: Path) -> tuple[dict, dict[str, float]]:
    env = {**os.environ, xla_cache.ENV: str(cache), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-m", "jaxshop_baselines.cli", "solve", "ft06", "--method", "pointer",
         "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=300,
    )
    files = {str(p): p.stat().st_mtime for p in cache.rglob("*") if p.is_file()}
    return json.loads(out.stdout), files


@pytest.mark.slow
def test_a_repeated_command_reads_the_cache_and_answers_the_same(tmp_path):
    """The first run writes compiled programs; the second reads them back (it compiles
    nothing new, so no entry is written again) and gives the same schedule."""
    cache = tmp_path / "xla"
    first, written = _solve(cache)
    assert written, "the first run wrote no cache entry"
    second, after = _solve(cache)
    assert second["makespan"] == first["makespan"] == 70  # the shipped model's ft06 answer
    rewritten = [f for f in written if after.get(f) != written[f]]
    new = set(after) - set(written)
    assert not [f for f in new | set(rewritten) if "-atime" not in f], (new, rewritten)
    assert any(f"/{xla_cache.TRACES}/" in f for f in written), "no stored trace"


class Pair(NamedTuple):
    total: jax.Array
    scaled: jax.Array


def _traced_fn(counter: list):
    def f(x, tree, times):
        counter.append(1)  # runs only while JAX traces f
        return Pair(x.sum() + tree["b"].sum(), x * times)

    return jax.jit(f, static_argnums=2)


def test_reuse_traces_stores_and_loads_the_lowered_program(monkeypatch, tmp_path):
    monkeypatch.setattr(xla_cache, "_TRACE_DIR", [tmp_path])
    x, tree = jnp.arange(6.0).reshape(2, 3), {"b": jnp.ones(4, jnp.int32)}
    want = _traced_fn([])(x, tree, 3)
    traces: list = []
    got = xla_cache.reuse_traces(_traced_fn(traces), "f", static_argnums=(2,))(x, tree, 3)
    assert len(traces) == 1 and len(list(tmp_path.glob("*.jaxexport"))) == 1
    assert isinstance(got, Pair)
    np.testing.assert_array_equal(got.scaled, want.scaled)
    assert float(got.total) == float(want.total)
    # A new wrapper (a new process) loads the program: the Python function never runs.
    again: list = []
    fresh = xla_cache.reuse_traces(_traced_fn(again), "f", static_argnums=(2,))
    np.testing.assert_array_equal(fresh(x + 1, tree, 3).scaled, (x + 1) * 3)
    assert again == []
    # Another static value, shape or name is another program; a damaged file is rebuilt.
    fresh(x, tree, 4)
    fresh(jnp.ones((5, 3)), tree, 3)
    xla_cache.reuse_traces(_traced_fn(again), "g", static_argnums=(2,))(x, tree, 3)
    assert len(again) == 3 and len(list(tmp_path.glob("*.jaxexport"))) == 4
    for file in tmp_path.glob("*.jaxexport"):
        file.write_bytes(b"broken")
    rebuilt: list = []
    out = xla_cache.reuse_traces(_traced_fn(rebuilt), "f", static_argnums=(2,))(x, tree, 3)
    assert rebuilt == [1] and float(out.total) == float(want.total)


def test_reuse_traces_is_a_plain_call_while_off(monkeypatch):
    monkeypatch.setattr(xla_cache, "_TRACE_DIR", [])
    traces: list = []
    wrapped = xla_cache.reuse_traces(_traced_fn(traces), "f", static_argnums=(2,))
    wrapped(jnp.ones(2), {"b": jnp.ones(1)}, 2)
    wrapped(jnp.ones(2), {"b": jnp.ones(1)}, 2)
    assert traces == [1]  # jax.jit's own cache, nothing stored


def test_reuse_traces_falls_back_to_the_plain_call(monkeypatch, tmp_path):
    """A program jax.export cannot store runs as before, and nothing is written."""
    from jax import export

    def refuse(*_, **__):
        raise NotImplementedError("not exportable")

    monkeypatch.setattr(xla_cache, "_TRACE_DIR", [tmp_path])
    monkeypatch.setattr(export, "export", refuse)
    traces: list = []
    wrapped = xla_cache.reuse_traces(_traced_fn(traces), "f", static_argnums=(2,))
    out = wrapped(jnp.ones(3), {"b": jnp.ones(2)}, 2)
    assert float(out.total) == 5.0 and list(tmp_path.iterdir()) == []
