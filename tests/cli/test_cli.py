"""CLI: JSON schema, independent feasibility of every printed schedule, clean errors."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
from conftest import SHARED_BENCHMARKS
from jaxshop_baselines.cli import main

import jaxshop
from jaxshop.instances.formats import write_pfsp_std


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def independent_check(records: list[dict], times: dict[tuple[int, int], dict[int, int]]) -> int:
    """Feasibility from the JSON records alone: every op once, eligible machine, exact
    duration, job order, no machine overlap. Returns the makespan."""
    seen = {(r["job"], r["op"]) for r in records}
    assert seen == set(times) and len(records) == len(times), "ops missing or repeated"
    by_job, by_machine = defaultdict(list), defaultdict(list)
    for r in records:
        options = times[(r["job"], r["op"])]
        assert r["machine"] in options, f"ineligible machine in {r}"
        assert r["end"] - r["start"] == options[r["machine"]] and r["start"] >= 0, r
        by_job[r["job"]].append(r)
        by_machine[r["machine"]].append(r)
    for ops in by_job.values():
        ops.sort(key=lambda r: r["op"])
        for a, b in zip(ops, ops[1:], strict=False):
            assert a["end"] <= b["start"], f"precedence violated: {a} {b}"
    for ops in by_machine.values():
        ops.sort(key=lambda r: r["start"])
        for a, b in zip(ops, ops[1:], strict=False):
            assert a["end"] <= b["start"] or a["start"] == a["end"] or b["start"] == b["end"], (
                f"overlap: {a} {b}"
            )
    return max(r["end"] for r in records)


def pfsp_times(p: np.ndarray) -> dict:
    return {(j, k): {k: int(p[j, k])} for j in range(p.shape[0]) for k in range(p.shape[1])}


def test_solve_json_neh_ta001(capsys):
    code, out, _ = run_cli(capsys, "solve", "ta001", "--method", "neh", "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) >= {
        "instance",
        "problem",
        "method",
        "makespan",
        "best_known_upper_bound",
        "gap_percent",
        "permutation",
        "schedule",
    }
    assert result["problem"] == "pfsp" and result["makespan"] == 1286
    p = np.asarray(jaxshop.load("ta001").processing_times)
    assert sorted(result["permutation"]) == list(range(20))
    assert independent_check(result["schedule"], pfsp_times(p)) == 1286
    # Same job order on every machine (permutation schedule) in the printed records.
    orders = defaultdict(list)
    for r in sorted(result["schedule"], key=lambda r: r["start"]):
        orders[r["machine"]].append(r["job"])
    assert all(o == result["permutation"] for o in orders.values())
    ub = result["best_known_upper_bound"]
    assert np.isclose(result["gap_percent"], 100 * (1286 - ub) / ub, atol=1e-3)


@pytest.mark.parametrize("method", ["ig", "random"])
@pytest.mark.slow
def test_solve_json_other_methods(capsys, method, tmp_path):
    p = np.random.default_rng(3).integers(1, 30, size=(6, 3))
    path = tmp_path / "tiny.txt"
    path.write_text(write_pfsp_std(jaxshop.PFSPInstance.from_array(p)))
    extra = ["--iterations", "5"] if method == "ig" else []
    code, out, err = run_cli(
        capsys, "solve", str(path), "--format", "pfsp-std", "--method", method, "--json", *extra
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["best_known_upper_bound"] is None and result["gap_percent"] is None
    assert independent_check(result["schedule"], pfsp_times(p)) == result["makespan"]


def test_solve_human_output_and_gantt(capsys, tmp_path):
    png = tmp_path / "g.png"
    code, out, _ = run_cli(capsys, "solve", "ta001", "--method", "neh", "--gantt", str(png))
    assert code == 0 and "1286" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["solve", "ta999", "--method", "neh"], "ta999"),
        (["solve", "/nonexistent/file.txt", "--method", "neh"], "file.txt"),
        (["solve", "ta001", "--method", "nosuchmethod"], "nosuchmethod"),
        (["eval", "--suite", "nosuchsuite", "--method", "neh"], "nosuchsuite"),
    ],
)
def test_errors_are_one_line(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxshop: error:") and needle in lines[0]
    assert "Traceback" not in err


def test_malformed_file_error_names_file_and_line(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("3 2\n0 5 1 x\n")
    code, _, err = run_cli(capsys, "solve", str(bad), "--method", "neh")
    assert code == 2 and "bad.txt" in err and "line" in err


def test_bad_option_exits_nonzero(capsys):
    code, out, err = run_cli(capsys, "solve", "ta001", "--mode", "sideways")
    assert code == 2 and out == "" and "--mode" in err and len(err.strip().splitlines()) == 1


def test_eval_json_groups(capsys):
    code, out, _ = run_cli(
        capsys,
        "eval",
        "--suite",
        "taillard-pfsp",
        "--method",
        "neh",
        "--limit",
        "3",
        "--json",
        "--no-progress",
    )
    assert code == 0
    result = json.loads(out)
    assert [r["instance"] for r in result["instances"]] == ["ta001", "ta002", "ta003"]
    assert result["instances"][0]["makespan"] == 1286
    gaps = [r["gap_percent"] for r in result["instances"]]
    assert np.isclose(result["mean_gap_percent"], np.mean(gaps), atol=1e-3)
    assert set(result["group_mean_gap_percent"]) == {"20x5"}


@pytest.mark.skipif(not SHARED_BENCHMARKS.exists(), reason="shared benchmark data absent")
def test_solve_fjsp_rule_json_is_feasible(capsys):
    code, out, err = run_cli(
        capsys,
        "solve",
        "mk01",
        "--method",
        "rule:MWKR-EF",
        "--json",
        "--data-dir",
        str(SHARED_BENCHMARKS),
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["problem"] == "fjsp" and result["permutation"] is None
    inst = jaxshop.load("mk01", data_dir=str(SHARED_BENCHMARKS))
    ops = inst.to_operations()
    times = {(j, k): alts for j, job in enumerate(ops) for k, alts in enumerate(job)}
    assert independent_check(result["schedule"], times) == result["makespan"]
