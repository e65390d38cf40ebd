"""Smoke tests of the env benchmark: output structure and positive numbers, no timings."""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshop import bench
from jaxshop.cli import main as cli_main
from jaxshop.options import UsageError


def test_bench_smoke_json_and_markdown(tmp_path, capsys):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    # `--` because the `jaxshop` parser's REMAINDER does not take a leading option.
    code = cli_main([
        "bench", "--", "--cases", "pfsp_20x5", "--batch", "2", "--repeats", "1",
        "--min-seconds", "0", "--target-decisions", "1", "--out", str(out),
        "--markdown", str(md), "--quiet",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report) >= {
        "machine", "load_before", "load_after", "invocations", "results", "peer_ratios", "notes",
    }
    (run,) = report["invocations"]
    assert run["settings"]["batches"] == [2] and run["total_seconds"] > 0
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["jax"] == jax.__version__
    assert report["load_before"]["uptime"] is not None
    (r,) = report["results"]
    assert (r["case"], r["impl"], r["policy"], r["batch"]) == ("pfsp_20x5", "jaxshop", "random", 2)
    for key in ("decisions_per_s", "schedules_per_s", "operations_per_s", "compile_s",
                "seconds_per_call_median", "peak_rss_mb_process_so_far", "mean_makespan"):
        assert r[key] > 0, key
    assert r["complete_fraction"] == 1.0 and r["mean_operations_per_schedule"] == 20
    assert len(r["repeats"]) == 1 and r["repeats"][0]["episodes"] == 2 * r["rounds_per_call"]
    assert report["peer_ratios"] == [] and report["goal"] is None
    table = md.read_text()
    assert table.startswith("| case | impl | policy | batch | decisions/s | schedules/s")
    assert "| pfsp_20x5 | jaxshop | random | 2 |" in table and table.strip() in printed


@pytest.mark.parametrize(
    "choose", [bench.jumanji_kth_random_valid_action, bench.jumanji_random_valid_action]
)
def test_jumanji_peer_policies_pick_valid_jobs(choose):
    num_jobs = 7
    mask = np.random.default_rng(0).random((4, num_jobs + 1)) < 0.5
    mask[2, :num_jobs] = False  # a machine with no valid job gets the no-op
    keys = jax.random.split(jax.random.PRNGKey(0), 1000)
    acts = np.asarray(jax.jit(jax.vmap(lambda k: choose(k, jnp.asarray(mask), num_jobs)))(keys))
    for m in range(4):
        valid = set(np.flatnonzero(mask[m, :num_jobs])) or {num_jobs}
        assert set(acts[:, m]) == valid  # only valid jobs, and every one of them drawn


def test_policy_names():
    assert bench._policy_list("random,random-kth,first,random-per-action") == [
        "random", "first", "random-per-action"
    ]
    with pytest.raises(argparse.ArgumentTypeError):
        bench._policy_list("greedy")


def test_peer_ratios_and_markdown():
    def row(impl, sched, ops):
        return {
            "case": "jssp_10x10_t6", "impl": impl, "policy": "random", "batch": 1024,
            "decisions_per_s": 10.0, "schedules_per_s": sched, "operations_per_s": ops,
            "schedules_per_cpu_s": sched, "mean_makespan": 5.0, "compile_s": 1.0,
            "seconds_per_call_median": 0.1, "peak_rss_mb_process_so_far": 100.0,
            "complete_fraction": 1.0,
        }

    results = [row("jaxshop", 600.0, 60.0), row("jumanji", 200.0, 40.0)]
    (ratio,) = bench.peer_ratios(results)
    assert ratio["schedules_ratio"] == 3.0 and ratio["operations_ratio"] == 1.5
    goal = bench.goal_check([ratio])
    assert goal["met"] is False and "NOT met" in goal["summary"]
    load = {"loadavg_1_5_15": [1.0, 1.0, 1.0]}
    text = bench.markdown({"results": results, "peer_ratios": [ratio], "load_before": load,
                           "load_after": load, "machine": {"cpu_count": 2}})
    assert "| jssp_10x10_t6 | random | 1024 | 600 | 200 | 3x |" in text


def test_jumanji_peer_smoke():
    pytest.importorskip("jumanji")
    fn, settings = bench.build_jumanji(
        {"num_jobs": 3, "num_machines": 2, "max_num_ops": 2, "max_op_duration": 3}, 2, 1
    )
    result = bench.summarize(bench.measure(fn, repeats=1, min_seconds=0))
    assert result["complete_fraction"] == 1.0  # the non-idling random policy never stalls
    assert result["schedules_per_s"] > 0 and result["decisions_per_s"] > 0
    assert settings["rounds_per_call"] == 1


def test_bad_arguments():
    with pytest.raises(UsageError, match="--cases: unknown case 'nope'"):
        bench.main(["--cases", "nope"])
    with pytest.raises(UsageError, match="--batch"):
        bench.main(["--batch", "0"])
    assert bench._case_list("jssp") == [c for c in bench.CASES if c.startswith("jssp_")]
