"""Tests of the (flexible) job-shop dispatch env against a NumPy reference simulator.

Every instance is padded to one shape `(J, O, M)` and the envs are shared, so each
compiled program (reset, step, observe, the replay scan) is built once per mode.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fjsp_reference import from_instance, random_instance
from hypothesis import given
from hypothesis import strategies as st

import jaxshop
from jaxshop.fjsp import (
    DYNAMIC_FEATURES,
    MODES,
    STATIC_FEATURES,
    FJSPGenerator,
    FlexibleJobShop,
    JobShopGenerator,
    makespan_lower_bound,
)
from jaxshop.fjsp.env import timeline_capacity
from jaxshop.fjsp.features import GROUPS, assemble, group_columns
from jaxshop.fjsp.generator import random_ranks, uniform_ints
from jaxshop.instances.types import FJSPInstance
from jaxshop.types import StepType

J, O, M = 5, 4, 4  # noqa: E741
NUM_FEATURES = len(STATIC_FEATURES) + len(DYNAMIC_FEATURES)
KEY = jax.random.PRNGKey(0)
ENVS = {mode: FlexibleJobShop(mode=mode) for mode in MODES}


def _replay_fn(env: FlexibleJobShop):
    """jit: runs a fixed action sequence from reset; per-step outputs for the checks."""

    def run(instance, actions):
        state, _ = env.reset(KEY, instance)

        def body(s, a):
            predicted = env.pair_start_times(s)  # before the step
            s, ts = env.step(s, a)
            out = (ts.reward, ts.extras["invalid_action"], ts.step_type, ts.discount,
                   ts.observation.pair_features, ts.observation.action_mask, predicted)
            return s, out

        return jax.lax.scan(body, state, actions)

    return jax.jit(run)


REPLAY = {mode: _replay_fn(env) for mode, env in ENVS.items()}
LOWER_BOUND = jax.jit(makespan_lower_bound)


def _pad(instance: FJSPInstance) -> FJSPInstance:
    return jaxshop.pad(instance, max_jobs=J, max_ops=O, max_machines=M)


def _padded(jobs, num_machines) -> FJSPInstance:
    return _pad(FJSPInstance.from_operations(jobs, num_machines))


def _play_reference(instance, mode, rng, invalid_rate=0.0):
    """Random (mostly valid) actions, then junk up to the static episode length.

    Returns the finished reference, the actions, the number of real decisions and the
    reference's predicted pair starts before each decision.
    """
    ref = from_instance(instance, mode)
    actions, predicted = [], []
    while not ref.done():
        predicted.append(ref.pair_starts())
        if rng.random() < invalid_rate:
            a = int(rng.integers(-2, J * M + 2))
        else:
            a = int(rng.choice(ref.valid_actions()))
        actions.append(a)
        ref.step(a)
    n = len(actions)
    actions += [int(x) for x in rng.integers(-1, J * M + 1, size=J * O - n)]
    return ref, np.asarray(actions, np.int32), n, np.asarray(predicted)


def _check_active(instance, machine, start, end, order):
    """Insert mode: no op could have started earlier in an idle gap of its machine."""
    times = np.asarray(instance.processing_times)
    placed: dict[int, list[tuple[int, int]]] = {}
    for j, k in order:
        m, s, e = int(machine[j, k]), int(start[j, k]), int(end[j, k])
        p = int(times[j, k, m])
        ready = int(end[j, k - 1]) if k > 0 else 0
        line = placed.setdefault(m, [])
        for t in range(ready, s):
            assert any(a < t + p and t < b for a, b in line), (
                f"job {j} op {k} starts at {s} but fits at {t} on machine {m}: {line}"
            )
        line.append((s, e))


def _check_append(machine, start, end, order):
    """Append mode: every op starts at max(job ready, latest end on its machine so far)."""
    last: dict[int, int] = {}
    for j, k in order:
        m = int(machine[j, k])
        ready = int(end[j, k - 1]) if k > 0 else 0
        assert int(start[j, k]) == max(ready, last.get(m, 0))
        last[m] = max(last.get(m, 0), int(end[j, k]))


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("mode", MODES)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_jobs=st.integers(1, J),
    num_machines=st.integers(1, M),
    max_ops=st.integers(1, O),
    job_shop=st.booleans(),
    low=st.sampled_from([0, 1, 1]),
    invalid_rate=st.sampled_from([0.0, 0.0, 0.3]),
)
@pytest.mark.slow
def test_matches_reference(mode, seed, num_jobs, num_machines, max_ops, job_shop, low,
                           invalid_rate):
    rng = np.random.default_rng(seed)
    jobs = random_instance(rng, num_jobs, num_machines, max_ops, low=low, job_shop=job_shop)
    instance = _padded(jobs, num_machines)
    ref, actions, n, predicted = _play_reference(instance, mode, rng, invalid_rate)

    final, (rewards, invalid, step_type, discount, feats, masks, starts) = REPLAY[mode](
        instance, jnp.asarray(actions)
    )
    env = ENVS[mode]
    sched = jax.device_get(env.schedule(final))
    np.testing.assert_array_equal(sched.machine, ref.machine)
    np.testing.assert_array_equal(sched.start, ref.start)
    np.testing.assert_array_equal(sched.end, ref.end)
    check = jaxshop.validate(instance, sched)
    assert check, check.reason
    assert check.makespan == ref.makespan == int(final.makespan)

    rewards, invalid = np.asarray(rewards), np.asarray(invalid)
    np.testing.assert_array_equal(rewards[:n], [r.reward for r in ref.records])
    np.testing.assert_array_equal(invalid[:n], [r.invalid for r in ref.records])
    assert (rewards[n:] == 0).all() and not invalid[n:].any()
    assert float(rewards.sum()) == -ref.makespan  # the return is exactly -makespan
    step_type = np.asarray(step_type)
    assert (step_type[: n - 1] == StepType.MID).all()
    assert (step_type[n - 1:] == StepType.LAST).all()
    assert (np.asarray(discount)[n - 1:] == 0).all()
    assert bool(env.is_done(final)) and int(final.num_scheduled) == n

    # `pair_start_times` agrees with the reference for every valid pair at every step.
    starts = np.asarray(starts)[:n]
    valid = predicted >= 0
    np.testing.assert_array_equal(starts[valid], predicted[valid])

    # Padded jobs/machines are never valid; features stay finite through the episode.
    masks = np.asarray(masks).reshape(-1, J, M)
    assert not masks[:, num_jobs:].any() and not masks[:, :, num_machines:].any()
    feats = np.asarray(feats)
    assert feats.shape == (J * O, J, M, NUM_FEATURES)
    assert np.isfinite(feats).all()

    order = [(r.job, r.op) for r in ref.records]
    if mode == "insert":
        if low > 0:  # zero-length ops make "fits earlier" ambiguous; covered by the reference
            _check_active(instance, sched.machine, sched.start, sched.end, order)
    else:
        _check_append(sched.machine, sched.start, sched.end, order)
    assert 1 <= float(LOWER_BOUND(instance)) <= max(ref.makespan, 1)


def test_insert_mode_with_a_tight_timeline_matches_the_reference():
    """A timeline of `timeline_capacity(instances)` slots (the most ops one machine can
    get; here < J * O) gives the reference's schedules and pair starts at every step."""
    rng = np.random.default_rng(7)
    insts = [_padded(random_instance(rng, J, M, O, low=1, job_shop=True), M)
             for _ in range(4)]
    capacity = timeline_capacity(jaxshop.stack(insts))
    assert capacity < J * O
    env = FlexibleJobShop(mode="insert", timeline_capacity=capacity)
    replay = _replay_fn(env)
    for instance in insts:
        ref, actions, n, predicted = _play_reference(instance, "insert", rng)
        final, outs = replay(instance, jnp.asarray(actions))
        assert final.timeline.start.shape == (M, capacity)
        sched = jax.device_get(env.schedule(final))
        np.testing.assert_array_equal(sched.start, ref.start)
        np.testing.assert_array_equal(sched.machine, ref.machine)
        starts, valid = np.asarray(outs[-1])[:n], predicted >= 0
        np.testing.assert_array_equal(starts[valid], predicted[valid])


