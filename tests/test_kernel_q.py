"""Kernel Q-regressor: feature map vs exact kernel, closed-form fit, search, training, CLI."""

from __future__ import annotations

import contextlib
import io
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxshop_baselines.kernel_q import (
    KernelQConfig,
    exact_kernel,
    feature_map,
    make_train,
    poly_features,
    ridge_fit,
    run_training,
    search_init_batch,
    search_run_batch,
)
from jaxshop_baselines.kernel_q.kernel import init_rff
from jaxshop_baselines.kernel_q.train import load_model

import jaxshop
from jaxshop.instances.types import PFSPInstance

LAM, SIGMA = 0.4, 1.5
TINY = KernelQConfig(jobs=5, machines=3, instances=3, walk=2, actions=4, rff=16, max_iters=4,
                     chunk=2, alpha=0.1)


def reference_makespan(p: np.ndarray, seq) -> int:
    m = p.shape[1]
    done = [0] * m
    for j in seq:
        prev = 0
        for k in range(m):
            prev = max(prev, done[k]) + int(p[j, k])
            done[k] = prev
    return done[-1]


def test_poly_features_are_exact():
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 5))
    z = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    got = poly_features(x) @ poly_features(z).T
    np.testing.assert_allclose(np.asarray(got), np.asarray((x @ z.T + 1) ** 2), rtol=1e-4)


def test_feature_map_approximates_mixed_kernel():
    x = 0.5 * jax.random.normal(jax.random.PRNGKey(2), (40, 19))
    exact = np.asarray(exact_kernel(x, x, LAM, SIGMA), np.float64)
    errors = []
    for num in (8, 128, 2048):
        trials = []
        for t in range(3):
            rff = init_rff(jax.random.PRNGKey(10 + t), 19, num, SIGMA)
            phi = np.asarray(feature_map(x, rff, LAM), np.float64)
            trials.append(np.linalg.norm(phi @ phi.T - exact) / np.linalg.norm(exact))
        errors.append(float(np.mean(trials)))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.02, errors


def test_closed_form_fit_equals_numpy():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(200, 30)).astype(np.float32)
    y = rng.normal(size=200).astype(np.float32)
    alpha = 0.5
    got = np.asarray(jax.jit(ridge_fit, static_argnums=2)(phi, y, alpha))
    p64 = phi.astype(np.float64)
    want = np.linalg.solve(p64.T @ p64 + alpha * np.eye(30), p64.T @ y)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)
    # alpha -> 0 is ordinary least squares
    ols = np.asarray(ridge_fit(phi, y, 1e-6))
    want_ols = np.linalg.lstsq(p64, y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(ols, want_ols, rtol=2e-3, atol=2e-4)


@pytest.fixture(scope="module")
def trained():
    """Two seeds of the whole offline run, one jitted vmapped call."""
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    params, metrics = jax.jit(jax.vmap(make_train(TINY)))(keys)
    return params, metrics


def test_make_train_vmaps_over_seeds(trained):
    params, metrics = trained
    assert params["w"].shape == (2, TINY.num_features)
    assert np.isfinite(np.asarray(params["w"])).all()
    its = np.asarray(metrics["iterations"])
    assert ((its >= 1) & (its <= TINY.max_iters)).all()
    assert not np.allclose(np.asarray(params["w"][0]), np.asarray(params["w"][1]))


def test_search_respects_mask_and_compiles_once(trained):
    params = jax.tree_util.tree_map(lambda a: a[0], trained[0])
    rng = np.random.default_rng(5)
    sizes = [(5, 3), (3, 2), (1, 3)]
    insts = [PFSPInstance.from_array(rng.integers(1, 20, s).astype(np.int32)) for s in sizes]
    batch = jaxshop.stack(insts, max_jobs=6, max_machines=3)
    keys = jax.random.split(jax.random.PRNGKey(0), len(insts))
    chex.clear_trace_counter()
    run = jax.jit(chex.assert_max_traces(n=1)(
        lambda s, b, p, k: search_run_batch(s, b, p, k, lam=TINY.lam, patience=3)))
    state = search_init_batch(batch, keys)
    for moves in (4, 7):
        state = run(state, batch, params, jnp.int32(moves))
    perms = np.asarray(state.best_perm)
    cur = np.asarray(state.perm)
    for i, (n, _) in enumerate(sizes):
        for seq in (perms[i], cur[i]):  # a masked swap would move a -1 into the real part
            assert sorted(seq[:n].tolist()) == list(range(n)) and (seq[n:] == -1).all()
        p = np.asarray(insts[i].processing_times)
        assert int(state.best_cmax[i]) == reference_makespan(p, perms[i][:n])
    assert (np.asarray(state.moves) == 11).all()


def test_train_cli_resume_and_model(tmp_path):
    out = tmp_path / "run"
    logs = []
    meta = run_training(TINY, out, 3, log=logs.append)
    assert (out / "model.npz").is_file() and meta["sweeps"] >= 1
    config, params = load_model(out)
    assert config == TINY and params["w"].shape == (TINY.num_features,)
    # resuming a finished run keeps its model
    again = run_training(TINY, out, 3, resume=True, log=logs.append)
    assert again["sweeps"] == meta["sweeps"]
    assert any("resumed" in line for line in logs)
    with pytest.raises(ValueError, match="already holds a run"):
        run_training(TINY, out, 3, log=logs.append)


def test_solve_cli_with_shipped_model():
    from jaxshop.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["solve", "ta001", "--method", "kernel-q", "--iterations", "50", "--json"])
    assert code == 0
    out = json.loads(buf.getvalue())
    perm = out["permutation"]
    p = np.asarray(jaxshop.load("ta001").processing_times)
    assert sorted(perm) == list(range(20))
    assert reference_makespan(p, perm) == out["makespan"]
    assert out["makespan"] <= 1286  # never worse than NEH, its start
