"""Pointer actor-critic: masking, learning, tracing, vmap, checkpoint/resume, inference.

Everything runs on tiny shapes (3 jobs x 2 machines, D = 16) and compiles with XLA
optimization level 0 (`JAXSHOP_POINTER_FAST_COMPILE=1`); compiled functions are shared
between tests through module-scoped fixtures.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jaxshop_baselines.checkpoints import latest_checkpoint
from jaxshop_baselines.methods import get_method
from jaxshop_baselines.pointer import (
    PointerAgent,
    PointerConfig,
    greedy_decode,
    make_train,
    run_training,
    sample_decode,
)
from jaxshop_baselines.pointer.config import pointer_jit
from jaxshop_baselines.pointer.inference import SAMPLE_CHUNK_PAIRS, chunk_size
from jaxshop_baselines.pointer.model import (
    actor_step,
    choose,
    chosen_row,
    init_params,
    instance_linear,
    sample_choice,
    select_features,
)
from jaxshop_baselines.pointer.train import (
    config_from_args,
    grad_chunks,
    init_runner,
    load_model,
    make_update,
)
from jaxshop_baselines.training import get_trainer

import jaxshop
from jaxshop.fjsp import FJSPGenerator
from jaxshop.instances.types import FJSPInstance, problem_of, stack
from jaxshop.schedule import validate

TINY = PointerConfig(
    num_jobs=3, num_machines=2, embed_dim=16, batch_size=16, num_updates=4,
    updates_per_chunk=2, checkpoint_every=2, eval_size=0, learning_rate=3e-3,
)

# Each op is fast on one machine and slow on the other: a learnable, fixed instance.
FIXED = FJSPInstance.from_operations(
    [
        [{0: 2, 1: 10}, {0: 10, 1: 2}],
        [{0: 10, 1: 2}, {0: 2, 1: 10}],
        [{0: 3, 1: 9}, {0: 9, 1: 3}],
    ],
    num_machines=2,
)


def fixed_sampler(key: jax.Array, batch: int) -> FJSPInstance:
    """Every training instance is `FIXED`."""
    del key
    return jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(jnp.asarray(x), (batch, *np.shape(x))), FIXED
    )


pytestmark = pytest.mark.usefixtures("fast_compile")


LEARN = dataclasses.replace(TINY, num_updates=40)


@pytest.fixture(scope="module")
def learned():
    """`vmap(train)` over two seeds on the fixed instance, traced once, run twice."""
    chex.clear_trace_counter()
    train = pointer_jit(jax.vmap(chex.assert_max_traces(make_train(LEARN, fixed_sampler), n=1)))
    runners, metrics = train(jax.random.split(jax.random.PRNGKey(0), 2))
    again, _ = train(jax.random.split(jax.random.PRNGKey(1), 2))  # would raise on a retrace
    params0 = jax.tree_util.tree_map(lambda x: x[0], runners.params)
    return runners, jax.device_get(metrics), again, params0


# --------------------------------------------------------------------------------------
# The actor step against a NumPy reference that forms the pair embeddings explicitly
# --------------------------------------------------------------------------------------


def _np_actor_step(p: dict, h, prev_emb, first: bool, feats, mask, dim: int, clip: float):
    """One decoding step written from the model's definition: `(P, D)` embeddings
    `e = relu(x W0 + b0) W1 + b1`, flax's GRU cell, glimpse, clipped pointer scores."""
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), p)

    def dense(name, x):
        return x @ p[name]["kernel"] + p[name]["bias"]

    def sig(x):
        return 1 / (1 + np.exp(-x))

    emb_p = p["embedding"]
    emb = np.maximum(feats @ emb_p["dense0"]["kernel"] + emb_p["dense0"]["bias"], 0)
    emb = emb @ emb_p["dense1"]["kernel"] + emb_p["dense1"]["bias"]
    x = p["start"] if first else prev_emb
    g = p["gru"]
    r = sig(x @ g["ir"]["kernel"] + g["ir"]["bias"] + h @ g["hr"]["kernel"])
    z = sig(x @ g["iz"]["kernel"] + g["iz"]["bias"] + h @ g["hz"]["kernel"])
    n = np.tanh(x @ g["in"]["kernel"] + g["in"]["bias"]
                + r * (h @ g["hn"]["kernel"] + g["hn"]["bias"]))
    h = (1 - z) * n + z * h
    scale = 1 / np.sqrt(dim)
    a = np.where(mask, emb @ dense("glimpse_query", h) * scale, -np.inf)
    att = np.exp(a - a.max())
    att /= att.sum()
    q = np.maximum(dense("glimpse_out", np.concatenate([h, att @ emb])), 0)
    u = clip * np.tanh(emb @ dense("pointer_query", q) * scale)
    return h, np.where(mask, u, -np.inf), emb


