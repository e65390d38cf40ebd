"""`jaxshop.replay`: any feasible schedule as env actions, reproducing its makespan."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxshop
from jaxshop.fjsp.generator import FJSPGenerator
from jaxshop.instances.types import PFSPInstance
from jaxshop.rollout import random_policy, rollout
from jaxshop.schedule import Schedule, permutation_schedule

GEN = FJSPGenerator(4, 3, ops_per_job=(2, 3), machines_per_op=(1, 3), time_range=(1, 9))
ENVS = {mode: jaxshop.make("fjsp", mode=mode) for mode in ("append", "insert")}


@functools.cache
def _random_episode(mode: str):
    env = ENVS[mode]

    @jax.jit
    def run(key):
        inst = GEN(key)
        state, _ = env.reset(key, inst)
        final, _, _ = rollout(env, state, key, random_policy(env), 4 * 3)
        return inst, env.schedule(final), env.current_makespan(final)

    return run


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["append", "insert"]), st.integers(0, 2**31 - 1))
def test_an_envs_own_schedule_replays_to_itself(mode, seed):
    """A random valid episode's schedule, replayed in the same mode, is rebuilt exactly
    (every operation at the same start on the same machine)."""
    inst, schedule, makespan = _random_episode(mode)(jax.random.PRNGKey(seed))
    inst = jax.device_get(inst)
    schedule = jax.tree_util.tree_map(np.asarray, schedule)
    env = ENVS[mode]
    actions = jaxshop.replay(env, inst, schedule)
    assert len(actions) == int(np.asarray(inst.num_ops).sum())
    assert jaxshop.replay_makespan(env, inst, actions) == int(makespan)


def test_replay_never_starts_later_and_removes_idle_time():
    """A schedule with needless idle time (every start pushed by 5) replays no worse in
    append mode and back to the tight schedule."""
    inst, schedule, makespan = _random_episode("append")(jax.random.PRNGKey(3))
    inst = jax.device_get(inst)
    s = jax.tree_util.tree_map(np.asarray, schedule)
    late = Schedule(machine=s.machine, start=np.where(s.machine >= 0, s.start + 5, -1),
                    end=np.where(s.machine >= 0, s.end + 5, -1))
    actions = jaxshop.replay(ENVS["append"], inst, late)
    assert jaxshop.replay_makespan(ENVS["append"], inst, actions) == int(makespan)


def test_a_flow_shop_schedule_replays_as_its_permutation():
    p = np.random.default_rng(0).integers(1, 50, (6, 4)).astype(np.int32)
    inst = PFSPInstance.from_array(p)
    order = [3, 1, 5, 0, 2, 4]
    schedule = permutation_schedule(inst, order)
    env = jaxshop.make("pfsp")
    actions = jaxshop.replay(env, inst, schedule)
    assert actions.tolist() == order
    assert jaxshop.replay_makespan(env, inst, actions) == schedule.makespan


def test_records_of_a_solve_json_replay_too():
    inst, schedule, _ = jax.device_get(_random_episode("append")(jax.random.PRNGKey(1)))
    records = Schedule(*map(np.asarray, (schedule.machine, schedule.start,
                                         schedule.end))).to_records()
    assert (jaxshop.replay(ENVS["append"], inst, records).tolist()
            == jaxshop.replay(ENVS["append"], inst, schedule).tolist())


def test_an_infeasible_schedule_or_the_wrong_env_is_refused():
    inst, schedule, _ = jax.device_get(_random_episode("append")(jax.random.PRNGKey(2)))
    s = jax.tree_util.tree_map(np.asarray, schedule)
    overlapping = Schedule(machine=s.machine, start=np.where(s.machine >= 0, 0, -1),
                           end=np.where(s.machine >= 0, s.end - s.start, -1))
    with pytest.raises(ValueError, match="not feasible"):
        jaxshop.replay(ENVS["append"], inst, overlapping)
    with pytest.raises(ValueError, match="needs the fjsp or jssp env"):
        jaxshop.replay(jaxshop.make("pfsp"), inst, schedule)
