"""No wrong answers, no hangs, no tracebacks: bad input to the CLI and the Python API.

The table below drives the CLI in-process: every case must exit with code 2, print
nothing on stdout and exactly one line on stderr that names the option, value or file,
with no traceback. Nearly all cases fail before anything is compiled.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jaxshop_baselines import checkpoints as ckpt
from jaxshop_baselines.checkpoints import TrainingDiverged
from jaxshop_baselines.cli import main
from jaxshop_baselines.pointer import PointerConfig
from jaxshop_baselines.pointer import train as ptrain
from jaxshop_baselines.pointer.train import SPEC as POINTER
from jaxshop_baselines.runner import save_checkpoint

import jaxshop
from jaxshop.fjsp.generator import FJSPGenerator
from jaxshop.instances.formats import write_instance
from jaxshop.instances.types import (
    MAX_MAKESPAN,
    MAX_TIME,
    FJSPInstance,
    PFSPInstance,
    stack,
    validate_instance,
)
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.schedule import Schedule, permutation_schedule, validate

BIG = 536_870_911  # the largest time a file may hold; five of them overflow int32


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Hostile instance files and folders, written once."""
    d = tmp_path_factory.mktemp("hostile")
    paths = {
        "overflow_jssp": d / "overflow.txt",
        "overflow_pfsp": d / "overflow_pfsp.txt",
        "tiny_named_ta001": d / "ta001.txt",
        "tiny_named_mk01": d / "mk01.fjs",
        "a_file": d / "plain.txt",
        "empty_dir": d / "empty",
        "bad_bounds_dir": d / "badbounds",
    }
    paths["overflow_jssp"].write_text("5 1\n" + "0 536870911\n" * 5)
    paths["overflow_pfsp"].write_text("5 1\n" + "0 536870911\n" * 5)
    paths["tiny_named_ta001"].write_text("2 2\n0 3 1 4\n1 2 0 5\n")
    paths["tiny_named_mk01"].write_text("2 2 1\n1 1 1 3\n1 1 2 4\n")
    paths["a_file"].write_text("hello\n")
    paths["empty_dir"].mkdir()
    paths["bad_bounds_dir"].mkdir()
    (paths["bad_bounds_dir"] / "x.txt").write_text("2 2\n0 3 1 4\n1 2 0 5\n")
    (paths["bad_bounds_dir"] / "bounds.json").write_text("{not json")
    return paths


@pytest.fixture(scope="module")
def pointer_runs(tmp_path_factory) -> dict[str, Path]:
    """Pointer run/model folders: corrupt checkpoint, empty step folder, NaN parameters,
    corrupt config and parameter files. Nothing is compiled to make them."""
    cfg = PointerConfig(num_jobs=3, num_machines=2, embed_dim=8, batch_size=4, num_updates=4,
                        updates_per_chunk=2, checkpoint_every=2, eval_size=0)
    base = tmp_path_factory.mktemp("runs")
    runner = ptrain.init_runner(cfg, jax.random.PRNGKey(0))
    runs = {}
    for name in ("corrupt", "empty_step"):
        run = base / name
        run.mkdir()
        cfg.to_json(run / ckpt.CONFIG_FILE)
        save_checkpoint(POINTER, run, runner.replace(update=np.int32(2)))
        step = run / ckpt.CHECKPOINT_DIR / "2"
        if name == "corrupt":
            for f in step.rglob("*"):
                if f.is_file() and f.parent.name == "d":
                    f.write_bytes(b"garbage")
        else:
            for f in sorted(step.rglob("*"), reverse=True):
                f.unlink() if f.is_file() else f.rmdir()
        runs[name] = run
    nan_params = jax.tree_util.tree_map(lambda x: x * np.nan, runner.params)
    ckpt.save_model(base / "nan", cfg, nan_params)
    runs["nan"] = base / "nan"
    ckpt.save_model(base / "badconfig", cfg, runner.params)
    (base / "badconfig" / ckpt.CONFIG_FILE).write_text("{oops")
    runs["badconfig"] = base / "badconfig"
    ckpt.save_model(base / "badparams", cfg, runner.params)
    (base / "badparams" / ckpt.PARAMS_FILE).write_bytes(b"\x00\x01garbage")
    runs["badparams"] = base / "badparams"
    return runs