@pytest.mark.slow
def test_actor_step_equals_explicit_embedding_reference():
    """The folded read-out (`PairEmbedding.read`, never forming the `(P, D)` embeddings)
    computes the same step as the explicit MLP, over two steps so the previous pair's
    embedding (`prev` = its first-layer row, projected in `advance`) is checked too."""
    params = init_params(TINY, jax.random.PRNGKey(7))
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(2, _P, _F)).astype(np.float32)
    mask = np.array([[1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 0, 1]], bool)
    dim = TINY.embed_dim
    h = prev = jnp.zeros((dim,))
    h_ref, prev_ref = np.zeros(dim), None
    for t in range(2):
        h, logits, hidden = actor_step(TINY, params, h, prev, jnp.array(t == 0), feats[t],
                                       mask[t])
        h_ref, logits_ref, emb_ref = _np_actor_step(
            params["actor"], h_ref, prev_ref, t == 0, feats[t].astype(np.float64), mask[t],
            dim, TINY.tanh_clip)
        np.testing.assert_allclose(np.asarray(h), h_ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(logits)[mask[t]], logits_ref[mask[t]],
                                   rtol=1e-4, atol=1e-4)
        action = int(np.argmax(logits_ref))
        prev, prev_ref = hidden[action], emb_ref[action]


