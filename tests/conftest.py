"""Test configuration: CPU-friendly hypothesis settings, shared data paths, and XLA's
backend optimization level 0 for every compile of the test process (the tests' programs
are tiny: compiling dominates, and level 0 compiles several times faster; programs mean
the same at every level). Set XLA_FLAGS yourself to test at another level. The command
line's compilation cache is off unless `JAXSHOP_CACHE_DIR` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0").strip()

# The command line's on-disk compilation cache stays off in tests (hermetic runs);
# tests/cli/test_xla_cache.py turns it on for its own subprocesses.
os.environ.setdefault("JAXSHOP_CACHE_DIR", "off")

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
#: Benchmark instance files: the shared notes beside the repo, else the packaged copies.
SHARED_BENCHMARKS = (
    _SHARED if _SHARED.is_dir()
    else Path(__file__).resolve().parents[1] / "jaxshop" / "instances" / "data"
)


@pytest.fixture(scope="module")
def fast_compile() -> Iterator[None]:
    """The pointer's fast-compile switch on for a whole test module (tiny programs: the
    compile dominates). Use as `pytestmark = pytest.mark.usefixtures("fast_compile")`."""
    from jaxshop_baselines.pointer.config import FAST_COMPILE_ENV

    mp = pytest.MonkeyPatch()
    mp.setenv(FAST_COMPILE_ENV, "1")
    yield
    mp.undo()
