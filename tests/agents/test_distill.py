"""Distillation: the loss against NumPy, masking and gradients, the vmapped loss against the
batched formula, compile-once, exact resume, the students as methods and the CLI errors."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxshop_baselines.cli import main as cli_main
from jaxshop_baselines.distill import STUDENT_MODEL
from jaxshop_baselines.distill import loss as L
from jaxshop_baselines.distill import train as T
from jaxshop_baselines.distill.config import DistillConfig

import jaxshop

TINY = dict(num_jobs=3, num_machines=2, batch_size=4, student_dim=4, updates_per_chunk=2,
            checkpoint_every=2, num_updates=4, eval_size=4)


pytestmark = pytest.mark.usefixtures("fast_compile")


def _np_loss(s, t, mask, target, alpha, tau):
    """The loss by hand: softmaxes over the valid entries only."""
    def log_softmax(x):
        x = x[mask]
        z = x - x.max()
        return z - np.log(np.exp(z).sum())

    idx = {a: i for i, a in enumerate(np.flatnonzero(mask))}
    ce = -log_softmax(s)[idx[target]]
    p_t = np.exp(log_softmax(t / tau))
    kl = float((p_t * (log_softmax(t / tau) - log_softmax(s / tau))).sum())
    return ce + alpha * tau**2 * kl, ce, kl


S = np.array([0.5, -1.0, 2.0, 7.0, 0.1], np.float32)
TL = np.array([1.5, 0.0, -0.5, -3.0, 1.0], np.float32)
MASK = np.array([True, True, True, False, True])


@pytest.mark.parametrize("alpha,tau,target", [(1.0, 2.0, 0), (0.5, 1.0, 2), (3.0, 0.5, 4)])
def test_loss_matches_numpy(alpha, tau, target):
    loss, (ce, kl) = L.distill_loss(jnp.asarray(S), jnp.asarray(TL), jnp.asarray(MASK),
                                    jnp.int32(target), alpha, tau)
    ref, ref_ce, ref_kl = _np_loss(S, TL, MASK, target, alpha, tau)
    np.testing.assert_allclose([loss, ce, kl], [ref, ref_ce, ref_kl], rtol=1e-5, atol=1e-6)
    assert kl > 0.01  # the hand example has distinct distributions


def test_kl_is_zero_when_the_student_is_the_teacher():
    _, (ce, kl) = L.distill_loss(jnp.asarray(TL), jnp.asarray(TL), jnp.asarray(MASK),
                                 jnp.int32(0), 1.0, 2.0)
    assert abs(float(kl)) < 1e-6 and float(ce) > 0


def test_gradients_never_reach_the_teacher_or_masked_actions():
    def f(s, t):
        return L.distill_loss(s, t, jnp.asarray(MASK), jnp.int32(1), 1.0, 2.0)[0]

    g_s, g_t = jax.grad(f, argnums=(0, 1))(jnp.asarray(S), jnp.asarray(TL))
    assert np.all(np.asarray(g_t) == 0.0)
    assert np.asarray(g_s)[3] == 0.0 and np.abs(np.asarray(g_s)[MASK]).sum() > 0
    probs = np.exp(np.asarray(L.masked_log_softmax(jnp.asarray(S), jnp.asarray(MASK), 2.0)))
    assert probs[3] == 0.0 and abs(probs.sum() - 1) < 1e-6


def test_single_valid_action_gives_zero_loss_and_finite_gradients():
    mask = jnp.asarray([False, False, True, False, False])
    loss, grads = jax.value_and_grad(
        lambda s: L.distill_loss(s, jnp.asarray(TL), mask, jnp.int32(2), 2.0, 3.0)[0]
    )(jnp.asarray(S))
    assert float(loss) == 0.0 and np.isfinite(np.asarray(grads)).all()


@pytest.mark.slow
def test_vmapped_loss_equals_the_batched_formula():
    key = jax.random.PRNGKey(3)
    k1, k2, k3 = jax.random.split(key, 3)
    s = jax.random.normal(k1, (3, 5, 7)) * 3
    t = jax.random.normal(k2, (3, 5, 7)) * 3
    mask = jax.random.bernoulli(k3, 0.6, (3, 5, 7)).at[..., 0].set(True)
    target = jnp.argmax(jnp.where(mask, t, -1e9), -1)
    vm = jax.vmap(jax.vmap(L.distill_loss, (0, 0, 0, 0, None, None)), (0, 0, 0, 0, None, None))
    per, _ = vm(s, t, mask, target, 0.7, 1.5)
    # The batched formula over the last axis, written without the one-decision function.
    def lsm(x):
        return jax.nn.log_softmax(jnp.where(mask, x, -1e9), axis=-1)

    ce = -jnp.take_along_axis(lsm(s), target[..., None], -1)[..., 0]
    lt, ls = lsm(t / 1.5), lsm(s / 1.5)
    kl = jnp.where(mask, jnp.exp(lt) * (lt - ls), 0).sum(-1)
    np.testing.assert_allclose(per, ce + 0.7 * 1.5**2 * kl, rtol=1e-5, atol=1e-5)


def test_q_pair_logits_induce_the_rule_distribution():
    q = jnp.asarray([1.0, 0.2, -0.7, 0.9])
    picks = jnp.asarray([2, 0, 2, 5])
    tau = 0.8
    logits = L.q_pair_logits(q, picks, 6, tau)
    got = np.exp(np.asarray(L.masked_log_softmax(logits, jnp.ones(6, bool), tau)))
    p_rule = np.exp(np.asarray(q) / tau) / np.exp(np.asarray(q) / tau).sum()
    want = np.zeros(6)
    np.add.at(want, np.asarray(picks), p_rule)
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.fixture(scope="module")
def trained():
    """Two seeds x two settings of (alpha, tau, regime) in one vmapped, jitted call."""
    config = DistillConfig(**TINY)
    train = jax.jit(jax.vmap(T.make_train(config)))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    runners, metrics = train(keys, jnp.asarray([1.0, 0.0]), jnp.asarray([2.0, 1.0]),
                             jnp.asarray([1.0, 0.0]))
    again, _ = train(keys[::-1], jnp.asarray([0.5, 3.0]), jnp.asarray([1.0, 4.0]),
                     jnp.asarray([0.5, 0.5]))
    assert train._cache_size() == 1  # other keys and settings reuse the one compile
    return config, runners, jax.device_get(metrics)


@pytest.mark.slow
def test_make_train_vmaps_over_seeds_and_settings(trained):
    _, runners, m = trained
    assert m["loss"].shape == (2, TINY["num_updates"])
    assert np.isfinite(m["loss"]).all()
    assert np.all(m["kl"][1] >= 0) and np.all(m["ce"] > 0)
    leaves = jax.tree_util.tree_leaves(runners.params)
    assert any(not np.allclose(x[0], x[1]) for x in leaves)


def test_distill_weight_schedule():
    kick = DistillConfig(**{**TINY, "objective": "kickstart"})
    assert kick.anneal_updates == TINY["num_updates"]  # 0 = the whole run
    kick = DistillConfig(**{**TINY, "objective": "kickstart", "anneal_updates": 2})
    got = [float(T.distill_weight(kick, jnp.int32(u))) for u in range(4)]
    assert got == [1.0, 0.5, 0.0, 0.0]
    for objective, want in (("distill", 1.0), ("reinforce", 0.0)):
        config = DistillConfig(**{**TINY, "objective": objective})
        assert float(T.distill_weight(config, jnp.int32(3))) == want


def test_reinforce_loss_matches_numpy_over_the_students_episodes():
    rng = np.random.default_rng(0)
    log_p = -rng.random((4, 3)).astype(np.float32)
    live = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 1, 1]], np.float32)
    cost = np.array([1.2, 1.5, 1.1, 1.4], np.float32)
    own = np.array([True, False, True, True])
    got = T.reinforce_loss(jnp.asarray(log_p), jnp.asarray(live), jnp.asarray(cost),
                           jnp.asarray(own))
    base = cost[own].mean()
    want = ((cost - base) * (log_p * live).sum(1))[own].sum() / own.sum()
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


@pytest.mark.slow
def test_kickstart_loss_is_reinforce_plus_weighted_distillation():
    """Student-driven episodes, same key: kickstart(w) = reinforce + w * distill."""
    configs = {o: DistillConfig(**{**TINY, "objective": o, "regime": "student"})
               for o in ("kickstart", "reinforce", "distill")}
    teacher = T.load_teacher("pointer")
    instances = T.make_sampler(T.instance_config(configs["distill"]))(
        jax.random.PRNGKey(1), TINY["batch_size"])
    params = T.student_init(configs["distill"], jax.random.PRNGKey(2))
    hyper = (jnp.float32(1.0), jnp.float32(2.0), jnp.float32(0.0))

    def loss(objective, weight):
        fn = T.make_loss(configs[objective], teacher.policy)
        return float(fn(params, teacher.params, instances, jax.random.PRNGKey(3), hyper,
                        jnp.float32(weight))[0])

    rl, dist = loss("reinforce", 0.0), loss("distill", 1.0)
    assert abs(dist) > 1e-3 and abs(rl) > 0
    np.testing.assert_allclose(loss("kickstart", 0.0), rl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss("kickstart", 0.25), rl + 0.25 * dist, rtol=1e-5,
                               atol=1e-6)


def _replay_makespan(env, instance, actions):
    state, _ = env.reset(jax.random.PRNGKey(0), instance)
    for a in np.asarray(actions):
        state, _ = env.step(state, jnp.int32(a))
    return int(state.makespan)


@pytest.mark.slow
def test_teacher_search_returns_its_best_rollout_never_worse_than_greedy():
    """The search's actions replay (NumPy-side loop) to the least makespan of its rollouts,
    which is at most the teacher's greedy makespan; with 0 samples it is the greedy one."""
    config = DistillConfig(**TINY)
    env = jaxshop.make("fjsp", mode=config.mode)
    teacher = T.load_teacher("pointer")
    instances = T.make_sampler(T.instance_config(config))(jax.random.PRNGKey(7), 6)
    one = jax.tree_util.tree_map(lambda x: x[0], instances)
    steps = env.max_steps(one)
    states, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 6), instances)
    search = jax.jit(jax.vmap(
        lambda s, o, k, n: T.teacher_search(env, teacher.policy, teacher.params, s, o, k, n,
                                            steps), (0, 0, 0, None)), static_argnums=3)
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    best = search(states, ts.observation, keys, 8)
    greedy = search(states, ts.observation, keys, 0)
    greedy_final = T.greedy_batch(teacher.policy, teacher.params, instances, config.mode)
    improved = 0
    for i in range(6):
        inst = jax.tree_util.tree_map(lambda x, i=i: x[i], instances)
        g = _replay_makespan(env, inst, greedy[i])
        b = _replay_makespan(env, inst, best[i])
        assert g == int(greedy_final.makespan[i]) and b <= g
        improved += b < g
    assert improved >= 1  # sampling finds a better schedule on some of these instances


