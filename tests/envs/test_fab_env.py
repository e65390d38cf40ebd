"""Mini-Fab env: agreement with the independent NumPy reference, API checks, bad input."""

from __future__ import annotations

import dataclasses

import chex
import fab_reference as ref
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxshop.env import SchedulingEnvironment
from jaxshop.fab import FabEnv, default_params, weekly_plan
from jaxshop.testing import check_env
from jaxshop.wrappers import AutoReset, EpisodeStats

DAYS, WARMUP = 4, 2
VARIANTS = {
    "default": default_params(),
    "setups+maintenance": default_params(setups=True, maintenance=True),
    "breakdowns+weekly": default_params(breakdowns=True, weekly=True),
}
ENVS = {name: FabEnv(p, days=DAYS, warmup_days=WARMUP) for name, p in VARIANTS.items()}


def _episode(env: FabEnv):
    """One jitted function: reset, then `days` steps with the given actions."""

    @jax.jit
    def run(key, actions):
        state, ts = env.reset(key)

        def body(s, a):
            s, t = env.step(s, a)
            return s, (t.observation, t.reward, t.extras)

        final, (obs, rewards, extras) = jax.lax.scan(body, state, actions)
        return state, ts, final, obs, rewards, extras

    return run


RUNS = {name: _episode(env) for name, env in ENVS.items()}


def _reference_days(env: FabEnv, state, actions):
    p = {f.name: np.asarray(getattr(env.params, f.name))
         for f in dataclasses.fields(env.params)}
    return ref.simulate(
        p, np.asarray(state.release_counts), np.asarray(state.failure_gaps),
        np.asarray(state.repair_times), np.asarray(env.params.failure_mean) > 0,
        [int(a) for a in actions], warmup_days=env.warmup_days,
        warmup_action=env.warmup_action,
    )


def _compare(name: str, seed: int, actions) -> None:
    env = ENVS[name]
    actions = jnp.asarray(actions, jnp.int32)
    state, ts0, final, obs, rewards, extras = RUNS[name](jax.random.PRNGKey(seed), actions)
    days = _reference_days(env, state, np.asarray(actions))
    assert len(days) == WARMUP + DAYS
    agent_days = days[WARMUP:]
    first = ts0.observation
    np.testing.assert_array_equal(np.asarray(first.wip), agent_days[0]["wip_start"])
    np.testing.assert_array_equal(np.asarray(first.queue), agent_days[0]["queue_start"])
    np.testing.assert_allclose(np.asarray(first.oee), days[WARMUP - 1]["oee"], atol=1e-6)
    for i, day in enumerate(agent_days):
        where = f"{name} seed {seed} day {i}"
        np.testing.assert_array_equal(
            np.asarray(extras["busy_minutes"][i]), day["busy_minutes"], err_msg=where)
        assert int(extras["completed"][i]) == day["completed"], where
        assert int(extras["released"][i]) == day["released"], where
        assert int(extras["wip"][i]) == day["wip_end"], where
        assert abs(float(extras["cycle_time"][i]) - day["cycle_time"]) < 1e-3 * max(
            1.0, day["cycle_time"]), where
        assert abs(float(rewards[i]) - day["reward"]) < 1e-5, where
        assert int(extras["lost_lots"][i]) == 0
        if i + 1 < DAYS:  # the observation after day i is the start of day i + 1
            np.testing.assert_array_equal(np.asarray(obs.wip[i]), agent_days[i + 1]["wip_start"],
                                          err_msg=where)
            np.testing.assert_array_equal(np.asarray(obs.queue[i]),
                                          agent_days[i + 1]["queue_start"], err_msg=where)
    assert bool(env.is_done(final))


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.slow
def test_matches_reference_fixed_rules(name):
    for rule in range(4):
        _compare(name, seed=rule, actions=[rule] * DAYS)


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(sorted(VARIANTS)), seed=st.integers(0, 2**31 - 1),
       actions=st.lists(st.integers(0, 9), min_size=DAYS, max_size=DAYS))