# (argv, text the one error line must contain); `{name}` is replaced by a fixture path.
ERROR_CASES = [
    # Wrong answers before: overflowing instances, negative limits, NaN learning rates.
    (["solve", "{overflow_jssp}", "--json"], "worst-case makespan"),
    (["solve", "{overflow_pfsp}", "--format", "pfsp-std", "--method", "neh"], "overflow_pfsp"),
    (["eval", "--suite", "ft", "--limit", "-1"], "--limit"),
    (["eval", "--suite", "ft", "--limit", "0"], "--limit"),
    (["train", "pointer", "--lr", "nan"], "--lr"),
    (["train", "pointer", "--lr", "inf"], "--lr"),
    (["train", "pointer", "--lr", "-1"], "--lr"),
    (["train", "pointer", "--entropy", "nan"], "--entropy"),
    (["train", "ppo", "--lr", "nan"], "--lr"),
    (["train", "ppo", "--updates", "15"], "--updates 15 is not a multiple of --chunk"),
    (["train", "ppo", "--envs", "0"], "--envs"),
    (["train", "ppo", "--seed", "-3"], "--seed"),
    (["train", "ppo", "--envs", "3", "--rollout", "3", "--minibatches", "2"], "--minibatches"),
    (["solve", "mk01", "--method", "ppo:{run:nan}"], "config"),
    # Hangs before: non-finite budgets, work that would take hours.
    (["solve", "ta001", "--method", "ig", "--time-limit", "nan"], "--time-limit"),
    (["solve", "ta001", "--method", "ig", "--time-limit", "inf"], "--time-limit"),
    (["solve", "ta001", "--method", "ig", "--time-limit", "0"], "--time-limit"),
    # Tracebacks before.
    (["solve", "ta001", "--seed", str(2**63)], "--seed"),
    (["solve", "ta001", "--seed", "12345678901234567890123"], "--seed"),
    (["solve", "ta001", "--seed", "-1"], "--seed"),
    (["solve", "ta001", "--method", "ig", "--iterations", str(2**31)], "--iterations"),
    (["train", "pointer", "--resume", "--out", "{run:corrupt}"], "unreadable"),
    (["train", "pointer", "--resume", "--out", "{run:empty_step}"], "incomplete"),
    # Confusing or silently ignored options before.
    (["solve", "mk01", "--method", "pointer:{run:badconfig}"], "config.json"),
    (["solve", "mk01", "--method", "pointer:{run:badparams}"], "params.msgpack"),
    (["solve", "mk01", "--method", "pointer:{run:nan}"], "NaN"),
    (["train", "pointer", "--steps", "-5"], "got -5"),
    (["train", "pointer", "--steps", "15"], "--steps 15 is not a multiple of --chunk"),
    (["solve", "ta001", "--data-dir", "{a_file}"], "is a file, not a folder"),
    (["solve", "ta001", "--data-dir", "{empty_dir}/missing"], "does not exist"),
    (["solve", "{empty_dir}"], "is a folder, not an instance file"),
    (["train"], "name an agent"),
    (["train", "nosuchagent"], "nosuchagent"),
    (["solve", "mk01", "--method", "neh"], "mk01 is fjsp"),
    (["solve", "ta001", "--sample", "-5"], "--sample"),
    (["solve", "ta001", "--method", "neh", "--sample", "4"], "--sample"),
    (["solve", "ta001", "--method", "neh", "--iterations", "4"], "--iterations"),
    (["solve", "ta001", "--method", "neh", "--time-limit", "4"], "--time-limit"),
    (["solve", "ta01", "--method", "rule:MWKR-EF", "--iterations", "4"], "--iterations"),
    (["solve", "ta001", "--method", "ig", "--iterations", "3", "--time-limit", "2"], "not both"),
    (["solve", "ta001", "--method", "neh:whatever"], "neh:whatever"),
    (["solve", "ta01", "--method", "rule"], "rule:JOB-MACHINE"),
    (["solve", "ta001", "--format", "fjs"], "--format"),
    (["solve", "ta001", "--format", "nosuchformat"], "--format"),
    (["solve", "ta001", "--gantt", "{empty_dir}/missing/chart"], "--gantt"),
    (["solve", "ta001", "--gantt", "{empty_dir}/chart.txt"], "--gantt"),
    (["solve", "ta001", "--out", "{empty_dir}/missing/out.json"], "--out"),
    (["eval", "--suite", "ft", "--groups", "7x7"], "7x7"),
    (["eval", "--suite", "ft", "--groups", "abc"], "--groups"),
    (["eval", "--suite", "{empty_dir}"], "empty"),
    (["eval", "--suite", "{bad_bounds_dir}"], "bounds.json"),
    (["bench", "--cases", ","], "--cases"),
    (["bench", "--cases", "pfsp_20x5", "--batch", "0"], "--batch"),
    (["bench", "--cases", "pfsp_20x5", "--repeats", "0"], "--repeats"),
    (["bench", "--append"], "--append"),
    (["list", "nothing"], "nothing"),
    ([], "command"),
    (["solve"], "spec"),
]


