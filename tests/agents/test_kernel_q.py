"""Kernel Q-regressor: feature map vs exact kernel, closed-form fit, search, training, CLI."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from envs.pfsp_reference import reference_makespan
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
    value_iteration,
)
from jaxshop_baselines.kernel_q.kernel import init_rff
from jaxshop_baselines.kernel_q.train import load_model

import jaxshop
from jaxshop.instances.types import PFSPInstance

LAM, SIGMA = 0.4, 1.5
TINY = KernelQConfig(jobs=5, machines=3, instances=3, walk=2, actions=4, rff=16, max_iters=4,
                     chunk=2, alpha=0.1)


def test_poly_features_are_exact():
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 5))
    z = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    poly = jax.jit(poly_features)
    got = poly(x) @ poly(z).T
    np.testing.assert_allclose(np.asarray(got), np.asarray((x @ z.T + 1) ** 2), rtol=1e-4)


@pytest.mark.slow
def test_feature_map_approximates_mixed_kernel():
    x = 0.5 * jax.random.normal(jax.random.PRNGKey(2), (40, 19))
    exact = np.asarray(jax.jit(exact_kernel, static_argnums=(2, 3))(x, x, LAM, SIGMA), np.float64)
    phi_of = jax.jit(feature_map, static_argnums=2)
    errors = []
    for num in (8, 128, 2048):
        trials = []
        for t in range(2):
            rff = init_rff(jax.random.PRNGKey(10 + t), 19, num, SIGMA)
            phi = np.asarray(phi_of(x, rff, LAM), np.float64)
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
    ols = np.asarray(jax.jit(ridge_fit, static_argnums=2)(phi, y, 1e-6))
    want_ols = np.linalg.lstsq(p64, y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(ols, want_ols, rtol=2e-3, atol=2e-4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One CLI-path training run (`run_training`: the one runner, with the jitted sampler
    and value-iteration chunks)."""
    out = tmp_path_factory.mktemp("kq") / "run"
    run_training(TINY, out, 3, progress=False)
    return out, json.loads((out / "meta.json").read_text())


def test_make_train_is_one_pure_function_vmappable_over_seeds():
    # Traced (not compiled, to keep the test fast): the whole run is one function of a key.
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    params, metrics = jax.eval_shape(jax.jit(jax.vmap(make_train(TINY))), keys)
    assert params["w"].shape == (2, TINY.num_features)
    assert metrics["deltas"].shape == (2, TINY.max_iters)


@pytest.mark.slow
def test_search_respects_mask_and_compiles_once():
    """The shipped model on a padded instance of ta001's padded shape (so the CLI test
    below reuses this compile): padded swaps are never picked, and one compiled program
    serves other instances and budgets of the shape."""
    from jaxshop_baselines.kernel_q import DEFAULT_MODEL

    config, params = load_model(DEFAULT_MODEL)
    rng = np.random.default_rng(5)
    real = rng.integers(1, 99, (17, 4)).astype(np.int32)
    inst = PFSPInstance.from_array(real)
    batch = jaxshop.stack([inst], max_jobs=20, max_machines=5)
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    state = search_init_batch(batch, keys)
    before = search_run_batch._cache_size()
    for moves in (5, 9):
        state = search_run_batch(state, batch, params, jnp.int32(moves), lam=config.lam,
                                 candidates=config.candidates)
    assert search_run_batch._cache_size() - before <= 1
    for seq in (np.asarray(state.best_perm[0]), np.asarray(state.env.permutation[0])):
        # a masked swap would move a -1 into the real part
        assert sorted(seq[:17].tolist()) == list(range(17)) and (seq[17:] == -1).all()
    assert int(state.best_cmax[0]) == reference_makespan(real, state.best_perm[0][:17])
    assert int(state.moves[0]) == 14


@pytest.mark.slow
def test_train_cli_resume_and_model(trained, capsys):
    out, meta = trained
    assert (out / "model.npz").is_file() and 1 <= meta["sweeps"] <= TINY.max_iters
    assert all(np.isfinite(meta["deltas"]))
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    # one row per sweep done, its max |dQ| the meta's
    assert [float(r.split(",")[2]) for r in rows] == pytest.approx(meta["deltas"], rel=1e-5)
    config, params = load_model(out)
    assert config == TINY and params["w"].shape == (TINY.num_features,)
    # resuming a finished run keeps its model
    run_training(TINY, out, 3, resume=True, progress=False)
    again = json.loads((out / "meta.json").read_text())
    assert again["sweeps"] == meta["sweeps"] and again["deltas"] == meta["deltas"]
    assert "resumed" in capsys.readouterr().err
    with pytest.raises(ValueError, match="already holds a run"):
        run_training(TINY, out, 3, progress=False)


