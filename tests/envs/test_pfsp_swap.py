"""Swap-improvement env: swap makespans vs recomputation, API checker, episode rules, features."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pfsp_reference import reference_makespan

import jaxshop
from jaxshop.instances.types import PFSPInstance
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.pfsp_swap import (
    ACTION_DIM,
    STATE_DIM,
    SwapFlowShop,
    batched_swap_makespans,
    pair_index,
    swap_makespans,
)
from jaxshop.testing import check_env

N, M = 8, 4  # the one padded shape of these tests
BIG = 2**31 - 1


def reference_swaps(p: np.ndarray, perm: list[int], num_slots: int) -> np.ndarray:
    """Makespan of every swap (f, g), f < g, by recomputation; BIG beyond the real jobs."""
    out = []
    for f, g in itertools.combinations(range(num_slots), 2):
        if g >= len(perm):
            out.append(BIG)
            continue
        seq = list(perm)
        seq[f], seq[g] = seq[g], seq[f]
        out.append(reference_makespan(p, seq))
    return np.array(out, np.int64)


def padded(times: np.ndarray) -> PFSPInstance:
    return jaxshop.pad(PFSPInstance.from_array(times), max_jobs=N, max_machines=M)


SWAPS = jax.jit(swap_makespans)


@st.composite
def cases(draw):
    n = draw(st.integers(1, N))
    m = draw(st.integers(1, M))
    high = draw(st.sampled_from([1, 9, 99, 5000]))
    flat = draw(st.lists(st.integers(0, high), min_size=n * m, max_size=n * m))
    perm = draw(st.permutations(range(n)))
    return np.array(flat, np.int32).reshape(n, m), list(perm)


@given(cases())
def test_swap_makespans_equal_recomputation(case):
    times, perm = case
    inst = padded(times)
    seq = np.full(N, -1, np.int32)
    seq[: len(perm)] = perm
    got = np.asarray(SWAPS(inst.processing_times, seq, len(perm)))
    np.testing.assert_array_equal(got, reference_swaps(times, perm, N))


def test_batched_swap_makespans_match_single():
    rng = np.random.default_rng(1)
    insts, seqs, ns = [], [], []
    for n, m in [(8, 4), (5, 3), (2, 1)]:
        insts.append(padded(rng.integers(1, 50, (n, m)).astype(np.int32)))
        seq = np.full(N, -1, np.int32)
        seq[:n] = rng.permutation(n)
        seqs.append(seq)
        ns.append(n)
    times = jnp.stack([i.processing_times for i in insts])
    got = np.asarray(batched_swap_makespans(times, jnp.asarray(np.stack(seqs)), jnp.array(ns)))
    for i in range(3):
        np.testing.assert_array_equal(got[i], np.asarray(SWAPS(times[i], seqs[i], ns[i])))
    assert pair_index(2, 5, N) == list(itertools.combinations(range(N), 2)).index((2, 5))


@pytest.fixture(scope="module")
def env():
    return SwapFlowShop(generator=UniformPFSPGenerator(6, 3, max_jobs=N, max_machines=M),
                        max_swaps=6)


@pytest.mark.slow
def test_check_env(env):
    rng = np.random.default_rng(2)
    instances = [PFSPInstance.from_array(rng.integers(1, 30, (n, m)).astype(np.int32))
                 for n, m in [(8, 4), (5, 3)]]
    check_env(env, instances)


def test_make_registers_env():
    assert isinstance(jaxshop.make("pfsp_swap", start="neh"), SwapFlowShop)
    with pytest.raises(ValueError, match="reward"):
        SwapFlowShop(reward="dense")


def test_episode_rules_and_features(env):
    rng = np.random.default_rng(3)
    times = rng.integers(1, 30, (7, 3)).astype(np.int32)
    inst = padded(times)
    reset, step = env.reset, env.step  # compiled once per env (shared with check_env)
    state, ts = reset(jax.random.PRNGKey(0), inst)
    perm0 = [int(j) for j in np.asarray(state.permutation) if j >= 0]
    assert sorted(perm0) == list(range(7))
    assert int(state.makespan) == reference_makespan(times, perm0)
    obs = ts.observation
    assert obs.state_features.shape == (STATE_DIM,)
    assert obs.action_features.shape == (N * (N - 1) // 2, ACTION_DIM)
    ret, first_makespan = 0.0, int(state.makespan)
    for _ in range(env.max_swaps + 1):
        mask = np.asarray(ts.observation.action_mask)
        if not mask.any():
            break
        spans = np.asarray(state.swap_makespans)
        action = int(np.argmin(np.where(mask, spans, BIG)))  # steepest descent
        before = int(state.makespan)
        state, ts = step(state, jnp.int32(action))
        assert float(ts.reward) == before - int(state.makespan)
        ret += float(ts.reward)
        perm = [int(j) for j in np.asarray(state.permutation) if j >= 0]
        assert int(state.makespan) == reference_makespan(times, perm)
        if bool(ts.last()):
            # A local optimum terminates (discount 0); the step budget truncates (discount 1).
            improving = (np.asarray(state.swap_makespans) < int(state.makespan)).any()
            assert float(ts.discount) == (1.0 if improving else 0.0)
            break
    assert ret == first_makespan - int(state.makespan)
    # From a given permutation; the makespan-change feature matches the swap makespans.
    given_perm = np.full(N, -1, np.int32)
    given_perm[:7] = np.arange(7)[::-1]
    s2, t2 = env.reset_from(inst, given_perm)
    np.testing.assert_array_equal(np.asarray(s2.permutation), given_perm)
    af = np.asarray(t2.observation.action_features)
    m2 = np.asarray(t2.observation.action_mask)
    change = (np.asarray(s2.swap_makespans) - int(s2.makespan))[m2]
    lb = times.sum(0).max()
    np.testing.assert_allclose(af[m2, 7], 100.0 * change / lb, rtol=1e-5, atol=1e-5)
    assert np.all(af[~m2] == 0)


def test_truncation_keeps_discount_one():
    env = SwapFlowShop(max_swaps=2, stop_at_local_optimum=False, start="identity")
    inst = padded(np.arange(1, 13, dtype=np.int32).reshape(4, 3))
    state, ts = env.reset(jax.random.PRNGKey(0), inst)
    for _ in range(2):
        state, ts = env.step(state, jnp.int32(0))
    assert bool(ts.truncated()) and float(ts.discount) == 1.0
    state, ts = env.step(state, jnp.int32(0))
    assert bool(ts.last()) and float(ts.reward) == 0.0


@pytest.mark.slow
def test_machine_scan_variants_agree_beyond_window():
    """The default sequential machine scan and the previous associative kernel (which
    switches to `lax.associative_scan` beyond 8 machines) give identical makespans."""
    rng = np.random.default_rng(7)
    times = jnp.asarray(rng.integers(0, 99, (6, 11)), jnp.int32)
    perm = jnp.asarray(rng.permutation(6), jnp.int32)
    seq = np.asarray(swap_makespans(times, perm, 6))
    assoc = np.asarray(swap_makespans(times, perm, 6, machine_scan="associative"))
    np.testing.assert_array_equal(seq, assoc)
    np.testing.assert_array_equal(seq, reference_swaps(np.asarray(times), perm.tolist(), 6))