def test_timeline_capacity_counts_the_ops_a_machine_can_get():
    # Job shop: each machine gets one op per job. FJSP: an op counts on every eligible one.
    jssp = FJSPInstance.from_job_shop([[0, 1], [1, 0], [0, 1]], [[3, 2], [2, 4], [1, 1]])
    assert timeline_capacity(jssp) == 3
    assert timeline_capacity(_pad(jssp)) == 3  # padding adds nothing
    fjsp = FJSPInstance.from_operations([[{0: 1, 1: 2}], [{0: 3}], [{1: 1}]], 2)
    assert timeline_capacity(fjsp) == 2
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="timeline_capacity"):
            FlexibleJobShop(mode="insert", timeline_capacity=bad)


# --- hand-solved instances --------------------------------------------------------------

# Job 0: M0 for 3 then M1 for 2; job 1: M1 for 2 then M0 for 4. Machine 0 carries 7 units
# of work, so 7 is a lower bound, and the schedule below reaches it: optimal.
TOY = _pad(FJSPInstance.from_job_shop([[0, 1], [1, 0]], [[3, 2], [2, 4]]))
TOY_OPTIMAL = [0 * M + 0, 1 * M + 1, 0 * M + 1, 1 * M + 0]  # (job, machine) pairs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow
def test_toy_optimum(mode):
    env = ENVS[mode]
    state, ts = env.reset(KEY, TOY)
    assert float(state.normalizer) == 7.0
    total = 0.0
    for a in TOY_OPTIMAL:
        assert bool(ts.observation.action_mask[a])
        state, ts = env.step(state, jnp.int32(a))
        total += float(ts.reward)
    assert bool(ts.terminated()) and int(env.current_makespan(state)) == 7 and total == -7.0
    sched = jax.device_get(env.schedule(state))
    np.testing.assert_array_equal(sched.start[:2, :2], [[0, 3], [0, 3]])
    np.testing.assert_array_equal(sched.machine[:2, :2], [[0, 1], [1, 0]])
    assert (sched.machine[2:] == -1).all() and (sched.machine[:, 2:] == -1).all()
    assert jaxshop.validate(TOY, sched).makespan == 7


