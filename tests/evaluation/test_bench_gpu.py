"""Smoke test of the GPU benchmark `scripts/bench_gpu.py` on the CPU, at tiny sizes."""

from __future__ import annotations

import argparse
import json
import runpy
from pathlib import Path

import jax
import pytest

from jaxshop.options import UsageError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_gpu.py"


@pytest.fixture(scope="module")
def bench_gpu():
    """The script's globals (`main`, ...), loaded without running it as `__main__`."""
    return argparse.Namespace(**runpy.run_path(str(SCRIPT), run_name="bench_gpu_script"))


@pytest.mark.slow
def test_quick_run_reports_env_and_training_throughput(bench_gpu, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXSHOP_POINTER_FAST_COMPILE", "1")  # what --quick sets, restored
    out = tmp_path / "gpu.json"
    code = bench_gpu.main(["--quick", "--envs", "jssp_10x10_t99", "--policies", "first",
                           "--env-batches", "2", "--out", str(out), "--quiet"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["machine"]["device_kind"] == jax.devices()[0].device_kind
    assert report["machine"]["jax"] == jax.__version__
    s = report["settings"]
    assert s["quick"] and (s["env_batches"], s["train_batches"]) == ([2], [4])
    (env,) = report["env"]
    assert (env["case"], env["policy"], env["batch"]) == ("jssp_10x10_t99", "first", 2)
    assert env["steps_per_episode"] == 100 and env["complete_fraction"] == 1.0
    for key in ("decisions_per_s", "schedules_per_s", "seconds_per_call", "compile_s"):
        assert env[key] > 0, key
    assert env["decisions_per_s"] == pytest.approx(100 * env["schedules_per_s"])
    (train,) = report["train"]
    assert (train["case"], train["batch"], train["updates_per_call"]) == (
        "pointer_fjsp_10x5", 4, 1)
    for key in ("updates_per_s", "schedules_per_s", "compile_s", "mean_makespan_last"):
        assert train[key] > 0, key
    assert train["schedules_per_s"] == pytest.approx(4 * train["updates_per_s"])
    assert report["compile_s"]["train"] == train["compile_s"] and report["skipped"] == []
    on_gpu = report["machine"]["backend"] == "gpu"
    assert (report["target"]["met"] is None) == (not on_gpu)
    assert report["target"]["best_decisions_per_s"] == env["decisions_per_s"]


def test_time_cap_skips_and_options(bench_gpu, tmp_path, capsys):
    out = tmp_path / "none.json"
    assert bench_gpu.main(["--env-batches", "4,8", "--train-batches", "none", "--envs",
                           "fjsp_10x5", "--time-cap", "1e-9", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["env"] == [] and report["train"] == []
    assert len(report["skipped"]) == 4  # 2 batches x the 2 default policies, no training
    assert "not measured" in report["target"]["summary"]
    assert "Skipped after the 1e-09 s cap" in capsys.readouterr().out
    with pytest.raises(UsageError, match="--env-batches"):
        bench_gpu.main(["--env-batches", "0"])
    with pytest.raises(UsageError, match="--envs"):
        bench_gpu.main(["--envs", "nope"])
