"""Smoke tests of the env benchmark (`jaxshop_baselines.bench`, `jaxshop bench`) and of its report
harness `scripts/bench_envs.py` (Jumanji peers, ratios, goal): structure and positive
numbers, no timings."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxshop_baselines import bench
from jaxshop_baselines.cli import main as cli_main

from jaxshop.options import UsageError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_envs.py"


@pytest.fixture(scope="module")
def harness():
    """`scripts/bench_envs.py` as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_envs_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_cli_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    # `--` because the `jaxshop` parser's REMAINDER does not take a leading option.
    code = cli_main([
        "bench", "--", "--cases", "pfsp_20x5", "--batch", "2", "--repeats", "1",
        "--min-seconds", "0", "--target-decisions", "1", "--out", str(out), "--quiet",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report) >= {"machine", "settings", "results", "total_seconds", "argv"}
    assert report["machine"]["jax"] == jax.__version__ and report["machine"]["cpu_count"] >= 1
    assert report["settings"]["batches"] == [2] and report["settings"]["cases"] == ["pfsp_20x5"]
    (r,) = report["results"]
    assert (r["case"], r["impl"], r["policy"], r["batch"]) == ("pfsp_20x5", "jaxshop", "random", 2)
    for key in ("decisions_per_s", "schedules_per_s", "operations_per_s", "compile_s",
                "seconds_per_call_median", "peak_rss_mb_process_so_far", "mean_makespan"):
        assert r[key] > 0, key
    assert r["complete_fraction"] == 1.0 and r["mean_operations_per_schedule"] == 20
    assert len(r["repeats"]) == 1 and r["repeats"][0]["episodes"] == 2 * r["rounds_per_call"]
    assert printed.startswith("| case | impl | policy | batch | decisions/s | schedules/s")
    assert "| pfsp_20x5 | jaxshop | random | 2 |" in printed


def test_throughput_api_with_a_callable_policy():
    from jaxshop.pfsp import PermutationFlowShop, UniformPFSPGenerator
    from jaxshop.rollout import first_valid_action

    env = PermutationFlowShop(UniformPFSPGenerator(4, 2, 1, 9))

    def lowest(key, state):
        return first_valid_action(env.action_mask(state))

    r = bench.throughput(env, 3, lowest, repeats=2, min_seconds=0, target_decisions=20)
    assert (r["batch"], r["policy"], r["steps_per_episode"], r["rounds_per_call"]) == (
        3, "lowest", 4, 2
    )
    assert len(r["repeats"]) == 2 and r["complete_fraction"] == 1.0
    assert r["decisions_per_s"] == pytest.approx(4 * r["schedules_per_s"])
    assert r["compile_s"] > 0 and r["warmup_s"] > 0 and r["schedules_per_cpu_s"] > 0
    with pytest.raises(ValueError, match="policy"):
        bench.throughput(env, 3, "greedy")


def test_bad_arguments(capsys):
    with pytest.raises(UsageError, match="--cases: unknown case 'nope'"):
        bench.main(["--cases", "nope"])
    with pytest.raises(UsageError, match="--batch"):
        bench.main(["--batch", "0"])
    with pytest.raises(UsageError, match="scripts/bench_envs.py --peers"):
        bench.main(["--cases", "jssp_10x10_t6", "--peers"])
    assert bench.case_list("jssp") == [c for c in bench.CASES if c.startswith("jssp_")]
    assert bench.policy_list("random,random-kth,first,random-per-action") == [
        "random", "first", "random-per-action"
    ]
    with pytest.raises(argparse.ArgumentTypeError):
        bench.policy_list("greedy")
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------- the harness


def _row(case, impl, schedules, ops, batch=1024):
    return {
        "case": case, "impl": impl, "policy": "random", "batch": batch,
        "decisions_per_s": 10.0, "schedules_per_s": schedules, "operations_per_s": ops,
        "schedules_per_cpu_s": schedules, "mean_makespan": 5.0, "compile_s": 1.0,
        "seconds_per_call_median": 0.1, "peak_rss_mb_process_so_far": 100.0,
        "complete_fraction": 1.0,
    }


def test_harness_report_with_peers_append_and_markdown(harness, monkeypatch, tmp_path, capsys):
    # Canned measurements: this tests the report, not the timing (tested above).
    monkeypatch.setattr(bench, "run_case", lambda case, batch, policy, **kw: _row(
        case.name, "jaxshop", 600.0, 60.0, batch))
    monkeypatch.setattr(harness, "run_jumanji", lambda case, batch, policy, args: _row(
        case.name, "jumanji", 200.0, 40.0, batch))
    monkeypatch.setattr(harness, "jumanji_available", lambda: True)
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    argv = ["--cases", "jssp_10x10_t6", "--batch", "1024", "--peers", "--out", str(out),
            "--markdown", str(md), "--quiet"]
    assert harness.main(argv) == 0
    assert harness.main(argv + ["--cases", "pfsp_20x5", "--append"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert [len(report["invocations"]), len(report["results"])] == [2, 3]
    assert [r["invocation"] for r in report["results"]] == [0, 0, 1]
    first = report["invocations"][0]
    assert first["settings"]["peers"] is True and "env.py" in first["source_sha256"]
    assert report["load_before"]["uptime"] is not None and "jumanji" in report["machine"]
    assert set(report["case_descriptions"]) == {"jssp_10x10_t6", "pfsp_20x5"}
    (ratio,) = report["peer_ratios"]
    assert ratio["schedules_ratio"] == 3.0 and ratio["operations_ratio"] == 1.5
    assert report["goal"]["met"] is False and "NOT met" in report["goal"]["summary"]
    table = md.read_text()
    assert table.startswith("| case | impl | policy | batch | decisions/s | schedules/s")
    assert "| jssp_10x10_t6 | random | 1024 | 600 | 200 | 3x |" in table
    assert "| pfsp_20x5 | jaxshop | random | 1024 |" in table and table.strip() in printed


def test_harness_refuses_to_append_to_another_file(harness, tmp_path):
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(UsageError, match="cannot --append"):
        harness.main(["--cases", "pfsp_20x5", "--out", str(other), "--append", "--quiet"])


@pytest.mark.parametrize("name", ["jumanji_kth_random_valid_action",
                                  "jumanji_random_valid_action"])
def test_jumanji_peer_policies_pick_valid_jobs(harness, name):
    choose = getattr(harness, name)
    num_jobs = 7
    mask = np.random.default_rng(0).random((4, num_jobs + 1)) < 0.5
    mask[2, :num_jobs] = False  # a machine with no valid job gets the no-op
    keys = jax.random.split(jax.random.PRNGKey(0), 1000)
    acts = np.asarray(jax.jit(jax.vmap(lambda k: choose(k, jnp.asarray(mask), num_jobs)))(keys))
    for m in range(4):
        valid = set(np.flatnonzero(mask[m, :num_jobs])) or {num_jobs}
        assert set(acts[:, m]) == valid  # only valid jobs, and every one of them drawn


@pytest.mark.slow
def test_jumanji_peer_smoke(harness):
    pytest.importorskip("jumanji")
    fn, settings = harness.build_jumanji(
        {"num_jobs": 3, "num_machines": 2, "max_num_ops": 2, "max_op_duration": 3}, 2, 1
    )
    result = bench.summarize(bench.measure(fn, repeats=1, min_seconds=0))
    assert result["complete_fraction"] == 1.0  # the non-idling random policy never stalls
    assert result["schedules_per_s"] > 0 and result["decisions_per_s"] > 0
    assert settings["rounds_per_call"] == 1


def test_write_report_stamps_and_writes_json(tmp_path, capsys):
    import numpy as np
    from jaxshop_baselines.bench import write_report

    path = write_report(tmp_path / "deep" / "r.json", {"rate": np.float32(2.5), "rows": [1]})
    report = json.loads(path.read_text())
    assert report["rate"] == 2.5 and report["rows"] == [1]
    assert report["finished"] and report["machine"]["cpu_count"] >= 1
    assert str(path) in capsys.readouterr().out
