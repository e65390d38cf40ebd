"""The fab's regime on the command line, its record in the eval JSON, and the wrappers on
the fab (issue "Release-grade": `eval --suite fab` regime options, a ddqn model evaluated
on the fab it was trained for, `fab_params` and the acting model's `num_params`, every
wrapper passing `check_env` on the fab).

Most CLI cases replace the simulation (`fab_eval.evaluate_fab`) by a stub that records the
env it is given: they test which fab is chosen and what the JSON says about it, in a
second each. `test_model_plays_its_own_fab_end_to_end` runs the real evaluation once.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from jaxshop_baselines.cli import main
from jaxshop_baselines.ddqn import DEFAULT_MODEL, FAB_MODEL, MODELS, load_ddqn
from jaxshop_baselines.ddqn.network import num_params
from jaxshop_baselines.evaluation import fab as fab_eval

import jaxshop
from jaxshop.fab import FabEnv, default_params, params_from_json, params_to_json
from jaxshop.testing import check_env
from jaxshop.wrappers import AutoReset, EpisodeStats, TimeLimit, VmapWrapper

MODEL_7_9 = MODELS / "fab-release-7-9"
SMALL = ("--seeds", "2", "--days", "1", "--warmup-days", "0")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fab_json(capsys, *argv: str) -> tuple[dict, str]:
    code, out, err = run_cli(capsys, "eval", "--suite", "fab", *argv, *SMALL, "--json")
    assert code == 0, err
    return json.loads(out), err


def same_params(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               and np.asarray(x).dtype == np.asarray(y).dtype
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b),
                               strict=True))


@pytest.fixture
def played(monkeypatch) -> list[FabEnv]:
    """Stubs the simulation: each `eval --suite fab` appends the env it would play."""
    envs: list[FabEnv] = []

    def fake(act, *, seeds=100, seed=0, env=None, **_):
        envs.append(env)
        return {"suite": "fab", "seeds": seeds, "days": env.days,
                "warmup_days": env.warmup_days}

    monkeypatch.setattr(fab_eval, "evaluate_fab", fake)
    return envs


# ------------------------------------------------------------------ bad command lines

_RELEASE_7_9 = {"release_low": [7, 7, 0], "release_high": [9, 9, 1]}
EVAL = ("eval", "--suite", "fab")


@pytest.mark.parametrize("argv,file_text,needle", [
    ((*EVAL, "--fab-release", "9,7"), None, "--fab-release"),
    ((*EVAL, "--fab-release", "7"), None, "expected LO,HI"),
    ((*EVAL, "--fab-release", "7,x"), None, "expected LO,HI"),
    ((*EVAL, "--fab-release", "7,101"), None, "<= 100"),
    ((*EVAL, "--fab-release=-1,3"), None, "--fab-release"),
    ((*EVAL, "--fab-release", "7,9", "--fab-weekly"), None, "does not apply with --fab-weekly"),
    ((*EVAL, "--fab-setups", "--fab-params", "{file}"), json.dumps(_RELEASE_7_9),
     "give --fab-params or --fab-setups, not both"),
    ((*EVAL, "--fab-params", "{file}"), None, "p.json: cannot read"),
    ((*EVAL, "--fab-params", "{file}"), "{release_low: 7",
     "p.json: damaged or not a fab parameters file"),
    ((*EVAL, "--fab-params", "{file}"), "[1, 2]", "p.json: expected a JSON object"),
    ((*EVAL, "--fab-params", "{file}"), '{"nope": 1}', "p.json: unknown FabParams field 'nope'"),
    ((*EVAL, "--fab-params", "{file}"), '{"release_low": [7, 7.5, 0]}',
     "p.json: release_low must hold integers"),
    ((*EVAL, "--fab-params", "{file}"), '{"weekly": 1}', "p.json: weekly must hold true/false"),
    ((*EVAL, "--fab-params", "{file}"), '{"process_time": 5}',
     "p.json: process_time must have 1 dimension"),
    ((*EVAL, "--fab-params", "{file}"), '{"batch_size": [0, 1, 1, 1, 3, 1]}',
     "p.json: batch_size must be in [1, 4]"),
    ((*EVAL, "--fab-params", "{file}"), '{"release_low": [13, 8, 0]}',
     "p.json: release_low must be <= release_high"),
    ((*EVAL, "--fab-params", "{file}"), '{"weights": [[6, 0, 0]]}',
     "p.json: FabEnv: warmup_action 3 is not a row of weights"),
    (("eval", "--suite", "ft", "--fab-setups"), None, "--fab-setups only apply to --suite fab"),
    (("eval", "--random", "fjsp:3x2:2", "--fab-release", "7,9"), None,
     "--fab-release do(es) not apply to --random"),
    (("train", "ddqn", "--env", "fjsp", "--fab-breakdowns"), None,
     "--fab-breakdowns applies to --env fab only"),
    (("train", "ddqn", "--env", "fab", "--fab-release", "12,8"), None, "--fab-release"),
    (("train", "ddqn", "--env", "fab", "--fab-weekly", "--fab-release", "7,9"), None,
     "does not apply with --fab-weekly"),
])
def test_bad_fab_options_exit_2_with_one_line(capsys, tmp_path, argv, file_text, needle):
    path = tmp_path / "p.json"
    if file_text is not None:
        path.write_text(file_text)
    code, out, err = run_cli(capsys, *(str(path) if a == "{file}" else a for a in argv))
    assert code == 2 and out == "", (code, out)
    assert err.startswith("jaxshop: error:") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and needle in err, err


# ------------------------------------------------------------------ which fab is played


def test_model_plays_the_fab_it_was_trained_for(capsys, played):
    res, err = fab_json(capsys, "--method", f"ddqn:{MODEL_7_9}")
    assert err == ""  # no regime given: nothing to say
    params = played[-1].params
    assert np.asarray(params.release_low).tolist() == [7, 7, 0]
    assert np.asarray(params.release_high).tolist() == [9, 9, 1]
    assert res["fab_params_source"] == "model" and res["fab"] == "releases 7..9 lots a day"
    assert same_params(params_from_json(res["fab_params"], "json"), default_params(
        release=(7, 9)))
    size = num_params(load_ddqn(MODEL_7_9)[1])
    assert res["num_params"] == res["options"]["num_params"] == size


def test_regime_options_override_the_model_and_say_so(capsys, played):
    res, err = fab_json(capsys, "--method", "ddqn:fab-release-7-9", "--fab-release", "8,12",
                        "--fab-breakdowns")
    assert err.strip() == ("jaxshop: evaluating ddqn:fab-release-7-9, a model trained on "
                           "releases 7..9 lots a day, under releases 8..12 lots a day, with "
                           "breakdowns"), err
    expected = default_params(release=(8, 12), breakdowns=True)
    assert same_params(played[-1].params, expected)
    assert res["fab_params"] == params_to_json(expected)
    assert res["fab_params_source"] == "regime"
    assert res["options"]["fab_release"] == [8, 12] and res["options"]["fab_breakdowns"]


@pytest.mark.parametrize("flags,expected,source", [
    ((), default_params(), "default"),
    (("--fab-release", "7,9", "--fab-setups"), default_params(release=(7, 9), setups=True),
     "regime"),
    (("--fab-weekly", "--fab-maintenance"), default_params(weekly=True, maintenance=True),
     "regime"),
])
def test_rules_play_the_regime_given(capsys, played, flags, expected, source):
    res, err = fab_json(capsys, "--method", "fab-rule:d3", *flags)
    assert err == ""  # a rule was trained on nothing: no override to report
    assert same_params(played[-1].params, expected)
    assert res["fab_params"] == params_to_json(expected) and res["fab_params_source"] == source
    assert res["num_params"] is None


def test_params_file_and_the_record_read_back(capsys, played, tmp_path):
    partial = tmp_path / "fab.json"
    partial.write_text(json.dumps(_RELEASE_7_9))
    res, _ = fab_json(capsys, "--method", "fab-rule:d1", "--fab-params", partial)
    assert same_params(played[-1].params, default_params(release=(7, 9)))
    assert res["fab_params_source"] == "file" and res["options"]["fab_params"] == str(partial)
    record = tmp_path / "record.json"  # the eval's own record is a parameters file
    record.write_text(json.dumps(res["fab_params"]))
    again, _ = fab_json(capsys, "--method", "fab-rule:d1", "--fab-params", record)
    assert again["fab_params"] == res["fab_params"]
    assert same_params(played[-1].params, played[-2].params)


def test_num_params_is_the_acting_fab_models(capsys, played):
    res, _ = fab_json(capsys, "--method", "ddqn")
    fab_size = num_params(load_ddqn(FAB_MODEL)[1])
    assert res["num_params"] == res["options"]["num_params"] == fab_size
    assert fab_size != num_params(load_ddqn(DEFAULT_MODEL)[1])  # not the FJSP model's
    assert res["fab_params_source"] == "model" and res["fab"] == "releases 8..12 lots a day"


def test_train_ddqn_shares_the_regime_options():
    from jaxshop_baselines.ddqn.envs import make_env
    from jaxshop_baselines.ddqn.train import build_parser, config_from_args

    args = build_parser().parse_args(["--env", "fab", "--fab-release", "7,9",
                                      "--fab-breakdowns"])
    config = config_from_args(args)
    assert config.fab_release == (7, 9) and config.fab_breakdowns and not config.fab_setups
    assert same_params(make_env(config).params, default_params(release=(7, 9),
                                                               breakdowns=True))


@pytest.mark.slow
def test_model_plays_its_own_fab_end_to_end(capsys):
    res, err = fab_json(capsys, "--method", f"ddqn:{MODEL_7_9}")
    assert err == ""
    assert res["fab_params"]["release_low"] == [7, 7, 0]
    assert res["fab_params"]["release_high"] == [9, 9, 1]
    assert res["num_params"] == num_params(load_ddqn(MODEL_7_9)[1])
    assert len(res["daily"]) == 2 and res["days"] == 1


# ------------------------------------------------------------------ wrappers on the fab

FAB = FabEnv(days=2, warmup_days=0)
_SLOWER = default_params(setups=True)
_SLOWER.process_time[2] = 60
INSTANCES = [default_params(), _SLOWER]


@pytest.mark.slow
def test_stats_autoreset_timelimit_pass_check_env_on_the_fab():
    env = EpisodeStats(AutoReset(TimeLimit(FAB, 1)))
    check_env(env, INSTANCES)
    # The fab reports no makespan: no AutoReset `final_makespan` (its clock is none) and no
    # EpisodeStats `returned_episode_makespans` (shapes only: nothing compiles).
    state, ts = jax.eval_shape(env.reset, jax.random.PRNGKey(0), INSTANCES[0])
    _, ts = jax.eval_shape(env.step, state, np.int32(0))
    assert "returned_episode" in ts.extras and "returned_episode_lengths" in ts.extras
    assert "final_makespan" not in ts.extras
    assert "returned_episode_makespans" not in ts.extras


@pytest.mark.slow
def test_vmapped_stats_and_timelimit_pass_check_env_on_the_fab():
    check_env(VmapWrapper(EpisodeStats(TimeLimit(FAB, 1)), 2), INSTANCES)


def test_wrappers_check_fab_params_as_the_fab_does():
    bad = default_params().replace(batch_size=np.array([0, 1, 1, 1, 3, 1], np.int32))
    for env in (TimeLimit(FAB, 1), AutoReset(FAB), EpisodeStats(jaxshop.make("fab"))):
        with pytest.raises(ValueError, match="batch_size must be in"):
            env.reset(jax.random.PRNGKey(0), bad)


def test_vmap_wrapper_size_mismatch_says_what_failed():
    env = VmapWrapper(FAB, 3)
    with pytest.raises(AssertionError, match=r"num_envs = 3, got 2"):
        check_env(env, INSTANCES)
    batch = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *INSTANCES)
    with pytest.raises(ValueError, match=r"num_envs=3 needs a batch of 3 .* got leading axes"):
        env.reset(jax.random.PRNGKey(0), batch)
