"""Layers: the env library `jaxshop` stands alone; the agents (`jaxshop_baselines`) build on
it, never the other way round."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jaxshop

PACKAGE = Path(jaxshop.__file__).parent
#: An import of the agents, in any form (`import jaxshop_baselines...`, `from
#: jaxshop_baselines... import`, `importlib.import_module("jaxshop_baselines...")`).
AGENTS_IMPORT = re.compile(
    r"^\s*(import|from)\s+jaxshop_baselines\b|import_module\(\s*[\"']jaxshop_baselines",
    re.MULTILINE,
)

#: Imports every module of `jaxshop` with `jaxshop_baselines` made unimportable.
IMPORT_ALL = """
import importlib, pkgutil, sys

class NoAgents:
    def find_spec(self, name, path=None, target=None):
        if name == "jaxshop_baselines" or name.startswith("jaxshop_baselines."):
            raise ImportError(f"the env library imported the agents: {name}")
        return None

sys.meta_path.insert(0, NoAgents())
import jaxshop

failed = []
def onerror(name):
    failed.append((name, repr(sys.exc_info()[1])))

names = [m.name for m in pkgutil.walk_packages(jaxshop.__path__, "jaxshop.", onerror=onerror)]
for name in names:
    try:
        importlib.import_module(name)
    except Exception as err:  # noqa: BLE001
        failed.append((name, repr(err)))
assert not failed, failed
assert not [m for m in sys.modules if m.startswith("jaxshop_baselines")]
print(len(names))
"""


@pytest.mark.slow
def test_every_jaxshop_module_imports_without_the_agents():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 20  # the walk found the package's modules


def test_no_jaxshop_file_imports_the_agents():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for text in [path.read_text(encoding="utf-8")]
        for m in AGENTS_IMPORT.finditer(text)
    ]
    assert not offenders, offenders

