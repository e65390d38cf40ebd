"""NEH (Taillard-accelerated) and iterated greedy: exactness against a plain NumPy NEH,
Taillard ta001, padding invariance, restarts and compile-once behaviour.

Shapes are few and small; compiled functions are shared at module level.
"""

from __future__ import annotations

import itertools

import chex
import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jaxshop_baselines.iterated_greedy import (
    ig_init_batch,
    ig_run_batch,
    iterated_greedy_batch,
    iterated_greedy_timed,
)
from jaxshop_baselines.neh import best_insertion, neh, neh_batch

import jaxshop
from jaxshop.pfsp import makespan

MAX_JOBS, MAX_MACHINES = 8, 5  # padded shape of the property tests

NEH = jax.jit(neh)
MAKESPAN = jax.jit(makespan)
BATCH_MAKESPAN = jax.jit(jax.vmap(jax.vmap(makespan, in_axes=(None, 0))))
NEH_ONCE = jax.jit(chex.assert_max_traces(neh, n=1))


def _ig(times, job_mask, machine_mask, keys, num_iters):
    return iterated_greedy_batch(times, job_mask, machine_mask, keys, num_iters)


IG_ONCE = jax.jit(chex.assert_max_traces(_ig, n=1))  # only ever called with one shape


# --- plain NumPy reference ------------------------------------------------------------


def np_makespan(p: np.ndarray, seq: list[int]) -> int:
    """Textbook recurrence C[j,k] = max(C[j-1,k], C[j,k-1]) + p[j,k]."""
    c = np.zeros(p.shape[1], np.int64)
    for j in seq:
        for k in range(p.shape[1]):
            c[k] = max(c[k], c[k - 1] if k else 0) + p[j, k]
    return int(c[-1])


def np_neh(p: np.ndarray) -> tuple[list[int], int]:
    """NEH by full re-evaluation (O(n^3 m)): decreasing total time (stable), first best."""
    order = sorted(range(p.shape[0]), key=lambda j: (-int(p[j].sum()), j))
    seq: list[int] = []
    best = 0
    for j in order:
        cands = [seq[:i] + [j] + seq[i:] for i in range(len(seq) + 1)]
        spans = [np_makespan(p, c) for c in cands]
        i = int(np.argmin(spans))  # first minimum
        seq, best = cands[i], spans[i]
    return seq, best


def is_insertion_local_optimum(p: np.ndarray, seq: list[int]) -> bool:
    """No job can be moved to another position with a strictly lower makespan."""
    span = np_makespan(p, seq)
    for i, j in enumerate(seq):
        rest = seq[:i] + seq[i + 1 :]
        if any(np_makespan(p, rest[:k] + [j] + rest[k:]) < span for k in range(len(seq))):
            return False
    return True


def random_instance(seed: int, n: int, m: int, low: int = 1, high: int = 99) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high + 1, size=(n, m)).astype(np.int32)


def padded(p: np.ndarray, max_jobs: int = MAX_JOBS, max_machines: int = MAX_MACHINES):
    inst = jaxshop.pad(
        jaxshop.PFSPInstance.from_array(p), max_jobs=max_jobs, max_machines=max_machines
    )
    return inst.processing_times, inst.job_mask, inst.machine_mask


def real_perm(perm) -> list[int]:
    return [int(j) for j in np.asarray(perm) if j >= 0]


# --- NEH ------------------------------------------------------------------------------


@given(
    n=st.integers(1, MAX_JOBS),
    m=st.integers(1, MAX_MACHINES),
    low=st.sampled_from([0, 1]),
    high=st.sampled_from([3, 20, 99]),  # small ranges force ties in sort and insertion
    seed=st.integers(0, 2**31 - 1),
)
def test_neh_matches_numpy_reference(n, m, low, high, seed):
    p = random_instance(seed, n, m, low, high)
    times, job_mask, _ = padded(p)
    perm, span = NEH(times, job_mask)
    ref_seq, ref_span = np_neh(p)
    assert real_perm(perm) == ref_seq
    assert np.all(np.asarray(perm)[n:] == -1)
    assert int(span) == ref_span == int(MAKESPAN(times, perm))


def test_best_insertion_matches_full_evaluation():
    p = random_instance(7, MAX_JOBS, MAX_MACHINES, 1, 9)
    seq = np.array([3, 0, 5, 1, 6, -1, -1, -1], np.int32)
    pos, span = jax.jit(best_insertion)(seq, 5, 2, p)
    base = [3, 0, 5, 1, 6]
    spans = [np_makespan(p, base[:i] + [2] + base[i:]) for i in range(6)]
    assert int(pos) == int(np.argmin(spans)) and int(span) == min(spans)


def test_neh_ta001_is_1286():
    inst = jaxshop.load("ta001")
    perm, span = NEH(inst.processing_times, inst.job_mask)
    assert int(span) == 1286
    assert sorted(real_perm(perm)) == list(range(20))
    assert int(MAKESPAN(inst.processing_times, perm)) == 1286


def test_neh_batch_equals_one_by_one():
    ps = [random_instance(s, n, m) for s, (n, m) in enumerate([(8, 5), (3, 2), (6, 4)])]
    batch = jaxshop.stack(
        [jaxshop.PFSPInstance.from_array(p) for p in ps], max_jobs=MAX_JOBS, max_machines=5
    )
    perms, spans = neh_batch(batch.processing_times, batch.job_mask)
    for i, p in enumerate(ps):
        ref_seq, ref_span = np_neh(p)
        assert real_perm(perms[i]) == ref_seq and int(spans[i]) == ref_span


