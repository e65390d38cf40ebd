"""The `cpsat` method: proven optima against independent references, bounds, warm starts,
Ctrl-C, the command line's records and errors."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ortools")

from jaxshop_baselines.cpsat import solve_instance, solve_many  # noqa: E402

import jaxshop  # noqa: E402
from jaxshop.instances.types import FJSPInstance, PFSPInstance  # noqa: E402
from jaxshop.schedule import permutation_schedule, validate  # noqa: E402


def johnson_makespan(p: np.ndarray) -> int:
    """Johnson's rule (optimal for two machines), written apart from the model."""
    first = sorted((j for j in range(len(p)) if p[j, 0] <= p[j, 1]), key=lambda j: p[j, 0])
    last = sorted((j for j in range(len(p)) if p[j, 0] > p[j, 1]), key=lambda j: -p[j, 1])
    t0 = t1 = 0
    for j in first + last:
        t0 += p[j, 0]
        t1 = max(t1, t0) + p[j, 1]
    return int(t1)


def brute_force_pfsp(p: np.ndarray) -> int:
    """The best permutation by enumeration (tiny flow shops only)."""
    return min(permutation_schedule(PFSPInstance.from_array(p), list(order)).makespan
               for order in itertools.permutations(range(len(p))))


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 7), st.integers(0, 2**31 - 1))
def test_two_machine_flow_shops_are_solved_to_johnsons_optimum(jobs, seed):
    p = np.random.default_rng(seed).integers(1, 30, (jobs, 2)).astype(np.int32)
    found = solve_instance(PFSPInstance.from_array(p), time_limit=10, workers=1)
    assert found.status == "optimal"
    assert found.makespan == found.lower_bound == johnson_makespan(p)
    assert sorted(found.permutation) == list(range(jobs))


@settings(max_examples=8, deadline=None)
@given(st.integers(2, 5), st.integers(3, 4), st.integers(0, 2**31 - 1))
def test_small_flow_shops_are_solved_to_the_enumerated_optimum(jobs, machines, seed):
    p = np.random.default_rng(seed).integers(1, 20, (jobs, machines)).astype(np.int32)
    found = solve_instance(PFSPInstance.from_array(p), time_limit=10, workers=1)
    assert found.status == "optimal" and found.makespan == brute_force_pfsp(p)


def test_ft06_is_proven_optimal_at_55():
    found = solve_instance(jaxshop.load("ft06"), time_limit=10, workers=2)
    assert (found.makespan, found.lower_bound, found.status) == (55, 55, "optimal")


def test_a_cpsat_schedule_replays_to_its_makespan_in_insert_mode():
    inst = jaxshop.load("ft06")
    found = solve_instance(inst, time_limit=10, workers=2)
    env = jaxshop.make("jssp", mode="insert")
    actions = jaxshop.replay(env, inst, found.schedule)
    assert jaxshop.replay_makespan(env, inst, actions) == found.makespan == 55


def test_a_flexible_job_shop_uses_the_cheap_machine_when_it_is_free():
    # one job, two ops, each eligible on two machines (times 5 or 2): the optimum is 4
    times = np.array([[[5, 2], [2, 5]]], np.int32)
    inst = FJSPInstance(processing_times=times, eligible=times > 0,
                        num_ops=np.array([2], np.int32), machine_mask=np.ones(2, bool))
    found = solve_instance(inst, time_limit=5)
    assert found.makespan == 4 and found.status == "optimal"
    assert found.schedule.machine.tolist() == [[1, 0]]
    assert validate(inst, found.schedule)


def test_brandimarte_gets_a_bound_below_its_schedule():
    found = solve_instance(jaxshop.load("mk01"), time_limit=2, workers=2)
    assert 36 <= found.lower_bound <= 40 <= found.makespan  # mk01: optimum 40
    assert found.status in ("optimal", "feasible")


@pytest.mark.slow
def test_a_warm_start_is_never_worse_than_its_hint():
    inst = jaxshop.load("la01")
    from jaxshop_baselines.methods import get_method

    hint = get_method("rule:MWKR-EF").solve([inst])[0]
    found = solve_instance(inst, time_limit=1, workers=1, hint=hint.schedule)
    assert found.makespan <= hint.makespan


def test_ctrl_c_stops_every_running_search_at_once():
    big = [jaxshop.load("ta01"), jaxshop.load("ta02")]  # 15x15: not proven in a minute
    t0 = time.perf_counter()

    def interrupt(_fraction):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solve_many([jaxshop.load("ft06"), *big], time_limit=60, workers=3,
                   progress=interrupt, per_instance=1)  # all three at once
    assert time.perf_counter() - t0 < 20


@pytest.mark.slow
def test_ctrl_c_of_the_command_stops_it_at_once():
    """SIGINT to `jaxshop solve --method cpsat` with a minute's budget: it stops within
    seconds with the interrupted exit code, not after the search (CP-SAT's own handler,
    which would swallow the signal, is off)."""
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        # SIGINT as a terminal sends it, whatever the test runner inherited (a background
        # job starts with SIGINT ignored, and so would the child)
        [sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGINT, "
         "signal.default_int_handler); from jaxshop_baselines.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "solve", "ta01", "--method", "cpsat",
         "--time-limit", "60", "--workers", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"})
    time.sleep(15)  # imports (a cold, loaded CI machine too) and the model: it searches
    assert proc.poll() is None, "the search ended before its budget"
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=40)
    assert proc.returncode == 130, err[-2000:]
    assert time.perf_counter() - t0 < 15, err[-2000:]