@pytest.mark.parametrize("variant", ["sd", "s"])
@pytest.mark.slow
def test_actor_step_from_feature_parts_equals_the_pair_features_step(variant):
    """Decoding reads `env.feature_parts` (the first layer per group) and `chosen_row`:
    the same step, chosen rows and gradients as from the observation's `pair_features`."""
    config = dataclasses.replace(TINY, variant=variant)
    env = jaxshop.make("fjsp")
    gen = FJSPGenerator(4, 3, ops_per_job=(2, 4), machines_per_op=(1, 3), max_jobs=5,
                        max_ops=5, max_machines=4)
    state, ts = env.reset(jax.random.PRNGKey(0), gen(jax.random.PRNGKey(5)))
    state, ts = env.step(state, jnp.int32(-1))  # a partial schedule: dynamic features move
    params = init_params(config, jax.random.PRNGKey(8))
    h = prev = jnp.full((config.embed_dim,), 0.1)
    mask = ts.observation.action_mask
    pairs = jnp.arange(mask.shape[0])

    def run(params, feats):
        out = actor_step(config, params, h, prev, jnp.array(False), feats, mask)
        rows = jax.vmap(lambda a: chosen_row(config, params, feats, a))(pairs)
        return out, rows

    def objective(params, feats):
        (h_new, logits, _), rows = run(params, feats)
        return (jnp.where(mask, logits, 0.0) ** 2).sum() + h_new.sum() + rows.sum()

    full = select_features(config, ts.observation.pair_features)
    parts = env.feature_parts(state)
    (h_a, logits_a, hidden_a), rows_a = run(params, full)
    (h_b, logits_b, hidden_b), rows_b = run(params, parts)
    np.testing.assert_allclose(h_b, h_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(logits_b)[mask], np.asarray(logits_a)[mask],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hidden_b, hidden_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows_a, hidden_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows_b, hidden_a, rtol=1e-5, atol=1e-6)
    grads = [jax.grad(objective)(params, f) for f in (full, parts)]
    for a, b in zip(*map(jax.tree_util.tree_leaves, grads), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    assert any(np.abs(np.asarray(g)).max() > 0
               for g in jax.tree_util.tree_leaves(grads[1]["actor"]["embedding"]))


def test_instance_linear_has_the_gradients_of_a_matmul():
    """`instance_linear` forms the kernel's gradient per instance: the same values as
    autodiff of `x @ w` for both arguments, alone and under `vmap` (summed over it)."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(4, 5, 3, 6)), jnp.float32)  # (batch, J, M, F)
    w = jnp.asarray(rng.normal(size=(6, 8)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(4, 5, 3, 8)), jnp.float32)
    np.testing.assert_allclose(instance_linear(x[0], w), x[0] @ w, rtol=1e-6)

    def loss(fn, x, w):
        return (jax.vmap(fn, in_axes=(0, None))(x, w) * g).sum()

    got = jax.grad(functools.partial(loss, instance_linear), argnums=(0, 1))(x, w)
    want = jax.grad(functools.partial(loss, lambda a, b: a @ b), argnums=(0, 1))(x, w)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_grad_chunks_split_the_batch_evenly():
    assert grad_chunks(128, 128) == 1 and grad_chunks(1024, 0) == 1
    assert grad_chunks(1024, 128) == 8 and grad_chunks(4096, 128) == 32
    assert grad_chunks(200, 128) == 2  # chunks of 100
    assert grad_chunks(1000, 128, devices=8) == 25  # chunks of 40, each splits over 8
    assert grad_chunks(131, 128) == 1  # a prime batch: one pass, not 131 chunks of 1
    with pytest.raises(ValueError, match="grad_chunk"):
        dataclasses.replace(TINY, grad_chunk=-1)


@pytest.mark.slow
def test_chunked_gradient_equals_one_pass():
    """Decoding and differentiating the batch in chunks gives the same update as one pass
    (same episodes, gradients averaged; float summation order aside)."""
    one = dataclasses.replace(TINY, batch_size=8, grad_chunk=0)
    chunked = dataclasses.replace(one, grad_chunk=2)  # 4 chunks of 2 episodes
    runner = init_runner(one, jax.random.PRNGKey(3))
    outs = [pointer_jit(make_update(c))(runner) for c in (one, chunked)]
    (r_one, m_one), (r_chunked, m_chunked) = jax.device_get(outs)
    chex.assert_trees_all_close(r_chunked.params, r_one.params, rtol=1e-5, atol=1e-6)
    for k in m_one:
        np.testing.assert_allclose(m_chunked[k], m_one[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert not np.allclose(jax.tree_util.tree_leaves(r_one.params)[0],
                           jax.tree_util.tree_leaves(runner.params)[0])  # it did learn


# --------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------

_P, _F = 6, TINY.num_features


@pytest.fixture(scope="module")
def step_fn():
    def step(feats, mask, key):
        params = init_params(TINY, jax.random.fold_in(key, 1))
        h = jnp.zeros((TINY.embed_dim,))
        _, logits, _ = actor_step(TINY, params, h, h, jnp.array(True), feats, mask)
        cold = sample_choice(key, logits, mask, jnp.float32(1e-3))
        hot = sample_choice(key, logits, mask, jnp.float32(1e3))
        sampled = (choose(key, logits, mask, False), cold, hot)
        return choose(key, logits, mask, True), sampled, logits

    return pointer_jit(step)


@settings(max_examples=40, deadline=None)
@given(
    mask=hnp.arrays(bool, _P).filter(lambda m: m.any()),
    feats=hnp.arrays(np.float32, (_P, _F), elements=st.floats(-1e4, 1e4, width=32)),
    seed=st.integers(0, 2**31 - 1),
)
@pytest.mark.slow
def test_masked_logits_never_select_invalid_pairs(step_fn, mask, feats, seed):
    greedy, sampled, logits = step_fn(feats, mask, jax.random.PRNGKey(seed))
    assert mask[int(greedy)] and all(mask[int(a)] for a in sampled)
    assert np.isfinite(np.asarray(logits)).all()
    assert (np.asarray(logits)[~mask] < -1e8).all()


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_updates_reduce_loss_and_makespan(learned):
    _, m, _, _ = learned
    assert m["makespan"].shape == (2, LEARN.num_updates)
    assert m["invalid"].sum() == 0 and np.isfinite(m["loss"]).all()
    first, last = slice(0, 8), slice(-8, None)
    for seed in range(2):
        assert m["makespan"][seed, last].mean() < m["makespan"][seed, first].mean() - 1.0
        assert m["critic_loss"][seed, last].mean() < m["critic_loss"][seed, first].mean()


@pytest.mark.slow
def test_train_compiles_once_and_vmap_seeds_differ(learned):
    runners, _, again, _ = learned  # `learned` asserts a single trace for both calls
    leaves = jax.tree_util.tree_leaves(runners.params)
    assert any(not np.allclose(x[0], x[1]) for x in leaves)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(leaves, jax.tree_util.tree_leaves(again.params), strict=True)
    )
    assert np.asarray(runners.update).tolist() == [LEARN.num_updates] * 2


@pytest.mark.slow
def test_resume_equals_uninterrupted_run(tmp_path):
    cfg4 = dataclasses.replace(TINY, num_updates=4)
    full = run_training(cfg4, tmp_path / "a", seed=3, progress=False, sampler=fixed_sampler,
                        plot=False)
    # An interrupted copy (--resume keeps the run's config, so a run is never extended):
    # only the checkpoint at update 2 survives.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "4")
    for name in ("params.msgpack", "meta.json"):
        (tmp_path / "b" / name).unlink()
    assert latest_checkpoint(tmp_path / "b") == 2
    resumed = run_training(cfg4, tmp_path / "b", seed=3, resume=True, progress=False,
                           sampler=fixed_sampler)
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rows_a = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    strip = lambda rows: [r.split(",", 3)[::3] for r in rows]  # drop the wall-clock column
    assert len(rows_b) == 5 and strip(rows_a) == strip(rows_b)
    config, params = load_model(tmp_path / "b")
    assert config == cfg4
    np.testing.assert_array_equal(
        jax.tree_util.tree_leaves(params)[0], jax.tree_util.tree_leaves(full.params)[0]
    )
    meta = json.loads((tmp_path / "b" / "meta.json").read_text())
    assert meta["updates"] == 4 and meta["seed"] == 3
    assert (tmp_path / "b" / "learning_curve.png").stat().st_size > 0


# --------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------


def _instances() -> list[FJSPInstance]:
    from jaxshop.fjsp import FJSPGenerator

    gen = FJSPGenerator(3, 2, ops_per_job=(1, 2), machines_per_op=(1, 2), time_range=(1, 9))
    return [FIXED] + [
        jax.tree_util.tree_map(np.asarray, gen(jax.random.PRNGKey(i))) for i in range(3)
    ]


@pytest.mark.slow
def test_greedy_decoding_is_deterministic(learned):
    agent = PointerAgent(TINY, learned[3])
    batch = stack(_instances())
    a, _ = greedy_decode(agent, batch)
    b, _ = greedy_decode(agent, batch)
    np.testing.assert_array_equal(a.machine, b.machine)
    np.testing.assert_array_equal(a.start, b.start)
    assert int(a.makespan[0]) <= 9  # the learned policy picks the fast machines (opt. 8)


def test_sample_choice_follows_the_tempered_softmax():
    logits = jnp.asarray([1.0, -2.0, 0.5, 3.0, -1e9, 2.0, 0.0], jnp.float32)
    mask = logits > -1e8
    keys = jax.random.split(jax.random.PRNGKey(0), 20000)
    for temperature in (1.0, 2.5):
        draw = jax.jit(jax.vmap(lambda k, t=temperature: sample_choice(k, logits, mask, t)))
        freq = np.bincount(np.asarray(draw(keys)), minlength=7) / keys.shape[0]
        expected = np.asarray(jax.nn.softmax(jnp.where(mask, logits / temperature, -jnp.inf)))
        assert freq[4] == 0.0  # never the masked pair
        np.testing.assert_allclose(freq, expected, atol=0.015)  # ~4 sd at 20,000 draws


def test_chunks_bound_memory():
    assert chunk_size(16, 4, 6, chunk_pairs=4 * 6 * 5) == 4  # 4 chunks of 4, not 5+5+5+1
    for n, batch, pairs in [(1024, 5, 300), (1024, 40, 225), (7, 1, 1), (100, 200, 400)]:
        per = chunk_size(n, batch, pairs)
        assert 1 <= per <= n and (per == 1 or per * batch * pairs <= SAMPLE_CHUNK_PAIRS)


@pytest.mark.slow
def test_best_of_n_has_greedy_among_candidates(learned):
    agent = PointerAgent(TINY, learned[3])
    batch = stack(_instances())
    greedy, _ = greedy_decode(agent, batch)
    # chunk_pairs=120: 4 chunks of 4 candidates per instance (the scan keeps a running best)
    best, makespans, _ = sample_decode(agent, batch, jax.random.PRNGKey(5), 16,
                                       chunk_pairs=120)
    makespans = np.asarray(makespans)
    assert makespans.shape == (4, 16) and makespans.dtype == np.int32
    np.testing.assert_array_equal(makespans[:, 0], np.asarray(greedy.makespan))
    np.testing.assert_array_equal(np.asarray(best.makespan), makespans.min(axis=1))
    assert (np.asarray(best.makespan) <= np.asarray(greedy.makespan)).all()
    # A temperature is an argument of the same compiled sampler; out of range is refused.
    hot, _, _ = sample_decode(agent, batch, jax.random.PRNGKey(5), 16, temperature=5.0,
                              chunk_pairs=120)
    assert (np.asarray(hot.makespan) <= np.asarray(greedy.makespan)).all()
    with pytest.raises(ValueError, match="temperature"):
        sample_decode(agent, batch, jax.random.PRNGKey(5), 16, temperature=0.0)


@pytest.mark.slow
def test_pointer_method_on_a_run_directory(tmp_path, learned):
    from jaxshop_baselines.checkpoints import save_model

    save_model(tmp_path, TINY, learned[3])
    instances = _instances()
    for sample in (0, 16):
        method = get_method(f"pointer:{tmp_path}", sample=sample, mode="append", seed=0)
        solutions = method.solve(instances, jax.random.PRNGKey(0))
        for inst, sol in zip(instances, solutions, strict=True):
            assert validate(inst, sol.schedule), problem_of(inst)
    with pytest.raises(ValueError, match="temperature applies to sampling only"):
        get_method(f"pointer:{tmp_path}", sample=1, temperature=2.0)


# --------------------------------------------------------------------------------------
# Shipped models, registry and CLI parsing (no compilation)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["sd", "s"])
def test_shipped_models_load(variant):
    agent = PointerAgent.load(None, variant=variant)
    assert agent.config.variant == variant
    meta = json.loads((Path(agent.source) / "meta.json").read_text())
    assert "command" in meta and "seed" in meta
    assert get_method("pointer" if variant == "sd" else "pointer:s").name.startswith("pointer")


def test_trainer_registry_and_flags():
    assert callable(get_trainer("pointer"))
    with pytest.raises(ValueError, match="unknown trainer"):
        get_trainer("nope")
    from jaxshop_baselines.pointer.train import build_parser

    args = build_parser().parse_args(
        ["--variant", "s", "--jobs", "15", "--machines", "10", "--steps", "30", "--chunk", "10"]
    )
    cfg = config_from_args(args)
    assert (cfg.variant, cfg.num_jobs, cfg.num_machines) == ("s", 15, 10)
    assert cfg.num_updates == 30 and cfg.checkpoint_every % 10 == 0
    uneven = build_parser().parse_args(["--steps", "25", "--chunk", "10"])
    with pytest.raises(ValueError, match="--steps 25 is not a multiple of --chunk 10"):
        config_from_args(uneven)  # never silently rounded up
    assert cfg.num_features == 9
    with pytest.raises(ValueError, match="resume"):
        get_trainer("pointer")(["--resume"])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "pointer", "--temperature", "0"], "--temperature: must be >= 0.001"),
        (["--method", "pointer", "--temperature", "nan"], "--temperature: must be a finite"),
        (["--method", "pointer", "--sample", "1", "--temperature", "2"], "sampling only"),
        (["--method", "pointer", "--temperature", "2"], "sampling only"),
        (["--method", "neh", "--temperature", "2"], "--temperature does not apply"),
    ],
)
def test_temperature_flag_errors_are_one_line(capsys, extra, message):
    from jaxshop_baselines.cli import main

    assert main(["eval", "--suite", "lawrence", "--limit", "1", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