def test_neh_compiles_once_per_shape():
    for seed in range(3):  # different sizes, one padded shape: one trace
        times, job_mask, _ = padded(random_instance(seed, 4 + seed, 2 + seed))
        perm, span = NEH_ONCE(times, job_mask)
        assert int(span) == np_neh(random_instance(seed, 4 + seed, 2 + seed))[1]


# --- iterated greedy ------------------------------------------------------------------

IG_BATCH, IG_RESTARTS, IG_ITERS = 3, 4, 15
SMALL = random_instance(42, 5, 3)  # also run unpadded in the padding test


@pytest.fixture(scope="module")
def ig_batch():
    """Three instances padded to 8x5 (8x5, 7x4 and the 5x3 `SMALL`), 4 restarts each."""
    ps = [random_instance(10, 8, 5), random_instance(11, 7, 4), SMALL]
    cols = list(zip(*(padded(p) for p in ps), strict=True))
    times, job_mask, machine_mask = (np.stack(c) for c in cols)
    keys = jax.random.split(jax.random.key(0), (IG_BATCH, IG_RESTARTS))
    perms, spans = IG_ONCE(times, job_mask, machine_mask, keys, IG_ITERS)
    return ps, times, job_mask, machine_mask, keys, np.asarray(perms), np.asarray(spans)


@pytest.mark.slow
def test_ig_never_worse_than_neh_and_consistent(ig_batch):
    ps, times, job_mask, _, _, perms, spans = ig_batch
    _, neh_spans = neh_batch(times, job_mask)
    assert np.all(spans <= np.asarray(neh_spans)[:, None])
    np.testing.assert_array_equal(spans, np.asarray(BATCH_MAKESPAN(times, perms)))
    for i, p in enumerate(ps):
        for r in range(IG_RESTARTS):
            assert sorted(real_perm(perms[i, r])) == list(range(p.shape[0]))
            assert np_makespan(p, real_perm(perms[i, r])) == spans[i, r]


@pytest.mark.slow
def test_ig_restarts_differ_and_chunks_reproduce(ig_batch):
    ps, times, job_mask, machine_mask, keys, perms, spans = ig_batch
    state = ig_init_batch(times, job_mask, machine_mask, keys)
    for chunk in (5, 1, IG_ITERS - 6):  # chunks of a host loop, summing to IG_ITERS
        state = ig_run_batch(state, times, job_mask, machine_mask, chunk)
    assert np.all(np.asarray(state.iterations) == IG_ITERS)
    # Different keys give different runs: compare the current (not best) sequences.
    seqs = np.asarray(state.sequence)
    distinct = [len({tuple(seqs[i, r]) for r in range(IG_RESTARTS)}) for i in range(IG_BATCH)]
    assert max(distinct) > 1, distinct
    # Every accepted sequence is a local-search output, hence an insertion local optimum.
    for i, p in enumerate(ps):
        for r in range(IG_RESTARTS):
            assert is_insertion_local_optimum(p, real_perm(seqs[i, r]))
    # Same keys, same answer, in one call or in chunks.
    np.testing.assert_array_equal(np.asarray(state.best_sequence), perms)
    np.testing.assert_array_equal(np.asarray(state.best_makespan), spans)


@pytest.mark.slow
def test_padding_gives_the_same_result(ig_batch):
    _, times, job_mask, machine_mask, keys, perms, spans = ig_batch
    exact = jaxshop.PFSPInstance.from_array(SMALL)
    perm_e, span_e = NEH(exact.processing_times, exact.job_mask)
    perm_p, span_p = NEH(times[2], job_mask[2])
    assert real_perm(perm_e) == real_perm(perm_p) and int(span_e) == int(span_p)

    # The 5x3 instance alone and unpadded, with the same keys as in the 8x5 batch.
    ig_perms, ig_spans = iterated_greedy_batch(
        exact.processing_times[None],
        exact.job_mask[None],
        exact.machine_mask[None],
        keys[2:],
        IG_ITERS,
    )
    for r in range(IG_RESTARTS):
        assert real_perm(ig_perms[0, r]) == real_perm(perms[2, r])
    np.testing.assert_array_equal(np.asarray(ig_spans[0]), spans[2])
    # Five jobs: the search finds the optimum (brute force over 120 permutations).
    optimum = min(np_makespan(SMALL, list(s)) for s in itertools.permutations(range(5)))
    assert np.all(spans[2] == optimum)


def test_ig_compiles_once_across_instances_and_budgets(ig_batch):
    _, times, job_mask, machine_mask, keys, _, _ = ig_batch
    for seed, iters in [(1, 1), (2, 4)]:  # same shape: new times, keys and budgets
        new_times = np.where(times > 0, (times + seed * 7) % 50 + 1, 0).astype(np.int32)
        new_keys = jax.random.split(jax.random.key(seed), keys.shape)
        perms, spans = IG_ONCE(new_times, job_mask, machine_mask, new_keys, iters)
        np.testing.assert_array_equal(spans, BATCH_MAKESPAN(new_times, perms))


def test_ig_time_budget(ig_batch):
    _, times, job_mask, machine_mask, keys, _, _ = ig_batch
    state, timing = iterated_greedy_timed(times, job_mask, machine_mask, keys, time_limit_s=0.3)
    assert timing["iterations"] >= 1 and timing["search_s"] >= 0.3
    assert state.best_makespan.shape == (IG_BATCH, IG_RESTARTS)
    assert np.all(np.asarray(state.iterations) == timing["iterations"])
    _, neh_spans = neh_batch(times, job_mask)
    assert np.all(np.asarray(state.best_makespan) <= np.asarray(neh_spans)[:, None])