@pytest.mark.slow
def test_insert_fills_gap_append_does_not():
    """Job A: M1 for 3 then M0 for 2 (so M0 idles in [0, 3)); job B: M0 for 2."""
    inst = _padded([[{1: 3}, {0: 2}], [{0: 2}]], 2)
    order = [0 * M + 1, 0 * M + 0, 1 * M + 0]
    results = {}
    for mode, env in ENVS.items():
        state, _ = env.reset(KEY, inst)
        for a in order:
            state, _ = env.step(state, jnp.int32(a))
        results[mode] = (int(state.start[1, 0]), int(state.makespan))
    assert results == {"append": (5, 7), "insert": (0, 5)}


def test_flexible_op_takes_the_chosen_machines_time():
    inst = _padded([[{0: 5, 1: 2}]], 2)
    env = ENVS["append"]
    for mach, span in ((0, 5), (1, 2)):
        state, _ = env.reset(KEY, inst)
        state, ts = env.step(state, jnp.int32(mach))
        assert int(state.makespan) == span and float(ts.reward) == -span
        assert int(state.machine_busy[mach]) == span and int(state.machine[0, 0]) == mach


# --- API conventions --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_invalid_action_and_finished_noop(mode):
    env = ENVS[mode]
    instance = _padded(random_instance(np.random.default_rng(1), 3, 3, 3), 3)
    state, ts = env.reset(KEY, instance)
    mask = np.asarray(ts.observation.action_mask)
    first = int(np.argmax(mask))
    s_good, t_good = env.step(state, jnp.int32(first))
    assert not bool(t_good.extras["invalid_action"])
    for bad in [int(np.flatnonzero(~mask)[0]), -1, J * M, 10**6]:
        s_bad, t_bad = env.step(state, jnp.int32(bad))
        assert bool(t_bad.extras["invalid_action"])
        _assert_trees_equal(s_bad, s_good)
        assert float(t_bad.reward) == float(t_good.reward)
    # Run to the end, then step again: nothing changes, nothing is paid.
    while not bool(env.is_done(state)):
        state, ts = env.step(state, jnp.int32(-1))
    for a in (0, 3, -1):
        again, t = env.step(state, jnp.int32(a))
        _assert_trees_equal(again, state)
        assert float(t.reward) == 0.0 and bool(t.terminated())
        assert not bool(t.extras["invalid_action"])
        assert not np.asarray(t.observation.action_mask).any()