@pytest.mark.slow
def test_matches_reference_random_actions(name, seed, actions):
    _compare(name, seed, actions)


def test_conservation_and_bounds():
    actions = jnp.asarray([0, 4, 9, 2], jnp.int32)
    state, ts0, final, obs, rewards, extras = RUNS["default"](jax.random.PRNGKey(7), actions)
    wip0 = int(np.asarray(ts0.observation.wip).sum())
    released = np.cumsum(np.asarray(extras["released"]))
    completed = np.cumsum(np.asarray(extras["completed"]))
    np.testing.assert_array_equal(wip0 + released - completed, np.asarray(extras["wip"]))
    oee = np.asarray(extras["oee"])
    assert ((oee >= 0) & (oee <= 1)).all()
    r = np.asarray(rewards)
    fab = oee.mean(axis=1)
    np.testing.assert_allclose(r, 1 - np.abs(fab - 0.85) / 0.05, atol=1e-5)
    assert not np.asarray(obs.action_mask[-1]).any() and np.asarray(obs.action_mask[0]).all()


@pytest.mark.slow
def test_check_env():
    chex.clear_trace_counter()
    env = FabEnv(days=3, warmup_days=1)
    slow = default_params(setups=True)
    slow.process_time[2] = 60
    check_env(env, [default_params(), slow])


def test_generic_env_reports_its_own_metrics():
    # The fab sits on the generic base: no makespan, no schedule, its own episode metric.
    env = FabEnv(days=2, warmup_days=0)
    assert not isinstance(env, SchedulingEnvironment)
    assert not hasattr(env, "current_makespan") and not hasattr(env, "schedule")
    _, ts = jax.eval_shape(EpisodeStats(AutoReset(env)).step,
                           *jax.eval_shape(EpisodeStats(AutoReset(env)).reset,
                                           jax.random.PRNGKey(0))[:1], jnp.int32(0))
    assert "final_wip" in ts.extras and "returned_episode_wips" in ts.extras
    assert "final_makespan" not in ts.extras and "makespan" not in ts.extras


@pytest.mark.slow
def test_vmap_many_fabs_and_compile_once():
    env = ENVS["default"]
    keys = jax.random.split(jax.random.PRNGKey(3), 8)
    states, ts = jax.jit(jax.vmap(env.reset))(keys, None)
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(s, a):
        return jax.vmap(env.step)(s, a)

    for day in range(3):
        states, ts = step(states, jnp.full((8,), day, jnp.int32))
    wip = np.asarray(ts.extras["wip"])
    assert wip.shape == (8,) and len(set(wip.tolist())) > 1  # different release draws


def test_weekly_plan_matches_starts():
    plan = weekly_plan(np.array([51, 30, 3]), 14)
    np.testing.assert_array_equal(plan.sum(axis=0), [102, 60, 6])


@pytest.mark.parametrize("field,value,message", [
    ("process_time", np.array([225, -30, 55, 50, 255, 10], np.int32), "process_time must be"),
    ("batch_size", np.array([0, 1, 1, 1, 3, 1], np.int32), "batch_size must be in"),
    ("step_machines", np.zeros((6, 5), bool), "no machine"),
    ("release_low", np.array([13, 8, 0], np.int32), "release_low must be <="),
    ("weights", np.array([[6, 0, 1]], np.int32), "sum to 6"),
    ("failure_mean", np.array([np.nan, 0, 0, 0, 0], np.float32), "finite"),
    ("process_time", np.array([225.5, 30, 55, 50, 255, 10]), "integers"),
])
def test_bad_params_raise_before_compile(field, value, message):
    params = default_params().replace(**{field: value})
    with pytest.raises(ValueError, match=message):
        FabEnv(params)
    with pytest.raises(ValueError, match=message):
        ENVS["default"].reset(jax.random.PRNGKey(0), params)


def test_lot_table_sized_up_front():
    with pytest.raises(ValueError, match="raise max_lots"):
        FabEnv(days=30, warmup_days=10, max_lots=256)
    with pytest.raises(ValueError, match="days must be an integer"):
        FabEnv(days=0)
