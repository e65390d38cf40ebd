"""The command line's on-disk XLA compilation cache (`jaxshop.xla_cache`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
        [sys.executable, "-m", "jaxshop.cli", "solve", "ft06", "--method", "pointer", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=300,
    )
    files = {str(p): p.stat().st_mtime for p in cache.rglob("*") if p.is_file()}
    return json.loads(out.stdout), files


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