@pytest.mark.slow
def test_the_chunked_run_is_the_single_call_fit(trained):
    """The runner's chunks (checkpointed every `chunk` sweeps) fit the same weights as
    `make_train`'s one jitted call on the run's seed."""
    out, meta = trained
    params, metrics = jax.jit(make_train(TINY))(jax.random.PRNGKey(3))
    assert int(metrics["iterations"]) == meta["sweeps"]
    np.testing.assert_allclose(load_model(out)[1]["w"], params["w"], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_solve_cli_with_shipped_model():
    from jaxshop_baselines.cli import main

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


def test_candidate_moves_are_the_allowed_swaps_of_least_makespan():
    from jaxshop_baselines.kernel_q.train import candidate_moves

    rng = np.random.default_rng(3)
    spans = rng.integers(50, 60, 45).astype(np.int32)  # many ties
    allowed = rng.random(45) < 0.7
    idx, ok = jax.jit(candidate_moves, static_argnums=2)(spans, allowed, 6)
    order = np.argsort(np.where(allowed, spans, 2**31 - 1), kind="stable")[:6]
    np.testing.assert_array_equal(np.asarray(idx), order)
    assert np.asarray(ok).all()
    # fewer allowed swaps than candidates: the rest are marked missing
    few = np.zeros(45, bool)
    few[[4, 9]] = True
    idx, ok = candidate_moves(jnp.asarray(spans), jnp.asarray(few), 6)
    assert set(np.asarray(idx)[np.asarray(ok)].tolist()) == {4, 9} and int(ok.sum()) == 2
    # k = 0 keeps every swap
    idx, ok = candidate_moves(jnp.asarray(spans), jnp.asarray(allowed), 0)
    assert idx.shape == (45,) and (np.asarray(ok) == allowed).all()


@pytest.mark.slow
def test_search_with_q_equal_to_reward_is_steepest_swap_descent():
    """With `w = 0` and the exact reward (`Q = r`), every move of the candidate-list search
    is the swap of least makespan (recomputed from scratch in NumPy) while one improves."""
    config, params = load_model(__import__("jaxshop_baselines.kernel_q",
                                           fromlist=["DEFAULT_MODEL"]).DEFAULT_MODEL)
    params = dict(params, w=jnp.zeros_like(params["w"]), reward_weight=jnp.float32(1.0))
    real = np.random.default_rng(8).integers(1, 99, (17, 4)).astype(np.int32)
    batch = jaxshop.stack([PFSPInstance.from_array(real)], max_jobs=20, max_machines=5)
    state = search_init_batch(batch, jax.random.split(jax.random.PRNGKey(1), 1))
    seq = [int(j) for j in np.asarray(state.env.permutation[0])[:17]]
    for _ in range(3):
        best = None
        for f in range(17):
            for g in range(f + 1, 17):
                nxt = list(seq)
                nxt[f], nxt[g] = nxt[g], nxt[f]
                c = reference_makespan(real, nxt)
                if best is None or c < best[0]:
                    best = (c, nxt)
        if best[0] >= reference_makespan(real, seq):
            break
        state = search_run_batch(state, batch, params, jnp.int32(1), lam=config.lam,
                                 candidates=config.candidates)
        seq = best[1]
        assert np.asarray(state.env.permutation[0])[:17].tolist() == seq
        assert int(state.env.makespan[0]) == best[0]


@pytest.mark.slow
def test_sampler_targets_use_the_candidate_list():
    """With `candidates = K` the successor features are the K swaps of least makespan of
    `s'` (ascending makespan change), and value iteration on them stays finite."""
    import dataclasses

    from jaxshop_baselines.kernel_q.train import STATE_DIM, init_params, make_sampler

    config = dataclasses.replace(TINY, candidates=3)
    x, reward, x_next, mask_next = jax.jit(make_sampler(config))(jax.random.PRNGKey(4))
    rows = config.instances * config.walk * config.actions
    assert x.shape == (rows, 19) and x_next.shape == (rows, 3, 19)
    assert mask_next.shape == (rows, 3) and bool(mask_next.all())  # 10 swaps, 1 excluded
    change = np.asarray(x_next[..., STATE_DIM + 7])
    assert (np.diff(change, axis=1) >= 0).all()
    np.testing.assert_allclose(np.asarray(reward), -np.asarray(x[:, STATE_DIM + 7]), atol=1e-5)
    params = init_params(config, jax.random.PRNGKey(5))
    fitted, it, _ = value_iteration(config, (x, reward, x_next, mask_next), params, 0, 3,
                                    jnp.full(config.max_iters, jnp.nan))
    assert int(it) == 3 and bool(jnp.isfinite(fitted["w"]).all())


@pytest.mark.parametrize("argv, flag", [
    (["--candidates", "-1"], "--candidates"),
    (["--candidates", "many"], "--candidates"),
    (["--lam", "1"], "--lam"),
    (["--sigma", "0"], "--sigma"),
    (["--rff", "0"], "--rff"),
    (["--sample", "best"], "--sample"),
    (["--sample", "candidates", "--actions", "32"], "--sample"),
    (["--no-residual=yes"], "--no-residual"),
])
def test_bad_kernel_q_flags_are_one_line_usage_errors(capsys, tmp_path, argv, flag):
    from jaxshop_baselines.cli import main

    assert main(["train", "kernel-q", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err, err
    assert not (tmp_path / "run").exists()


def test_sampled_actions_come_from_the_candidate_list():
    import dataclasses

    from jaxshop_baselines.kernel_q.train import check_sampling, sample_actions

    config = dataclasses.replace(TINY, jobs=8, candidates=6, actions=4, sample="candidates")
    rng = np.random.default_rng(11)
    spans = jnp.asarray(rng.integers(40, 50, 28), jnp.int32)
    allowed = jnp.asarray(rng.random(28) < 0.8)
    order = np.argsort(np.where(np.asarray(allowed), np.asarray(spans), 2**31 - 1),
                       kind="stable")
    seen = set()
    for seed in range(8):
        k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
        acts, best, rand = sample_actions(k1, k2, spans, allowed, config)
        acts = np.asarray(acts).tolist()
        assert len(set(acts)) == 4 and set(acts) <= set(order[:6].tolist())
        assert int(best[0]) == order[0] and bool(allowed[int(rand[0])])
        seen |= set(acts)
    assert seen == set(order[:6].tolist())  # uniform over the candidates, not the top 4
    # "mixed": the best half by makespan, then random allowed swaps
    mixed = dataclasses.replace(config, sample="mixed")
    acts, best, _ = sample_actions(k1, k2, spans, allowed, mixed)
    assert np.asarray(acts)[:2].tolist() == order[:2].tolist()
    assert np.asarray(allowed)[np.asarray(acts)].all()
    for bad in (dataclasses.replace(config, actions=7), dataclasses.replace(config, candidates=0),
                dataclasses.replace(config, sample="best")):
        with pytest.raises(ValueError):
            check_sampling(bad)


@pytest.mark.parametrize("name", ["default", "100x20", "200x20"])
def test_shipped_models_load_with_their_training_size(name):
    from jaxshop_baselines.kernel_q import DEFAULT_MODEL

    config, params = load_model(DEFAULT_MODEL.parent / name)
    assert config.residual and config.candidates == 16 and config.sample == "candidates"
    if name != "default":
        assert f"{config.jobs}x{config.machines}" == name
    assert float(params["reward_weight"]) == 1.0 and bool(jnp.isfinite(params["w"]).all())


def test_kernel_q_picks_the_shipped_model_nearest_the_job_count():
    from jaxshop_baselines.kernel_q import DEFAULT_MODEL, shipped_model_for

    models = DEFAULT_MODEL.parent
    for jobs, name in ((5, "default"), (50, "default"), (74, "default"), (75, "default"),
                       (76, "100x20"), (100, "100x20"), (150, "100x20"), (151, "200x20"),
                       (500, "200x20")):
        assert shipped_model_for(jobs) == models / name, jobs


def test_cli_defaults_are_the_shipped_default_models_settings():
    """`jaxshop train kernel-q --out DIR` trains the shipped default's configuration (its
    README command, bit for bit); `--no-residual` gives the plain regressor."""
    from jaxshop_baselines.kernel_q import DEFAULT_MODEL
    from jaxshop_baselines.kernel_q.train import KernelQConfig, build_parser, config_from_args

    shipped = KernelQConfig.from_json(DEFAULT_MODEL / "config.json")

    def config(*argv):
        return config_from_args(build_parser().parse_args(["--out", "x", *argv]))

    assert config() == shipped
    assert config("--jobs", "50", "--machines", "20", "--residual", "--lam", "0.2",
                  "--sigma", "1", "--rff", "32") == shipped
    assert config("--no-residual") == dataclasses.replace(shipped, residual=False)
