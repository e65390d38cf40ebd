"""Release-grade command line: nothing lost, no wrong answer, clear one-line errors.

Each case checks the exit code, that stderr is one line without a traceback, and that no
work was done (or, for an interrupted eval, that what was solved is written).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jaxshop_baselines.cli import main

import jaxshop
from jaxshop.instances.bounds import best_known, trivial_lower_bound
from jaxshop.instances.formats import parse_instance, read_instance
from jaxshop.instances.registry import builtin_names, suite
from jaxshop.instances.types import FJSPInstance

#: Bytes that read as a 1-job job shop (`jssp`) and as a different `.fjs` instance.
AMBIGUOUS = "1 2\n1 1 1 3\n"
ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("jaxshop: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _sys_writable() -> bool:
    probe = Path("/sys/jaxshop-probe.json")
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.mark.skipif(_sys_writable(), reason="/sys is writable here")
@pytest.mark.parametrize("argv", [
    ("solve", "ft06", "--out", "/sys/r.json"),
    ("eval", "--suite", "ft", "--out", "/sys/r.json"),
    ("eval", "--random", "pfsp:5x3:4", "--out", "/sys/r.json"),
    ("solve", "ft06", "--gantt", "/sys/r.png"),
])
def test_unwritable_output_is_refused_before_any_work(capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    one_line_error(err, "/sys/r.", "cannot write")


def test_an_existing_output_file_is_checked_without_changing_it(tmp_path, capsys):
    from jaxshop.options import unwritable

    target = tmp_path / "kept.json"
    target.write_text("old")
    assert unwritable(target) is None and target.read_text() == "old"
    fresh = tmp_path / "new.json"
    assert unwritable(fresh) is None and not fresh.exists()  # probed, then removed
    assert unwritable(tmp_path / "missing" / "x.json") is not None


@pytest.fixture()
def ambiguous(tmp_path) -> Path:
    folder = tmp_path / "amb"
    folder.mkdir()
    (folder / "x.txt").write_text(AMBIGUOUS)
    return folder


def test_ambiguous_layout_is_refused_unless_named(ambiguous, capsys):
    path = ambiguous / "x.txt"
    with pytest.raises(ValueError, match="ambiguous layout.*jssp.*fjs.*--format"):
        read_instance(path)
    code, out, err = run_cli(capsys, "solve", path)
    assert code == 2 and out == ""
    one_line_error(err, str(path), "ambiguous", "--format")
    code, _, err = run_cli(capsys, "eval", "--suite", ambiguous)
    assert code == 2
    one_line_error(err, "x.txt", "ambiguous")
    # Named, each layout reads its own problem; a .fjs suffix names the layout too.
    as_jssp, as_fjs = read_instance(path, "jssp"), read_instance(path, "fjs")
    assert as_jssp.shape != as_fjs.shape
    fjs_copy = ambiguous.parent / "x.fjs"
    fjs_copy.write_text(AMBIGUOUS)
    assert read_instance(fjs_copy).shape == as_fjs.shape
    entries = suite(ambiguous, format="fjs")
    assert [e.instance.shape for e in entries] == [as_fjs.shape]


def test_format_is_refused_for_builtin_suites_and_random_sets(capsys):
    code, _, err = run_cli(capsys, "eval", "--suite", "ft", "--format", "jssp")
    assert code == 2
    one_line_error(err, "--format", "built-in suite")
    code, _, err = run_cli(capsys, "eval", "--random", "pfsp:5x3:4", "--format", "jssp")
    assert code == 2
    one_line_error(err, "--format")


def test_shipped_files_are_not_ambiguous():
    data = ROOT / "jaxshop" / "instances" / "data"
    files = [p for p in data.rglob("*") if p.is_file() and p.suffix in (".txt", ".fjs", "")]
    assert files
    for path in files:
        read_instance(path)  # raises on an ambiguous layout


def test_bounds_below_the_instance_lower_bound_are_refused(tmp_path, capsys):
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "tiny.txt").write_text("2 2\n0 3 1 4\n1 2 0 5\n")  # job lengths 7: LB >= 7
    (folder / "bounds.json").write_text(json.dumps({"tiny": 3}))
    with pytest.raises(ValueError, match=r"ub 3 is below the instance's own lower bound 8"):
        suite(folder)
    code, out, err = run_cli(capsys, "eval", "--suite", folder)
    assert code == 2 and out == ""
    one_line_error(err, "bounds.json", "'tiny'", "ub 3")
    (folder / "bounds.json").write_text(json.dumps({"tiny": 8}))
    assert suite(folder)[0].bounds == (0, 8)


def test_trivial_lower_bound_is_below_every_best_known_schedule():
    names = [n for n in builtin_names() if best_known(n) is not None]
    for name in names[::7] + ["ta001", "mk01", "ft06", "la01"]:
        instance = jaxshop.load(name)
        assert 0 < trivial_lower_bound(instance) <= best_known(name)[1], name


@given(st.data())
@pytest.mark.slow
def test_trivial_lower_bound_equals_the_env_bound_on_flexible_job_shops(data):
    from jaxshop.fjsp.env import makespan_lower_bound

    jobs, ops, machines = (data.draw(st.integers(1, 4)) for _ in range(3))
    times = np.array(data.draw(st.lists(st.integers(0, 9), min_size=jobs * ops * machines,
                                        max_size=jobs * ops * machines))).reshape(
        jobs, ops, machines)
    eligible = np.array(data.draw(st.lists(st.booleans(), min_size=times.size,
                                           max_size=times.size))).reshape(times.shape)
    eligible[..., 0] |= ~eligible.any(-1)  # every op has a machine
    jobs = [[{m: int(times[j, k, m]) for m in range(machines) if eligible[j, k, m]}
             for k in range(ops)] for j in range(jobs)]
    instance = FJSPInstance.from_operations(jobs, machines)
    expected = int(makespan_lower_bound(instance))
    assert max(trivial_lower_bound(instance), 1) == expected


@pytest.mark.parametrize("argv,needles", [
    (("solve", ""), ("SPEC is empty",)),
    (("solve", "ft06", "--method", ""), ("--method", "empty")),
    (("eval", "--suite", "ft", "--method", "  "), ("--method", "empty")),
])
def test_empty_names_are_clear_errors(capsys, argv, needles):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    one_line_error(err, *needles)


def test_a_builtin_name_shadowing_a_file_says_which_it_read(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("ft06").write_text("2 2\n0 3 1 4\n1 2 0 5\n")
    code, out, err = run_cli(capsys, "solve", "ft06", "--json")
    assert code == 0 and json.loads(out)["best_known_instance"] == "ft06"
    assert "built-in" in err and "./ft06" in err
    code, out, _ = run_cli(capsys, "solve", "./ft06", "--json")
    assert code == 0 and json.loads(out)["best_known_instance"] is None


def test_interrupted_eval_writes_what_it_solved(tmp_path, monkeypatch, capsys):
    """Ctrl-C in the second size group: the first group's rows are written, marked
    incomplete, the CSV beside them, exit 130 with one line."""
    from jaxshop_baselines import methods

    calls = []
    solve = methods.Method.solve

    def interrupted_second_time(self, instances, key=None, progress=None):
        calls.append(len(instances))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return solve(self, instances, key, progress)

    monkeypatch.setattr(methods.Method, "solve", interrupted_second_time)
    out_file = tmp_path / "r.json"
    code, out, err = run_cli(capsys, "eval", "--suite", "taillard-pfsp", "--groups",
                             "20x5,20x10", "--method", "neh", "--out", out_file, "--quiet")
    assert code == 130 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted after 10 of 20" in lines[0], err
    report = json.loads(out_file.read_text())
    assert report["complete"] is False and report["solved"] == 10 and report["total"] == 20
    assert {r["group"] for r in report["instances"]} == {"20x5"}
    assert list(report["group_mean_gap_percent"]) == ["20x5"]
    assert report["instances"][0]["makespan"] == 1286  # ta001 by NEH
    csv_rows = out_file.with_suffix(".csv").read_text().strip().splitlines()
    assert len(csv_rows) == 11


def test_scripts_do_not_write_tracked_results_by_default():
    """A script's default output goes under the git-ignored runs/; the tracked results/
    change only when --out names them."""
    default = re.compile(r"(default=|DEFAULT_OUT\s*=)[^\n]*\bresults\b")
    offenders = []
    for script in sorted((ROOT / "scripts").glob("*.py")):
        for line in script.read_text().splitlines():
            if default.search(line) and "runs" not in line:
                offenders.append(f"{script.name}: {line.strip()}")
    assert not offenders, offenders
    assert "runs/" in (ROOT / ".gitignore").read_text().split()


def test_parse_instance_keeps_unambiguous_sniffing():
    assert parse_instance("2 2\n0 3 1 4\n1 2 0 5\n").shape == (2, 2, 2)


@pytest.mark.slow
def test_interrupted_random_eval_keeps_the_finished_chunks(tmp_path, monkeypatch, capsys):
    """Ctrl-C after the first chunk of `eval --random`: the finished chunk's instances are
    summarised and written, marked incomplete; exit 130 with one line."""
    from rich.progress import Progress

    def interrupt(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "update", interrupt)  # the first chunk's progress report
    out_file = tmp_path / "g.json"
    code, out, err = run_cli(capsys, "eval", "--random", "pfsp:5x3:12", "--method", "neh",
                             "--chunk", "4", "--out", out_file, "--quiet")
    assert code == 130 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted after 4 of 12" in lines[0], err
    report = json.loads(out_file.read_text())
    assert report["complete"] is False and report["evaluated"] == 4 and report["solved"] == 4
    assert report["mean_makespan"] > 0
