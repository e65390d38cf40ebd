"""`jaxshop eval --suite fab`: the JSON contract and one-line errors."""

from __future__ import annotations

import json

import pytest
from jaxshop_baselines.cli import main

SMALL = ("--seeds", "3", "--days", "3", "--warmup-days", "1")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("method", ["fab-rule:d3", "ddqn"])
@pytest.mark.slow
def test_eval_fab_json(capsys, method):
    code, out, _ = run_cli(capsys, "eval", "--suite", "fab", "--method", method, *SMALL,
                           "--json")
    assert code == 0
    res = json.loads(out)
    assert res["method"] == method and res["seeds"] == 3 and res["days"] == 3
    for name in ("days_in_band", "mean_abs_deviation", "daily_output", "mean_cycle_time"):
        assert isinstance(res[name], float)
    daily = res["daily"]
    assert len(daily) == 9
    assert {(r["seed"], r["day"]) for r in daily} == {(s, d) for s in range(3)
                                                       for d in range(3)}
    for r in daily:
        assert r["released"] == r["completed"] + r["wip"]
        assert 0.0 <= r["oee"] <= 1.0
    in_band = [sum(0.8 <= r["oee"] <= 0.9 for r in daily if r["seed"] == s) for s in range(3)]
    assert abs(res["days_in_band"] - sum(in_band) / 3) < 1e-5
    dev = [abs(r["oee"] - 0.85) for r in daily]
    assert abs(res["mean_abs_deviation"] - sum(dev) / len(dev)) < 1e-5


@pytest.mark.parametrize("argv,needle", [
    (("--method", "fab-rule:d9"), "unknown rule 'd9'"),
    (("--method", "neh"), "solves pfsp"),
    (("--method", "fab-rule:d1", "--groups", "20x20"), "--groups do(es) not apply"),
    (("--seeds", "0"), "--seeds"),
    (("--days", "-2"), "--days"),
])
def test_eval_fab_errors(capsys, argv, needle):
    code, out, err = run_cli(capsys, "eval", "--suite", "fab", *argv)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_ddqn_greedy_on_the_fab_matches_the_q_network():
    """`--method ddqn` on the fab plays the shipped fab model's masked argmax."""
    import jax
    import jax.numpy as jnp
    from jaxshop_baselines.ddqn import FAB_MODEL, act, load_ddqn, q_values
    from jaxshop_baselines.methods import get_method

    from jaxshop.fab import FabEnv

    config, params = load_ddqn(FAB_MODEL)
    assert config.env == "fab"
    method = get_method("ddqn")
    env = FabEnv(days=2, warmup_days=1)
    _, ts = env.reset(jax.random.PRNGKey(1))
    a = int(method.policy.act(ts.observation))
    q = q_values(params, ts.observation.features)
    assert a == int(jnp.argmax(q)) == int(act(params, ts.observation.features,
                                                 ts.observation.action_mask))


def test_models_of_the_other_env_are_refused(capsys):
    from jaxshop_baselines.ddqn import DEFAULT_MODEL, FAB_MODEL

    code, _, err = run_cli(capsys, "eval", "--suite", "fab", "--method",
                           f"ddqn:{DEFAULT_MODEL}", *SMALL)
    assert code == 2 and "not 'fab'" in err
    code, _, err = run_cli(capsys, "solve", "ft06", "--method", f"ddqn:{FAB_MODEL}")
    assert code == 2 and "not 'fjsp'" in err


def test_fab_options_need_the_fab_suite(capsys):
    code, _, err = run_cli(capsys, "eval", "--suite", "ft", "--seeds", "3")
    assert code == 2 and "only apply to --suite fab" in err


def test_fab_method_refuses_instances(capsys):
    code, _, err = run_cli(capsys, "solve", "ft06", "--method", "fab-rule:d1")
    assert code == 2 and "fab" in err