@pytest.mark.slow
def test_teacher_driven_episodes_replay_and_learn_the_search():
    """With `teacher_samples`, a teacher-driven episode applies the search's actions and
    they are its CE targets; student-driven episodes keep the teacher's argmax."""
    config = DistillConfig(**{**TINY, "teacher_samples": 4, "regime": "teacher"})
    env = jaxshop.make("fjsp", mode=config.mode)
    teacher = T.load_teacher("pointer")
    student = T.student_policy(config)
    s_params = T.student_init(config, jax.random.PRNGKey(2))
    one = jax.tree_util.tree_map(
        lambda x: x[0], T.make_sampler(T.instance_config(config))(jax.random.PRNGKey(3), 1))
    steps = env.max_steps(one)
    state, ts = env.reset(jax.random.PRNGKey(0), one)
    forced = T.teacher_search(env, teacher.policy, teacher.params, state, ts.observation,
                              jax.random.PRNGKey(4), 4, steps)
    run = jax.jit(lambda drives: T.episode(env, student, s_params, teacher.policy,
                                           teacher.params, state, ts.observation,
                                           jax.random.PRNGKey(5), 2.0, drives, steps, forced))
    final, d = run(jnp.array(True))
    np.testing.assert_array_equal(d.action, forced)
    np.testing.assert_array_equal(d.target, forced)
    assert int(final.makespan) == _replay_makespan(env, one, forced)
    _, d = run(jnp.array(False))
    np.testing.assert_array_equal(d.target, np.argmax(np.asarray(d.teacher_logits), -1))
    with pytest.raises(ValueError, match="teacher_samples needs a teacher"):
        DistillConfig(**{**TINY, "teacher_samples": 2, "objective": "reinforce"})


