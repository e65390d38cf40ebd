"""PFSP env: API checker, NumPy reference recurrence, hypothesis property tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from api_checker import check_env
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import jaxshop
from jaxshop.pfsp import PermutationFlowShop, UniformPFSPGenerator, batched_makespan, makespan

MAX_JOBS, MAX_MACHINES = 7, 5
ENV = PermutationFlowShop(generator=UniformPFSPGenerator(5, 3))
RESET = jax.jit(ENV.reset)
STEP = jax.jit(ENV.step)


def reference_completion(p: np.ndarray, perm) -> np.ndarray:
    """Plain flow-shop recurrence C[i,k] = max(C[i-1,k], C[i,k-1]) + p[perm[i],k]."""
    n, m = len(perm), p.shape[1]
    c = np.zeros((n + 1, m + 1), np.int64)
    for i, j in enumerate(perm, start=1):
        for k in range(1, m + 1):
            c[i, k] = max(c[i - 1, k], c[i, k - 1]) + p[j, k - 1]
    return c[1:, 1:]


def _instance(p: np.ndarray) -> jaxshop.PFSPInstance:
    return jaxshop.pad(
        jaxshop.PFSPInstance.from_array(p), max_jobs=MAX_JOBS, max_machines=MAX_MACHINES
    )


times = st.tuples(st.integers(1, MAX_JOBS), st.integers(1, MAX_MACHINES)).flatmap(
    lambda s: arrays(np.int32, s, elements=st.integers(0, 60))
)


@given(times, st.randoms(use_true_random=False))
def test_random_episodes_match_reference(p, rnd):
    perm = list(range(p.shape[0]))
    rnd.shuffle(perm)
    state, ts = RESET(jax.random.PRNGKey(0), _instance(p))
    total = 0.0
    for j in perm:
        assert bool(ts.observation.action_mask[j])
        state, ts = STEP(state, jnp.int32(j))
        total += float(ts.reward)
    ref = reference_completion(p, perm)
    assert bool(ts.last()) and bool(ts.terminated())
    assert total == -ref[-1, -1]
    assert int(state.completion[p.shape[1] - 1]) == ref[-1, -1]
    sched = jax.device_get(ENV.schedule(state))
    check = jaxshop.validate(jaxshop.PFSPInstance.from_array(p), sched.crop(p.shape))
    assert check, check.reason
    assert check.makespan == ref[-1, -1]
    # End times on real machines equal the recurrence, row by row of the sequence.
    end = np.asarray(sched.end)[perm][:, : p.shape[1]]
    np.testing.assert_array_equal(end, ref)


@given(
    st.integers(1, 4).flatmap(
        lambda b: st.tuples(
            arrays(np.int32, (b, 6, 4), elements=st.integers(0, 99)),
            st.lists(st.permutations(range(6)), min_size=b, max_size=b),
        )
    )
)
def test_batched_makespan_matches_reference(data):
    p, perms = data
    got = np.asarray(batched_makespan(jnp.asarray(p), jnp.asarray(perms, jnp.int32)))
    want = [reference_completion(p[b], perms[b])[-1, -1] for b in range(len(perms))]
    np.testing.assert_array_equal(got, want)


def test_makespan_skips_padding_entries():
    p = np.array([[3, 2], [1, 4], [2, 2]], np.int32)
    full = int(makespan(p, jnp.array([2, 0, 1])))
    padded = int(makespan(np.vstack([p, [[0, 0]]]), jnp.array([2, 0, 1, -1])))
    assert full == padded == reference_completion(p, [2, 0, 1])[-1, -1]


def test_toy_instance_with_known_optimum():
    # Two jobs, two machines: (1, 5) then (5, 1) is Johnson's optimal order, makespan 7.
    p = np.array([[5, 1], [1, 5]], np.int32)
    inst = jaxshop.PFSPInstance.from_array(p)
    best = min(int(makespan(p, jnp.array(perm))) for perm in ([0, 1], [1, 0]))
    assert best == 7
    state, _ = ENV.reset(jax.random.PRNGKey(0), inst)
    for j in (1, 0):
        state, ts = ENV.step(state, jnp.int32(j))
    assert float(ts.extras["makespan"]) == 7


@pytest.mark.slow
def test_api_checker():
    rng = np.random.default_rng(0)
    instances = [
        jaxshop.PFSPInstance.from_array(rng.integers(1, 20, size=s))
        for s in [(5, 3), (3, 2), (4, 4)]
    ]
    check_env(ENV, instances)


@pytest.mark.parametrize("mode", ["normalized", "terminal"])
def test_reward_modes(mode):
    env = PermutationFlowShop(reward=mode)
    p = np.array([[3, 4], [2, 6], [5, 1]], np.int32)
    inst = jaxshop.PFSPInstance.from_array(p)
    state, _ = env.reset(jax.random.PRNGKey(0), inst)
    rewards = []
    for j in (2, 0, 1):
        state, ts = env.step(state, jnp.int32(j))
        rewards.append(float(ts.reward))
    cmax = reference_completion(p, [2, 0, 1])[-1, -1]
    if mode == "terminal":
        assert rewards[:-1] == [0.0, 0.0] and rewards[-1] == -cmax
    else:
        lb = p.sum(0).max()
        assert np.isclose(sum(rewards), -cmax / lb)


def test_generator_keys_differ_under_vmap():
    gen = UniformPFSPGenerator(6, 3, max_jobs=8)
    batch = jax.vmap(gen)(jax.random.split(jax.random.PRNGKey(1), 4))
    p = np.asarray(batch.processing_times)
    assert p.shape == (4, 8, 3)
    assert len({p[i].tobytes() for i in range(4)}) == 4
    assert p[:, :6].min() >= 1 and p[:, :6].max() <= 99 and (p[:, 6:] == 0).all()


def test_stack_rejects_too_small_padding():
    inst = jaxshop.PFSPInstance.from_array(np.ones((5, 3), np.int32))
    with pytest.raises(ValueError, match="does not fit"):
        jaxshop.stack([inst], max_jobs=4)
