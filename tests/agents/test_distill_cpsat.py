"""A solver as teacher (`jaxshop distill --teacher cpsat:SECONDS`): the solved set replays
to the solver's makespans, resumes after an interruption without solving again, refuses a
set of other settings, the point-mass loss against NumPy, and a run that learns the set."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("ortools")

from jaxshop_baselines.cli import main as cli_main  # noqa: E402
from jaxshop_baselines.distill import dataset as D  # noqa: E402
from jaxshop_baselines.distill import loss as L  # noqa: E402
from jaxshop_baselines.distill.config import DistillConfig  # noqa: E402

import jaxshop  # noqa: E402

pytestmark = pytest.mark.usefixtures("fast_compile")

SMALL = dict(teacher="cpsat:5", num_jobs=3, num_machines=2, dataset_size=5)


def _config(tmp_path, **kw) -> DistillConfig:
    return DistillConfig(**{**SMALL, "dataset": str(tmp_path / "set.npz"), **kw})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A whole set, built in chunks of 2."""
    folder = tmp_path_factory.mktemp("solved")
    config = DistillConfig(**SMALL, dataset=str(folder / "set.npz"))
    return config, D.build_dataset(config, chunk=2, workers=2)


def test_the_set_replays_to_the_solvers_makespans(built):
    config, data = built
    env = jaxshop.make("fjsp", mode=config.mode)
    assert data["meta"]["seconds"] == 5.0 and len(data["makespan"]) == 5
    assert data["optimal"].all()  # 3 jobs x 2 machines: proven in far less than 5 s
    np.testing.assert_array_equal(data["lower_bound"], data["makespan"])
    for i in range(5):
        inst = jaxshop.instances.FJSPInstance(*(data[f][i] for f in D.INSTANCE_FIELDS))
        ops = int(data["num_ops"][i].sum())
        actions = data["actions"][i]
        assert (actions[ops:] == 0).all()
        # an optimum cannot be improved, and the append mode never starts an op later
        assert jaxshop.replay_makespan(env, inst, actions[:ops]) == data["makespan"][i]
    np.testing.assert_array_equal(data["replay_makespan"], data["makespan"])


def test_an_interrupted_build_goes_on_where_it_stopped(tmp_path, built, monkeypatch):
    config = _config(tmp_path)

    def stop_after_first_chunk(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        D.build_dataset(config, chunk=2, workers=2, progress=stop_after_first_chunk)
    with np.load(tmp_path / "set.npz") as z:
        assert int(z["solved"]) == 2
    solved = []
    from jaxshop_baselines import cpsat

    original = cpsat.solve_many
    monkeypatch.setattr(cpsat, "solve_many",
                        lambda insts, *a, **k: solved.append(len(insts)) or original(
                            insts, *a, **k))
    data = D.build_dataset(config, chunk=2, workers=2)
    assert solved == [2, 1]  # only the three left
    for name in ("actions", "makespan", "lower_bound", *D.INSTANCE_FIELDS):
        np.testing.assert_array_equal(data[name], built[1][name])


def test_a_set_of_other_settings_is_refused(tmp_path, built):
    config, _ = built
    other = DistillConfig(**{**SMALL, "dataset_size": 6}, dataset=config.dataset)
    with pytest.raises(ValueError, match=r"set\.npz: its size is 5, the run needs 6"):
        D.build_dataset(other)
    (tmp_path / "junk.npz").write_text("not a set")
    with pytest.raises(ValueError, match="junk.npz: not a solved set"):
        D.read_dataset(tmp_path / "junk.npz", D.dataset_meta(other))


@pytest.mark.parametrize("alpha,tau,target", [(0.0, 1.0, 0), (1.0, 2.0, 2), (0.5, 0.5, 4)])
def test_point_mass_teacher_loss_is_ce_plus_tempered_ce(alpha, tau, target):
    s = np.array([0.5, -1.0, 2.0, 7.0, 0.1], np.float32)
    mask = np.array([True, True, True, False, True])
    loss, (ce, kl) = L.distill_loss(s, D.SolverTeacher.point_mass(target, 5), mask, target,
                                    alpha, tau)

    def nll(x):
        z = x[mask] - x[mask].max()
        return -(z - np.log(np.exp(z).sum()))[list(np.flatnonzero(mask)).index(target)]

    np.testing.assert_allclose(ce, nll(s), rtol=1e-5)
    np.testing.assert_allclose(kl, nll(s / tau), rtol=1e-5)
    np.testing.assert_allclose(loss, nll(s) + alpha * tau**2 * nll(s / tau), rtol=1e-5)


@pytest.mark.slow
def test_distill_from_cpsat_learns_the_solved_set(tmp_path, built, capsys):
    config, _ = built
    out = tmp_path / "run"
    argv = ["distill", "--teacher", "cpsat:5", "--dataset", config.dataset,
            "--dataset-size", "5", "--jobs", "3", "--machines", "2", "--batch", "8",
            "--dim", "8", "--steps", "30", "--chunk", "10", "--checkpoint-every", "30",
            "--lr", "0.01", "--out", str(out), "--no-progress", "--seed", "1"]
    assert cli_main(argv) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["teacher"] == config.dataset and meta["dataset_size"] == 5
    assert meta["dataset_optimal"] == 5 and meta["teacher_num_params"] is None
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    first, last = float(rows[0]["ce"]), float(rows[-1]["ce"])
    assert last < 0.5 * first  # 5 instances: the student learns the solver's choices
    assert float(rows[-1]["agreement"]) > float(rows[0]["agreement"])
    capsys.readouterr()
    assert cli_main(["solve", "mk01", "--method", f"pointer:{out}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["makespan"] > 0


@pytest.mark.parametrize("extra,message", [
    (["--teacher", "cpsat:0"], "cpsat:SECONDS"),
    (["--teacher", "cpsat:soon"], "cpsat:SECONDS"),
    (["--teacher", "cpsat:2", "--objective", "kickstart"], "objective distill"),
    (["--teacher", "cpsat:2", "--regime", "student"], "regime student"),
    (["--teacher", "cpsat:2", "--teacher-samples", "4"], "teacher_samples"),
    (["--dataset", "x.npz"], "cpsat:SECONDS teacher"),
    (["--teacher", "cpsat:2", "--dataset-size", "0"], "--dataset-size"),
    (["--teacher", "cpsat:2", "--solver-workers", "-1"], "--solver-workers"),
    (["--time-budget", "-5"], "--time-budget"),
    (["--time-budget", "soon"], "--time-budget"),
])
def test_bad_cpsat_teacher_options_are_one_line_errors(tmp_path, capsys, extra, message):
    code = cli_main(["distill", "--out", str(tmp_path / "x"), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_dataset_that_is_not_one_fails_before_any_solve(tmp_path, capsys):
    (tmp_path / "junk.npz").write_text("not a set")
    code = cli_main(["distill", "--teacher", "cpsat:2", "--dataset", str(tmp_path / "junk.npz"),
                     "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "junk.npz: not a solved set" in err