def _distill(tmp_path, name, *extra):
    out = tmp_path / name
    argv = ["distill", "--jobs", "3", "--machines", "2", "--batch", "4", "--dim", "4",
            "--chunk", "2", "--checkpoint-every", "2", "--out", str(out), "--no-progress",
            "--seed", "5", *extra]
    assert cli_main(argv) == 0
    return out


@pytest.mark.slow
def test_resume_equals_uninterrupted_and_students_solve(tmp_path, capsys):
    full = _distill(tmp_path, "full", "--steps", "4", "--student", "mlp")
    # An interrupted copy (--resume keeps the run's config, so a run is never extended):
    # only the checkpoint at update 2 survives.
    part = tmp_path / "part"
    shutil.copytree(full, part)
    shutil.rmtree(part / "checkpoints" / "4")
    for name in ("params.msgpack", "meta.json"):
        (part / name).unlink()
    resumed = _distill(tmp_path, "part", "--resume")
    assert resumed == part
    a = (full / "params.msgpack").read_bytes()
    b = (part / "params.msgpack").read_bytes()
    assert a == b
    strip = lambda p: [r.split(",")[:1] + r.split(",")[2:]  # noqa: E731 (drop wall time)
                       for r in (p / "metrics.csv").read_text().splitlines()]
    assert strip(full) == strip(part) and len(strip(full)) == 5
    meta = json.loads((part / "meta.json").read_text())
    assert meta["updates"] == 4 and meta["seed"] == 5 and meta["resumed_with"]
    assert meta["num_params"] < meta["teacher_num_params"]
    capsys.readouterr()
    for spec in (f"mlp:{part}", f"student:{part}"):
        assert cli_main(["eval", "--suite", "brandimarte", "--limit", "1", "--method", spec,
                         "--json", "--no-progress"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["num_params"] == meta["num_params"] and out["solved"] == 1
        assert out["instances"][0]["makespan"] > 0


@pytest.mark.slow
def test_small_pointer_student_loads_as_a_pointer_model(tmp_path, capsys):
    out = _distill(tmp_path, "sp", "--steps", "2", "--teacher", "ddqn", "--regime", "student")
    meta = json.loads((out / "meta.json").read_text())
    assert "ddqn" in meta["teacher"]
    capsys.readouterr()
    assert cli_main(["solve", "mk01", "--method", f"pointer:{out}", "--json"]) == 0
    solved = json.loads(capsys.readouterr().out)
    assert solved["makespan"] > 0 and solved["options"]["num_params"] == meta["num_params"]


@pytest.mark.parametrize("extra,message", [
    (["--tau", "0"], "--tau"),
    (["--teacher", "nope"], "teacher"),
    (["--steps", "3", "--chunk", "2"], "--steps 3"),
    (["--teacher", "pointer:/no/such/dir"], "/no/such/dir"),
    (["--alpha", "-1"], "--alpha"),
    (["--dim", "0"], "--dim"),
    (["--regime", "both"], "--regime"),
    (["--student", "big"], "--student"),
    (["--objective", "sft"], "--objective"),
    (["--anneal", "-1"], "--anneal"),
    (["--teacher-samples", "-1"], "--teacher-samples"),
    (["--teacher-samples", "2", "--objective", "reinforce"], "teacher_samples"),
    (["--batch", "0"], "--batch"),
    (["--lr", "0"], "--lr"),
    (["--chunk", "0"], "--chunk"),
    (["--jobs", "0"], "--jobs"),
    (["--machines", "x"], "--machines"),
    (["--checkpoint-every", "0"], "--checkpoint-every"),
    (["--resume"], "--resume"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, extra, message):
    code = cli_main(["distill", "--out", str(tmp_path / "x"), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_shipped_student_is_small_and_solves(capsys):
    assert cli_main(["solve", "mk01", "--method", "student", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    teacher = json.loads((STUDENT_MODEL / "meta.json").read_text())["teacher_num_params"]
    assert out["makespan"] >= 40 and out["options"]["num_params"] <= 0.1 * teacher


@pytest.mark.parametrize("spec,message", [("mlp", "needs an argument"),
                                          ("student:/no/such/dir", "/no/such/dir")])
def test_bad_student_methods_are_one_line_errors(capsys, spec, message):
    assert cli_main(["solve", "mk01", "--method", spec]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