def test_solve_json_carries_the_bound_and_status(capsys):
    from jaxshop_baselines.cli import main

    assert main(["solve", "ft06", "--method", "cpsat", "--time-limit", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["makespan"] == out["lower_bound"] == 55 and out["status"] == "optimal"
    assert out["gap_to_lower_bound_percent"] == 0.0 and out["options"]["time_limit"] == 10


@pytest.mark.parametrize("argv, flag", [
    (["solve", "ft06", "--method", "neh", "--workers", "2"], "--workers"),
    (["solve", "ft06", "--method", "rule:MWKR-EF", "--warm-start", "neh"], "--warm-start"),
    (["solve", "ft06", "--method", "cpsat", "--workers", "0"], "--workers"),
])
def test_cpsat_options_elsewhere_are_one_line_errors(capsys, argv, flag):
    from jaxshop_baselines.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err


@pytest.mark.slow
def test_eval_bounds_are_attached_and_cached_by_instance_content(capsys, tmp_path,
                                                                   monkeypatch):
    from jaxshop_baselines.cli import main
    from jaxshop_baselines.cpsat import bounds_dir

    monkeypatch.setenv("JAXSHOP_CACHE_DIR", str(tmp_path / "xla"))
    argv = ["eval", "--suite", "ft", "--limit", "1", "--method", "rule:MWKR-EF",
            "--bounds", "cpsat:5", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["instances"]
    assert (row["cpsat_lower_bound"], row["cpsat_upper_bound"], row["cpsat_status"]) == (
        55, 55, "optimal")
    assert row["gap_to_cpsat_lower_bound_percent"] == row["gap_percent"]  # ft06: LB = UB
    assert out["bounds"] == "cpsat:5" and out["cpsat_optimal"] == 1
    (entry,) = bounds_dir().glob("*-5s.json")
    entry.write_text(json.dumps({"lower_bound": 50, "upper_bound": 55, "status": "feasible",
                                 "seconds": 1.0}))
    assert main(argv) == 0  # read back from the cache, not solved again
    (row,) = json.loads(capsys.readouterr().out)["instances"]
    assert row["cpsat_lower_bound"] == 50 and row["cpsat_status"] == "feasible"


@pytest.mark.parametrize("text", ["cpsat", "cpsat:0", "cpsat:x", "neh:5"])
def test_bad_bounds_are_one_line_errors(capsys, text):
    from jaxshop_baselines.cli import main

    assert main(["eval", "--suite", "ft", "--bounds", text]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--bounds" in err


@pytest.mark.slow
def test_random_eval_bounds_are_those_of_the_instances_it_solved(capsys, tmp_path, monkeypatch):
    import jax
    from jaxshop_baselines.cli import main
    from jaxshop_baselines.evaluation.generated import generated_instances
    from jaxshop_baselines.methods import get_method

    from jaxshop.instances.generated import parse_generated

    monkeypatch.setenv("JAXSHOP_CACHE_DIR", str(tmp_path / "xla"))
    argv = ["eval", "--random", "fjsp:4x3:5", "--method", "rule:spt", "--bounds", "cpsat:5",
            "--workers", "2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    instances = generated_instances(parse_generated("fjsp:4x3:5"), jax.random.PRNGKey(0), 5)
    # the same instances: the rule solves them one by one to the eval's mean makespan
    rule = [s.makespan for s in get_method("rule:spt").solve(instances, jax.random.PRNGKey(0))]
    assert np.mean(rule) == pytest.approx(out["mean_makespan"])
    optima = [solve_instance(inst, 5.0, 2) for inst in instances]
    assert all(r.status == "optimal" for r in optima) and out["cpsat_optimal"] == 5
    gaps = [100 * (m - r.makespan) / r.makespan for m, r in zip(rule, optima, strict=True)]
    assert out["mean_gap_to_cpsat_lower_bound_percent"] == pytest.approx(np.mean(gaps), abs=1e-3)
    assert out["mean_gap_to_cpsat_makespan_percent"] == pytest.approx(np.mean(gaps), abs=1e-3)
    assert out["bounds"] == "cpsat:5" and out["cpsat_mean_gap_to_own_bound_percent"] == 0


def test_random_eval_bounds_refuse_a_suite_too_large_to_solve(capsys):
    from jaxshop_baselines.cli import main

    assert main(["eval", "--random", "fjsp:4x3:20000", "--method", "rule:spt", "--bounds",
                 "cpsat:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--bounds" in err and "20,000" in err


@pytest.mark.parametrize("count, workers, per_instance, split", [
    (10, 2, None, (1, 2)),  # few cores: one instance at a time with all of them
    (10, 16, None, (2, 8)),  # a portfolio of 8 per instance, two at a time
    (1, 16, None, (1, 8)),
    (10, 2, 1, (2, 1)),  # many small solves side by side (a distillation set)
    (3, 8, 1, (3, 1)),
])
def test_workers_are_split_into_portfolios(count, workers, per_instance, split):
    from jaxshop_baselines.cpsat import instance_split

    assert instance_split(count, workers, per_instance) == split