@pytest.mark.parametrize("reward", ["normalized", "terminal"])
def test_reward_modes(reward):
    env = FlexibleJobShop(reward=reward)

    @jax.jit
    def rewards_of(instance, actions):  # only rewards leave the program: a fast compile
        state, _ = env.reset(KEY, instance)
        return jax.lax.scan(lambda s, a: (lambda out: (out[0], out[1].reward))(env.step(s, a)),
                            state, actions)[1]

    rewards = [float(r) for r in rewards_of(TOY, jnp.asarray(TOY_OPTIMAL, jnp.int32))]
    if reward == "normalized":  # -makespan / lower bound = -7 / 7
        assert sum(rewards) == pytest.approx(-1.0)
    else:
        assert rewards == [0.0, 0.0, 0.0, -7.0]


def test_registry_and_constructor():
    assert isinstance(jaxshop.make("fjsp"), FlexibleJobShop)
    assert isinstance(jaxshop.make("fjsp").generator, FJSPGenerator)
    jssp = jaxshop.make("jssp", mode="insert")
    assert type(jssp) is FlexibleJobShop and jssp.mode == "insert"
    assert isinstance(jssp.generator, JobShopGenerator)
    with pytest.raises(ValueError):
        FlexibleJobShop(mode="shift")
    with pytest.raises(ValueError):
        FlexibleJobShop(reward="sparse")


def test_job_shop_generator_through_the_same_env():
    gen = JobShopGenerator(4, 3, low=2, high=7, max_jobs=J, max_ops=O, max_machines=M)
    inst = jax.device_get(jax.jit(gen)(jax.random.PRNGKey(3)))
    assert inst.shape == (J, O, M) and inst.is_job_shop()
    e = np.asarray(inst.eligible)
    assert not e[4:].any() and not e[:, 3:].any() and not e[..., 3:].any()
    for j in range(4):  # each job visits every machine once
        assert sorted(e[j, :3].argmax(-1)) == [0, 1, 2]
    p = np.asarray(inst.processing_times)[e]
    assert p.min() >= 2 and p.max() <= 7
    # The same jitted program that runs the flexible instances runs the job shop.
    ref, actions, _, _ = _play_reference(inst, "append", np.random.default_rng(0))
    final = REPLAY["append"](inst, jnp.asarray(actions))[0]
    assert int(final.makespan) == ref.makespan
    assert jaxshop.validate(inst, jax.device_get(ENVS["append"].schedule(final)))