def _expand(arg: str, files: dict, runs: dict) -> str:
    for name, path in files.items():
        arg = arg.replace("{" + name + "}", str(path))
    for name, path in runs.items():
        arg = arg.replace("{run:" + name + "}", str(path))
    return arg


@pytest.mark.parametrize("argv, needle", ERROR_CASES, ids=lambda v: " ".join(v)[:60]
                         if isinstance(v, list) else None)
@pytest.mark.slow
def test_user_errors_are_one_line_exit_2(capsys, files, pointer_runs, argv, needle):
    argv = [_expand(a, files, pointer_runs) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert out == "" and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("jaxshop: error:"), err
    assert _expand(needle, files, pointer_runs) in lines[0], lines[0]


def test_internal_errors_say_so_and_debug_shows_the_traceback(capsys, monkeypatch):
    from jaxshop_baselines import cli

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setitem(cli.COMMANDS, "list", broken)
    code, out, err = run_cli(capsys, "list")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "internal error" in err and "--debug" in err and "boom" in err
    code, _, err = run_cli(capsys, "--debug", "list")
    assert code == 1 and "Traceback" in err and "RuntimeError: boom" in err


def test_help_version_and_list(capsys):
    assert run_cli(capsys, "--version")[1].strip() == f"jaxshop {jaxshop.__version__}"
    code, out, _ = run_cli(capsys, "train", "--help")
    assert code == 0 and "pointer" in out
    code, out, _ = run_cli(capsys, "train", "pointer", "--help")
    assert code == 0 and "--lr" in out
    code, out, _ = run_cli(capsys, "list", "--json")
    listing = json.loads(out)
    assert set(listing) == {"instances", "suites", "methods", "envs", "formats"}
    assert {"ta001", "mk01", "la40"} <= {r["name"] for r in listing["instances"]}
    assert {"neh", "ig", "rule:JOB-MACHINE", "pointer:DIR"} <= {
        r["name"] for r in listing["methods"]}
    assert {"pfsp", "fjsp"} <= {r["name"] for r in listing["envs"]}
    code, out, _ = run_cli(capsys, "list", "suites")
    assert code == 0 and "brandimarte" in out and "instances:" not in out


@pytest.mark.slow
def test_bounds_are_attached_by_content_not_by_name(capsys, files):
    for name in ("tiny_named_ta001", "tiny_named_mk01"):
        code, out, err = run_cli(capsys, "solve", files[name], "--json")
        result = json.loads(out)
        assert code == 0, err
        assert result["best_known_upper_bound"] is None and result["gap_percent"] is None


def test_solve_records_options_writes_out_and_gantt_where_it_says(capsys, tmp_path):
    out_file, chart = tmp_path / "solve.json", tmp_path / "chart"
    code, out, _ = run_cli(capsys, "solve", "ta001", "--gantt", chart, "--out", out_file,
                           "--quiet")
    assert code == 0
    assert f"Gantt chart written to {chart}.png" in out
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG" and not chart.exists()
    record = json.loads(out_file.read_text())
    assert record["makespan"] == 1286 and record["best_known_instance"] == "ta001"
    options = record["options"]
    assert options["method"] == "neh" and options["seed"] == 0
    assert jaxshop.__version__ in options["method_version"]
    assert record["validate_seconds"] >= 0


def test_default_method_follows_the_problem(capsys):
    code, out, err = run_cli(capsys, "solve", "ft06", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["method"] == "rule:MWKR-EF" and result["problem"] == "jssp"
    assert result["best_known_instance"] == "ft06" and result["best_known_upper_bound"] == 55


def test_eval_rows_permutations_schedules_groups_and_files(capsys, tmp_path):
    out_file = tmp_path / "eval.json"
    code, out, err = run_cli(
        capsys, "eval", "--suite", "taillard-pfsp", "--groups", "20x5", "--limit", "2",
        "--json", "--schedules", "--out", out_file,
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["solved"] == 2 and json.loads(out_file.read_text()) == result
    for row in result["instances"]:
        assert sorted(row["permutation"]) == list(range(20))
        assert len(row["schedule"]) == 100 and row["group"] == "20x5"
    with out_file.with_suffix(".csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["instance"] for r in rows] == ["ta001", "ta002"]
    assert int(rows[0]["makespan"]) == 1286


def test_eval_folder_suite_with_bounds(capsys, tmp_path):
    small = FJSPInstance.from_job_shop([[0, 1], [1, 0]], [[3, 4], [2, 5]])
    (tmp_path / "a.txt").write_text(write_instance(small, "jssp"))
    (tmp_path / "ft06.txt").write_text(write_instance(jaxshop.load("ft06"), "jssp"))
    (tmp_path / "bounds.csv").write_text("name,ub\na,9\n")
    code, out, err = run_cli(capsys, "eval", "--suite", tmp_path, "--json")
    assert code == 0, err
    rows = {r["instance"]: r for r in json.loads(out)["instances"]}
    assert rows["a"]["best_known_upper_bound"] == 9
    assert rows["ft06"]["best_known_upper_bound"] == 55  # recognized by content


def test_bench_writes_nothing_unless_asked(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "bench", "--cases", "pfsp_20x5", "--batch", "2",
                           "--repeats", "1", "--min-seconds", "0", "--target-decisions", "1",
                           "--quiet")
    assert code == 0 and "pfsp_20x5" in out
    assert list(tmp_path.rglob("*")) == []


# ------------------------------------------------------------------------ the Python API


@pytest.mark.parametrize(
    "build, needle",
    [
        (lambda: FJSPInstance(np.full((1, 1, 1), np.nan), np.ones((1, 1, 1), bool),
                              np.array([1]), np.ones(1, bool)), "processing_times"),
        (lambda: FJSPInstance(np.full((1, 1, 1), np.inf), np.ones((1, 1, 1), bool),
                              np.array([1]), np.ones(1, bool)), "processing_times"),
        (lambda: FJSPInstance(np.full((1, 1, 1), 2.0), np.ones((1, 1, 1), bool),
                              np.array([1]), np.ones(1, bool)), "integer dtype"),
        (lambda: FJSPInstance(np.ones((1, 1, 1), np.int32), np.ones((1, 1, 1), bool),
                              np.array([2]), np.ones(1, bool)), "num_ops 2"),
        (lambda: FJSPInstance(np.ones((1, 2, 1), np.int32), np.zeros((1, 2, 1), bool),
                              np.array([2]), np.ones(1, bool)), "no eligible machine"),
        (lambda: FJSPInstance(-np.ones((1, 1, 1), np.int32), np.ones((1, 1, 1), bool),
                              np.array([1]), np.ones(1, bool)), "negative"),
        (lambda: FJSPInstance(np.ones((1, 1, 2), np.int32), np.ones((1, 1, 2), bool),
                              np.array([1]), np.array([False, True])), "prefix"),
        (lambda: PFSPInstance(np.full((2, 2), 0.5), np.ones(2, bool), np.ones(2, bool)),
         "integer dtype"),
        (lambda: PFSPInstance(np.ones((2, 2), np.int32), np.ones(3, bool), np.ones(2, bool)),
         "shapes"),
        (lambda: FJSPInstance.from_operations([[{0: 1.5}]], 1), "time must be an integer"),
        (lambda: FJSPInstance.from_operations([[{0: True}]], 1), "time must be an integer"),
        (lambda: FJSPInstance.from_operations([[{0: BIG}] * 5], 1), "worst-case makespan"),
        (lambda: PFSPInstance.from_array([[1.5, 2]]), "integers"),
        (lambda: PFSPInstance.from_array(np.full((5, 1), BIG)), "worst-case makespan"),
        (lambda: stack([jaxshop.load("ft06"), FJSPInstance(
            jax.numpy.ones((1, 1, 1), jax.numpy.int32), jax.numpy.ones((1, 1, 1), bool),
            jax.numpy.array([3]), jax.numpy.ones(1, bool))]), "stack: instance 1"),
        (lambda: FJSPGenerator(1000, 10, time_range=(1, 10**6)), "overflow"),
        (lambda: UniformPFSPGenerator(2000, 20, 1, 10**5), "overflow"),
    ],
)
def test_bad_instances_raise_value_error_naming_the_field(build, needle):
    with pytest.raises(ValueError, match=needle):
        build()


def test_validate_instance_accepts_good_batches_and_jax_arrays():
    batch = stack([jaxshop.load("ft06"), jaxshop.load("mk01")])
    assert validate_instance(batch) is batch
    as_jax = jax.tree_util.tree_map(jax.numpy.asarray, batch)
    assert validate_instance(as_jax) is as_jax
    bad = as_jax.replace(num_ops=as_jax.num_ops.at[0].set(99))  # JAX arrays: not checked at
    with pytest.raises(ValueError, match="num_ops 99"):  # construction, but on request
        validate_instance(bad)


@given(
    times=st.lists(st.integers(0, MAX_TIME), min_size=1, max_size=12),
    machines=st.integers(1, 3),
)
def test_oversized_instances_are_rejected_and_accepted_ones_never_wrap(times, machines):
    jobs = max(1, len(times) // machines)
    p = np.array((times * machines)[: jobs * machines], np.int64).reshape(jobs, machines)
    total = int(p.sum())
    if total > MAX_MAKESPAN:
        with pytest.raises(ValueError, match="worst-case makespan"):
            PFSPInstance.from_array(p)
        return
    inst = PFSPInstance.from_array(p)
    sched = permutation_schedule(inst, range(jobs))
    check = validate(inst, sched)
    assert check and 0 <= check.makespan <= total
    assert np.asarray(sched.start).min() >= 0 and np.asarray(sched.end).min() >= 0


def test_validator_rejects_negative_and_wrapped_times():
    inst = PFSPInstance.from_array(np.array([[BIG, BIG]], np.int64))
    good = permutation_schedule(inst, [0])
    assert validate(inst, good)
    start = np.array([[0, 2**31 - 2]], np.int64)
    wrapped = Schedule(np.array([[0, 1]], np.int32), start.astype(np.int32),
                       (start + BIG).astype(np.int32))  # int32 wraps to a negative end
    assert not validate(inst, wrapped)
    negative = Schedule(np.array([[0, 1]], np.int32), np.array([[-5, BIG]], np.int32),
                        np.array([[BIG - 5, 2 * BIG]], np.int32))
    assert "negative start" in validate(inst, negative).reason


def test_workload_limits_refuse_hours_of_work_up_front():
    from jaxshop_baselines.limits import check_workload

    rng = np.random.default_rng(0)
    big = FJSPInstance.from_job_shop(np.stack([rng.permutation(50) for _ in range(200)]),
                                     rng.integers(1, 99, (200, 50)))
    check_workload([big], "rule:MWKR-EF", {"mode": "insert"})  # 10,000 ops: seconds
    # Fully flexible: 10,000 ops that may each go to any of 100 machines (10,000 slots).
    flexible = FJSPInstance(processing_times=np.ones((500, 20, 100), np.int32),
                            eligible=np.ones((500, 20, 100), bool),
                            num_ops=np.full(500, 20, np.int32),
                            machine_mask=np.ones(100, bool))
    with pytest.raises(ValueError, match="--mode append"):
        check_workload([flexible], "rule:MWKR-EF", {"mode": "insert"})
    with pytest.raises(ValueError, match="fewer samples"):
        check_workload([big], "pointer", {"sample": 8})
    check_workload([big], "rule:MWKR-EF", {"mode": "append"})  # seconds in append mode
    check_workload([jaxshop.load("mk10")], "pointer", {"sample": 100})


# ------------------------------------------------------------------------ training


@pytest.mark.slow
def test_diverged_training_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """A chunk whose loss is NaN stops the run with a clear error; nothing of it is saved."""
    cfg = PointerConfig(num_jobs=3, num_machines=2, embed_dim=8, batch_size=4, num_updates=6,
                        updates_per_chunk=2, checkpoint_every=2, eval_size=0)
    calls = []

    class FakeChunk:  # stands for the compiled chunk: 2 good updates, then NaN
        def lower(self, runner):
            return self

        def compile(self):
            return self

        def __call__(self, runner):
            calls.append(1)
            value = np.nan if len(calls) == 2 else 1.0
            metrics = {n: np.full(2, value, np.float32) for n in ptrain.METRIC_NAMES}
            return runner.replace(update=runner.update + 2), metrics

    monkeypatch.setattr(ptrain, "make_train_chunk", lambda config, sampler=None: FakeChunk())
    with pytest.raises(TrainingDiverged, match="update 3.*last good checkpoint is update 2"):
        ptrain.run_training(cfg, tmp_path / "run", progress=False, plot=False)
    assert ckpt.latest_checkpoint(tmp_path / "run") == 2
    assert not (tmp_path / "run" / ckpt.PARAMS_FILE).exists()
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3  # header + the two good updates; the NaN chunk is not recorded


@pytest.mark.slow
def test_resume_with_fewer_steps_than_done_is_an_error(capsys, tmp_path):
    run = tmp_path / "run"
    cfg = PointerConfig(num_jobs=3, num_machines=2, embed_dim=8, batch_size=4, num_updates=4,
                        updates_per_chunk=2, checkpoint_every=2, eval_size=0)
    run.mkdir()
    cfg.to_json(run / ckpt.CONFIG_FILE)
    runner = ptrain.init_runner(cfg, jax.random.PRNGKey(0))
    save_checkpoint(POINTER, run, runner.replace(update=np.int32(4)))
    code, _, err = run_cli(capsys, "train", "pointer", "--resume", "--out", run, "--steps", "2")
    assert code == 2 and "--steps (saved 4, given 2)" in err  # --resume keeps the config


# ------------------------------------------------------------------------ fresh install


@pytest.mark.slow
def test_every_suite_works_without_shared_data(tmp_path):
    """From a folder with no ../shared beside it and no $JAXSHOP_DATA, as after
    `pip install`: the packaged instance files serve the suites."""
    env = {k: v for k, v in os.environ.items() if k != "JAXSHOP_DATA"}
    proc = subprocess.run(
        [sys.executable, "-m", "jaxshop_baselines.cli", "eval", "--suite", "brandimarte",
         "--limit", "2", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [r["instance"] for r in result["instances"]] == ["mk01", "mk02"]
    assert all(r["best_known_upper_bound"] in (40, 26) for r in result["instances"])
    assert list(tmp_path.iterdir()) == []


def test_reset_checks_concrete_instances_built_by_hand():
    hand_made = FJSPInstance(jax.numpy.ones((1, 1, 1), jax.numpy.int32),
                             jax.numpy.ones((1, 1, 1), bool), jax.numpy.array([2]),
                             jax.numpy.ones(1, bool))
    with pytest.raises(ValueError, match="reset: num_ops 2 outside 0..1"):
        jaxshop.make("fjsp").reset(jax.random.PRNGKey(0), hand_made)


@given(
    p=st.lists(st.lists(st.integers(0, 2), min_size=3, max_size=3), min_size=1, max_size=5),
    data=st.data(),
)
def test_validator_accepts_every_permutation_schedule_with_zero_times(p, data):
    """Zero-length operations tie in start time; a permutation schedule must still pass."""
    inst = PFSPInstance.from_array(np.array(p))
    perm = data.draw(st.permutations(range(len(p))))
    check = validate(inst, permutation_schedule(inst, perm))
    assert check, check.reason


def test_eval_checks_the_workload_of_each_group_it_solves(capsys, monkeypatch):
    """`eval` solves a suite one size group per call, so each group is checked alone: a
    sampled pointer run over the whole Lawrence suite is not refused for the suite's total."""
    import jaxshop_baselines.cli_options as cli_options
    from jaxshop_baselines.limits import check_workload

    checked = []

    def record(instances, spec, options):
        check_workload(instances, spec, options)
        checked.append(len(instances))

    class Stop(cli_options.CLIError):
        pass

    class Method:
        version = "test"

        def solve(self, instances, key, progress=None):
            raise Stop("stop before solving")

    monkeypatch.setattr(cli_options, "check_size", record)
    monkeypatch.setattr(cli_options, "build_method", lambda *a: Method())
    code, _, err = run_cli(capsys, "eval", "--suite", "lawrence", "--method", "pointer",
                           "--sample", "100", "--json")
    assert code == 2 and "stop before solving" in err
    assert checked == [5] * 8
