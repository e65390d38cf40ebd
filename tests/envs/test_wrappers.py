"""Wrappers: TimeLimit, AutoReset, EpisodeStats, VmapWrapper, and the API checker on each."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxshop
from jaxshop.fab import default_params
from jaxshop.fjsp import FJSPGenerator, FlexibleJobShop
from jaxshop.instances.types import FJSPInstance
from jaxshop.pfsp import PermutationFlowShop, UniformPFSPGenerator
from jaxshop.rollout import random_valid_action
from jaxshop.testing import check_env, unwrap_state
from jaxshop.wrappers import AutoReset, EpisodeStats, TimeLimit, VmapWrapper, Wrapper

RNG = np.random.default_rng(0)
PFSP_INSTANCES = [
    jaxshop.PFSPInstance.from_array(RNG.integers(1, 20, size=s)) for s in [(4, 3), (3, 2)]
]
PFSP = PermutationFlowShop(generator=UniformPFSPGenerator(4, 3))


def _episode(env, instance, actions):
    state, ts = env.reset(jax.random.PRNGKey(0), instance)
    out = []
    for a in actions:
        state, ts = env.step(state, jnp.int32(a))
        out.append(ts)
    return state, out


def test_truncation_vs_termination():
    inst = jaxshop.PFSPInstance.from_array(np.array([[2, 3], [4, 1], [3, 3]]))
    env = TimeLimit(jaxshop.make("pfsp"), max_decisions=2)
    state, steps = _episode(env, inst, [0, 1, 2])
    assert bool(steps[0].mid())
    assert bool(steps[1].truncated()) and not bool(steps[1].terminated())
    assert float(steps[1].discount) == 1.0
    # The terminal mask convention: all False once truncated.
    assert not bool(steps[1].observation.action_mask.any())
    # Further steps are no-ops: zero reward, still LAST, the third job never scheduled.
    assert float(steps[2].reward) == 0.0 and bool(steps[2].last())
    assert int(state.inner.num_scheduled) == 2 and bool(env.is_done(state))

    env3 = TimeLimit(jaxshop.make("pfsp"), max_decisions=3)
    _, steps = _episode(env3, inst, [0, 1, 2])
    assert bool(steps[2].terminated()) and not bool(steps[2].truncated())


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        TimeLimit(jaxshop.make("pfsp"), 0)
    with pytest.raises(ValueError):
        VmapWrapper(jaxshop.make("pfsp"), 0)
    env = PermutationFlowShop()
    env.generator = None
    with pytest.raises(ValueError, match="generator"):
        AutoReset(env)


def test_forwarding_and_unwrapped():
    inner = FlexibleJobShop(mode="insert")
    env = EpisodeStats(TimeLimit(inner, 5))
    assert isinstance(env, Wrapper) and isinstance(env, jaxshop.Environment)
    assert env.unwrapped is inner and env.env.unwrapped is inner
    assert env.mode == "insert" and env.problem == "fjsp" and env.reward_mode == "dense"
    assert env.max_steps(jaxshop.pad(FJSPInstance.from_job_shop([[0]], [[3]]), max_ops=9)) == 5
    with pytest.raises(AttributeError):
        env.no_such_attribute  # noqa: B018
    assert "EpisodeStats(TimeLimit(" in repr(env)


def test_cached_make_shares_one_env_per_arguments():
    env = jaxshop.cached_make("fjsp", mode="insert")
    assert env is jaxshop.cached_make("fjsp", mode="insert")
    assert env is not jaxshop.cached_make("fjsp", mode="append")
    assert isinstance(env, FlexibleJobShop) and env.mode == "insert"
    fab = jaxshop.cached_make("fab", params=default_params())  # unhashable: not cached
    assert fab is not jaxshop.cached_make("fab", params=default_params())


@pytest.mark.parametrize(
    "make",
    [
        lambda: TimeLimit(PFSP, 10),
        lambda: TimeLimit(PFSP, 2),  # truncates every episode
        lambda: EpisodeStats(PFSP),
        lambda: AutoReset(PFSP),
        lambda: EpisodeStats(AutoReset(PFSP, jaxshop.stack(PFSP_INSTANCES), sample=True)),
        lambda: VmapWrapper(PFSP, 2),
    ],
    ids=["timelimit", "timelimit-truncating", "stats", "autoreset", "stats-autoreset-suite",
         "vmap"],
)
@pytest.mark.slow
def test_api_checker_on_wrappers(make):
    check_env(make(), PFSP_INSTANCES)


STATS_ENV = EpisodeStats(AutoReset(PFSP))


@jax.jit
def _run_stats(key):
    state, ts = STATS_ENV.reset(key)

    def body(s, k):
        s, t = STATS_ENV.step(s, random_valid_action(k, STATS_ENV.action_mask(s)))
        return s, t

    return jax.lax.scan(body, state, jax.random.split(key, 13))


def test_episode_stats_with_auto_reset():
    _, ts = _run_stats(jax.random.PRNGKey(2))
    ended = np.asarray(ts.extras["returned_episode"])
    # 4 jobs per generated instance: episodes end on steps 4, 8, 12.
    np.testing.assert_array_equal(np.flatnonzero(ended), [3, 7, 11])
    returns = np.asarray(ts.extras["returned_episode_returns"])[ended]
    makespans = np.asarray(ts.extras["returned_episode_makespans"])[ended]
    np.testing.assert_array_equal(returns, -makespans)
    np.testing.assert_array_equal(np.asarray(ts.extras["returned_episode_lengths"])[ended], 4)
    assert (makespans > 0).all() and len(set(makespans.tolist())) > 1  # new instances
    np.testing.assert_array_equal(np.asarray(ts.extras["timestep"]), np.arange(1, 14))
    assert not np.asarray(ts.extras["returned_episode_invalid_actions"]).any()
    rewards = np.asarray(ts.reward)
    assert rewards[:4].sum() == returns[0] and rewards[4:8].sum() == returns[1]


def test_episode_stats_counts_invalid_actions():
    env = EpisodeStats(PFSP)
    inst = PFSP_INSTANCES[1]
    state, steps = _episode(env, inst, [0, 0, 2, 1])  # the second 0 is invalid
    assert bool(steps[-1].extras["returned_episode"]) is False  # a no-op after the end
    assert int(steps[2].extras["returned_episode_invalid_actions"]) == 1
    assert int(steps[2].extras["returned_episode_lengths"]) == 3
    assert int(state.returned_metrics["makespan"]) == int(env.current_makespan(state))


def test_auto_reset_cycles_a_suite_and_keeps_terminal_observation():
    suite = jaxshop.stack(PFSP_INSTANCES)  # padded to (4, 3)
    env = AutoReset(jaxshop.make("pfsp"), suite, terminal_observation=True)
    state, ts = env.reset(jax.random.PRNGKey(0))
    assert "terminal_observation" in ts.extras
    seen = []
    for _ in range(4 + 3 + 1):
        mask = env.action_mask(state)
        seen.append(int(unwrap_state(env, state).instance.job_mask.sum()))
        state, ts = env.step(state, jnp.argmax(mask).astype(jnp.int32))
        if bool(ts.last()):
            term = ts.extras["terminal_observation"]
            assert not bool(term.action_mask.any()) and bool(term.scheduled.any())
            assert bool(ts.observation.action_mask.any())
    # Instances cycle: 4 jobs, then 3 jobs, then the 4-job instance again.
    assert seen == [4] * 4 + [3] * 3 + [4]


def test_auto_reset_fjsp_generator_one_observe_per_step():
    calls = []

    class Counting(FlexibleJobShop):
        def observe(self, state):
            calls.append(1)
            return super().observe(state)

    gen = FJSPGenerator(2, 2, ops_per_job=(1, 2), machines_per_op=(1, 2), time_range=(1, 5))
    env = AutoReset(Counting(generator=gen))
    state, _ = env.reset(jax.random.PRNGKey(0))
    calls.clear()
    jax.jit(env.step).lower(state, jnp.int32(0))
    assert len(calls) == 1  # traced once: one observe in the step program


def test_render_partial_schedule():
    import matplotlib.pyplot as plt

    env = TimeLimit(PFSP, 10)
    state, _ = env.reset(jax.random.PRNGKey(0), PFSP_INSTANCES[0])
    state, _ = env.step(state, jnp.int32(1))
    fig = env.render(state, title="partial")
    assert "partial" in fig.axes[0].get_title()
    plt.close(fig)