def test_fjsp_generator_ranges():
    gen = FJSPGenerator(4, 3, ops_per_job=(2, 4), machines_per_op=(2, 3), time_range=(5, 9),
                        max_jobs=J, max_ops=O, max_machines=M)
    make = jax.jit(gen)
    insts = [jax.device_get(make(k)) for k in jax.random.split(jax.random.PRNGKey(1), 8)]
    for inst in insts:
        e, p, k = (np.asarray(x) for x in (inst.eligible, inst.processing_times, inst.num_ops))
        assert e.shape == (J, O, M)
        assert (k[:4] >= 2).all() and (k[:4] <= 4).all() and (k[4:] == 0).all()
        counts = e.sum(-1)
        op_mask = np.arange(O) < k[:, None]
        assert ((counts[op_mask] >= 2) & (counts[op_mask] <= 3)).all()
        assert not counts[~op_mask].any() and not e[..., 3:].any()
        assert p[e].min() >= 5 and p[e].max() <= 9 and not p[~e].any()
    assert len({np.asarray(i.processing_times).tobytes() for i in insts}) == len(insts)
    np.testing.assert_array_equal(make(KEY).processing_times, make(KEY).processing_times)


def test_random_helpers():
    ints = np.asarray(jax.jit(lambda k: uniform_ints(k, (4000,), 3, 7))(KEY))
    assert ints.dtype == np.int32 and set(ints.tolist()) == {3, 4, 5, 6, 7}
    wide = np.asarray(uniform_ints(KEY, (64,), 0, 2**20))  # falls back to randint
    assert wide.min() >= 0 and wide.max() <= 2**20 and len(set(wide.tolist())) > 32
    ranks = np.asarray(jax.jit(lambda k: random_ranks(k, (500, 4)))(KEY))
    assert (np.sort(ranks, -1) == np.arange(4)).all()
    assert len({tuple(r) for r in ranks.tolist()}) == 24  # every permutation shows up


@pytest.mark.parametrize(
    "make",
    [
        lambda: JobShopGenerator(0, 3),
        lambda: JobShopGenerator(3, 3, low=5, high=4),
        lambda: JobShopGenerator(3, 3, low=-1),
        lambda: JobShopGenerator(3, 3, max_jobs=2),
        lambda: JobShopGenerator(3, 3, max_ops=2),
        lambda: FJSPGenerator(3, 2, machines_per_op=(1, 3)),
        lambda: FJSPGenerator(3, 2, machines_per_op=(0, 1)),
        lambda: FJSPGenerator(3, 2, ops_per_job=(0, 2)),
        lambda: FJSPGenerator(3, 2, ops_per_job=(3, 2)),
        lambda: FJSPGenerator(3, 2, time_range=(4, 1)),
        lambda: FJSPGenerator(3, 2, ops_per_job=(2, 5), max_ops=4),
    ],
)
def test_generator_rejects_bad_parameters(make):
    with pytest.raises(ValueError):
        make()


# --- features -----------------------------------------------------------------------------


def test_feature_names_and_static_slice():
    assert len(set(STATIC_FEATURES + DYNAMIC_FEATURES)) == NUM_FEATURES
    env = ENVS["append"]
    instance = _padded(random_instance(np.random.default_rng(2), 4, 3, 3), 3)
    state, ts = env.reset(KEY, instance)
    state, ts = env.step(state, jnp.int32(-1))
    feats = np.asarray(ts.observation.pair_features)
    assert feats.shape == (J, M, NUM_FEATURES) and feats.dtype == np.float32
    # Static features ignore the partial schedule's times; dynamic ones do not.
    moved = state.replace(job_ready=state.job_ready * 3 + 7, machine_free=state.machine_free + 3,
                          machine_busy=state.machine_busy * 2)
    moved_feats = np.asarray(env.observe(moved).pair_features)
    ns = len(STATIC_FEATURES)
    np.testing.assert_array_equal(feats[..., :ns], moved_feats[..., :ns])
    assert not np.array_equal(feats[..., ns:], moved_feats[..., ns:])
    # Min-max scaled features lie in [0, 1]; names line up with values.
    named = dict(zip(STATIC_FEATURES + DYNAMIC_FEATURES, np.moveaxis(feats, -1, 0),
                     strict=True))
    for name in ("pair_time", "pair_time_candidates", "pair_start", "job_remaining_work",
                 "job_ready", "machine_load", "machine_available", "machine_utilization"):
        assert named[name].min() >= 0.0 and named[name].max() <= 1.0, name
    mask = np.asarray(ts.observation.action_mask).reshape(J, M)
    t = np.asarray(state.next_times)[mask]
    np.testing.assert_allclose(named["pair_time_candidates"][mask],
                               (t - t.min()) / max(t.max() - t.min(), 1))
    assert named["progress"][0, 0] == pytest.approx(1 / int(instance.num_ops.sum()))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow
def test_feature_groups_repeat_along_the_axes_they_do_not_vary_on(mode):
    """`GROUPS` partition the features; in the observation (checked against the NumPy
    reference above) a job feature repeats along machines, a machine feature along jobs,
    a global one everywhere, and `env.feature_parts` holds the values once."""
    names = STATIC_FEATURES + DYNAMIC_FEATURES
    assert sorted(sum(GROUPS.values(), ())) == sorted(names)
    positions = sorted(p for g in GROUPS for p in group_columns(g)[1])
    assert positions == list(range(NUM_FEATURES))
    static = sorted(p for g in GROUPS for p in group_columns(g, len(STATIC_FEATURES))[1])
    assert static == list(range(len(STATIC_FEATURES)))
    env = ENVS[mode]
    instance = _padded(random_instance(np.random.default_rng(4), 4, 3, 3), 3)
    state, ts = env.reset(KEY, instance)
    for _ in range(3):
        state, ts = env.step(state, jnp.int32(-1))
    feats = np.asarray(ts.observation.pair_features)
    parts = env.feature_parts(state)
    np.testing.assert_array_equal(np.asarray(assemble(parts)), feats)
    expand = {  # a group's values laid out along (J, M)
        "glob": lambda v: v[None, None, :],
        "job": lambda v: v[:, None, :],
        "machine": lambda v: v[None, :, :],
        "pair": lambda v: v,
    }
    for group, lay_out in expand.items():
        values = np.asarray(getattr(parts, group))
        assert values.shape[-1] == len(GROUPS[group])
        columns = feats[..., list(group_columns(group)[1])]  # (J, M, F_group)
        np.testing.assert_array_equal(columns, np.broadcast_to(lay_out(values), columns.shape))


@pytest.mark.parametrize(
    "jobs, machines",
    [
        ([[{0: 4}]], 1),  # a single job with a single op
        ([[{0: 3, 1: 3}, {1: 3}], [{0: 3}]], 2),  # zero variance of times
        ([[{0: 0}, {1: 0}], [{1: 0}, {0: 0}]], 2),  # all-zero times
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_features_finite_on_degenerate_instances(jobs, machines, mode):
    instance = _padded(jobs, machines)
    env = ENVS[mode]
    state, ts = env.reset(KEY, instance)
    while True:
        for leaf in jax.tree_util.tree_leaves(env.observe(state)):
            leaf = np.asarray(leaf)
            assert leaf.dtype.kind != "f" or np.isfinite(leaf).all()
        if bool(env.is_done(state)):
            break
        state, ts = env.step(state, jnp.int32(-1))
    assert jaxshop.validate(instance, jax.device_get(env.schedule(state)))
    assert float(state.normalizer) >= 1.0


# --- the shared API checker ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow
def test_api_checker(mode):
    api_checker = pytest.importorskip("api_checker")
    rng = np.random.default_rng(5)
    instances = [
        FJSPInstance.from_operations(random_instance(rng, 3, 2, 3), 2),
        FJSPInstance.from_operations(random_instance(rng, 2, 3, 2, job_shop=True), 3),
    ]
    gen = FJSPGenerator(3, 3, ops_per_job=(1, 3), machines_per_op=(1, 2), time_range=(1, 9))
    chex.clear_trace_counter()  # check_env's compile-once check keys on the call stack
    api_checker.check_env(FlexibleJobShop(generator=gen, mode=mode), instances)
