"""Double DQN: replay buffer, Double-DQN target, masked argmax, one jitted train (compile
once, vmapped seeds and learning rates), exact resume, config/CLI errors, rule selection.

Most tests run on a tiny pure-JAX toy env (fast to compile) registered as `--env toy`;
the rule-selection env gets the library's API checker and the shipped model one solve.
"""

from __future__ import annotations

import csv
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from jaxshop_baselines.cli import main as cli_main
from jaxshop_baselines.ddqn import (
    DEFAULT_MODEL,
    ENV_OPTIONS,
    DDQNConfig,
    RuleSelection,
    load_ddqn,
    make_train,
    replay,
)
from jaxshop_baselines.ddqn import network as N
from jaxshop_baselines.methods import get_method

import jaxshop
from jaxshop.fjsp import FJSPGenerator, FlexibleJobShop
from jaxshop.testing import check_env
from jaxshop.types import restart, select_timestep, termination, transition

# --- a toy env of the DDQN contract -------------------------------------------------------


@struct.dataclass
class ToyState:
    pos: jax.Array  # () int32 in 0..4
    t: jax.Array  # () int32 decisions taken


@struct.dataclass
class ToyObs:
    features: jax.Array
    action_mask: jax.Array


class ToyEnv:
    """5 positions, 4 actions (action 3 is never valid), 4 decisions per episode; reward 1
    when the action equals `pos % 3`. Not a jaxshop `Environment`: only the contract."""

    generator = None
    LENGTH = 4

    def _obs(self, s: ToyState, done) -> ToyObs:
        feats = jnp.concatenate([jax.nn.one_hot(s.pos, 5), (s.t / self.LENGTH)[None]])
        mask = (jnp.arange(4) < 3) & ~jnp.asarray(done)
        return ToyObs(feats.astype(jnp.float32), mask)

    def reset(self, key, instance=None):
        s = ToyState(jax.random.randint(key, (), 0, 5, jnp.int32), jnp.zeros((), jnp.int32))
        return s, restart(self._obs(s, False))

    def step(self, s: ToyState, action):
        reward = (action == s.pos % 3).astype(jnp.float32)
        new = ToyState((s.pos + action + 1) % 5, s.t + 1)
        done = new.t >= self.LENGTH
        obs = self._obs(new, done)
        return new, select_timestep(done, termination(reward, obs), transition(reward, obs))

    def num_actions(self, instance=None) -> int:
        return 4

    def max_steps(self, instance=None) -> int:
        return self.LENGTH


TOY_ENV = ToyEnv()
TINY = dict(env="toy", hidden=(16,), num_envs=4, num_iterations=300, iterations_per_chunk=10,
            buffer_size=64, batch_size=16, learning_starts=2, target_update_every=5,
            checkpoint_every=20, eval_size=4, exploration_fraction=0.5, gamma=0.9,
            learning_rate=1e-2)


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    if "toy" not in jaxshop.registered():
        jaxshop.register("toy")(lambda: TOY_ENV)
    ENV_OPTIONS["toy"] = lambda config: ("toy", {})
    yield
    ENV_OPTIONS.pop("toy", None)


# --- replay buffer ------------------------------------------------------------------------


def test_replay_fifo_order_and_eviction():
    buf = replay.init({"x": jnp.zeros((), jnp.int32), "y": jnp.zeros((2,))}, capacity=5)
    add = jax.jit(replay.add)
    for start in range(0, 8, 2):  # 4 batches of 2: 8 transitions into 5 slots
        vals = jnp.arange(start, start + 2, dtype=jnp.int32)
        buf = add(buf, {"x": vals, "y": jnp.stack([vals, vals], 1).astype(jnp.float32)})
    assert int(buf.size) == 5 and int(buf.position) == 8 % 5
    ages = np.asarray(replay.ages(buf))
    x = np.asarray(buf.data["x"])
    # The newest 5 (3..7) are kept, in order of age; the oldest (0, 1, 2) were evicted.
    assert [int(x[np.flatnonzero(ages == a)[0]]) for a in range(5)] == [7, 6, 5, 4, 3]
    assert (np.asarray(buf.data["y"])[:, 0] == x).all()
    with pytest.raises(ValueError, match="capacity"):
        replay.add(buf, {"x": jnp.zeros(6, jnp.int32), "y": jnp.zeros((6, 2))})


def _filled(capacity: int, count: int) -> replay.ReplayBuffer:
    buf = replay.init({"v": jnp.zeros((), jnp.int32)}, capacity)
    for start in range(0, count, 8):
        buf = replay.add(buf, {"v": jnp.arange(start, start + 8, dtype=jnp.int32)})
    return buf


@pytest.mark.parametrize("capacity,count", [(64, 40), (48, 120)])  # partly full, wrapped
@pytest.mark.parametrize("power,decay", [(0.0, 0.0), (2.0, 0.0), (0.0, 4.0), (1.5, 2.0)])
@pytest.mark.slow
def test_sampling_distribution_matches_formula(capacity, count, power, decay):
    buf = _filled(capacity, count)
    n = int(buf.size)
    draws = 200_000
    for uniform in ([True, False] if power == decay == 0 else [False]):
        idx = jax.jit(replay.sample_indices, static_argnums=(2, 5))(
            buf, jax.random.PRNGKey(3), draws, power, decay, uniform)
        age = np.asarray(replay.ages(buf))[np.asarray(idx)]
        assert (age < n).all(), "sampled an empty slot"
        freq = np.bincount(age, minlength=n) / draws
        a = np.arange(n) / n
        w = (1 - a) ** power * np.exp(-decay * a)
        p = w / w.sum()
        # Multinomial frequencies: within 5 standard deviations of the formula, per age.
        assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / draws) + 1e-4), uniform
        # Stored values are the newest `n` transitions, age 0 = the last written.
        vals = np.asarray(buf.data["v"])[np.asarray(idx)]
        assert ((count - 1 - vals) == age).all()


def test_recency_parameters_favour_recent_samples():
    buf = _filled(64, 64)
    p_new = []
    for power, decay in [(0, 0), (1, 0), (3, 0), (3, 2), (3, 6)]:
        w = np.asarray(replay.sampling_weights(buf, power, decay))
        p_new.append(w[np.asarray(replay.ages(buf)) == 0][0] / w.sum())
    assert all(b > a for a, b in zip(p_new, p_new[1:], strict=False))


# --- Double-DQN target and masked argmax ---------------------------------------------------


def test_double_q_target_hand_computed():
    q_tm1 = jnp.array([1.0, 2.0, 3.0])
    a_tm1 = jnp.int32(1)
    q_value = jnp.array([10.0, 20.0, 30.0])  # target network at s_t
    q_select = jnp.array([3.0, 1.0, 2.0])  # online network at s_t

    def td(mask, discount=0.9):
        return float(N.double_q_learning(q_tm1, a_tm1, jnp.float32(0.5), jnp.float32(discount),
                                         q_value, q_select, jnp.array(mask)))

    # Online argmax over valid {0, 1} is 0; the target net values it 10: 0.5 + 0.9*10 - 2.
    assert td([True, True, False]) == pytest.approx(7.5)
    # Masking action 0: the online argmax over {1, 2} is 2, valued 30 by the target net.
    assert td([False, True, True]) == pytest.approx(0.5 + 0.9 * 30 - 2)
    # No valid action (terminal observation) or discount 0: the target is the reward.
    assert td([False, False, False]) == pytest.approx(-1.5)
    assert td([True, True, True], discount=0.0) == pytest.approx(-1.5)
    # Vmapped over a batch, and the two losses.
    batch = jax.vmap(N.double_q_learning)(
        jnp.stack([q_tm1, q_tm1]), jnp.array([1, 0], jnp.int32), jnp.array([0.5, 0.0]),
        jnp.array([0.9, 0.0]), jnp.stack([q_value, q_value]), jnp.stack([q_select, q_select]),
        jnp.array([[True, True, False], [True, True, True]]))
    np.testing.assert_allclose(batch, [7.5, -1.0])
    np.testing.assert_allclose(N.td_loss(batch, "huber"), [7.0, 0.5])
    np.testing.assert_allclose(N.td_loss(batch, "squared"), [28.125, 0.5])


def test_masked_argmax_never_picks_an_invalid_action():
    rng = np.random.default_rng(0)
    q = rng.normal(0, 1e3, (2000, 7)).astype(np.float32)
    q[::5] = np.finfo(np.float32).min  # valid Q-values at the masked stand-in value
    q[1::7, 3] = np.nan
    mask = rng.random((2000, 7)) < 0.3
    mask[::11] = False
    got = np.asarray(jax.jit(jax.vmap(N.masked_argmax))(q, mask))
    has = mask.any(1)
    assert mask[has, got[has]].all()
    assert (got[~has] == 0).all()
    # One valid action: chosen, with a finite value, whatever the other Q-values are.
    q1 = jnp.array([np.finfo(np.float32).max, -3e38, 5.0, np.inf])
    one = jnp.array([False, True, False, False])
    assert int(N.masked_argmax(q1, one)) == 1
    assert np.isfinite(float(N.masked_max(q1, one)))
    assert float(N.masked_max(q1, jnp.zeros(4, bool))) == 0.0
    assert float(N.double_q_bootstrap(q1, q1, one)) == pytest.approx(-3e38)


# --- one jitted train ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_config():
    return DDQNConfig(**TINY)


#: (seed, learning rate) pairs of the shared vmapped run: 0/1 differ by seed, 0/2 by rate.
PAIRS = ((0, 1e-3), (1, 1e-3), (0, 1e-2))


def _pairs(pairs):
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed, _ in pairs])
    return keys, jnp.array([lr for _, lr in pairs], jnp.float32)


@pytest.fixture(scope="module")
def toy_train(toy_config):
    """`train` vmapped over (key, learning rate) pairs and jitted; `train` itself may be
    traced once for the whole module (every test shares this one compiled program)."""
    chex.clear_trace_counter()
    return jax.jit(jax.vmap(chex.assert_max_traces(make_train(toy_config, TOY_ENV), n=1)))


@pytest.fixture(scope="module")
def toy_runs(toy_train):
    return toy_train(*_pairs(PAIRS))


@pytest.mark.slow
def test_vmap_over_seeds_and_learning_rates(toy_config, toy_runs):
    state, metrics = toy_runs
    kernel = np.asarray(state.params["params"]["out"]["kernel"])
    assert kernel.shape[0] == 3 and np.isfinite(kernel).all()
    assert not np.allclose(kernel[0], kernel[1])  # seeds differ
    assert not np.allclose(kernel[0], kernel[2])  # learning rates differ
    lr_seen = np.asarray(state.opt_state[1].hyperparams["learning_rate"])
    np.testing.assert_allclose(lr_seen, [1e-3, 1e-3, 1e-2])
    assert metrics["loss"].shape == (3, toy_config.num_chunks)
    for name, value in metrics.items():
        if name not in ("episode_return", "episode_length"):  # NaN: no episode ended
            assert np.isfinite(np.asarray(value)).all(), name
    assert (np.asarray(state.iteration) == toy_config.num_iterations).all()
    assert (np.asarray(state.buffer.size) == toy_config.buffer_size).all()


@pytest.mark.slow
def test_train_compiles_once(toy_train, toy_runs):
    # New seeds and learning rates (traced inputs) reuse the program: no second trace.
    state, _ = toy_train(*_pairs(((5, 3e-3), (6, 2e-3), (7, 5e-3))))
    lr_seen = np.asarray(state.opt_state[1].hyperparams["learning_rate"])
    np.testing.assert_allclose(lr_seen, [3e-3, 2e-3, 5e-3])


def test_toy_env_is_learned(toy_runs):
    from jaxshop_baselines.ddqn import greedy_returns

    params = jax.tree_util.tree_map(lambda x: x[2], toy_runs[0].params)  # rate 1e-2
    ret = greedy_returns(params, TOY_ENV, jax.random.split(jax.random.PRNGKey(9), 64), 4)
    # Random valid play earns 4/3 per episode; the greedy policy should be near-perfect (4).
    assert float(ret.mean()) > 3.5


# --- host loop: checkpoints, exact resume, CLI ----------------------------------------------


def _rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_checkpoint_resume_equals_uninterrupted_run(tmp_path, capsys, toy_runs):
    argv = ["train", "ddqn", "--env", "toy", "--hidden", "16", "--envs", "4", "--steps", "300",
            "--chunk", "10", "--checkpoint-every", "150", "--buffer", "64", "--batch", "16",
            "--learning-starts", "2", "--target-every", "5", "--eval-size", "4",
            "--gamma", "0.9", "--lr", "0.01", "--exploration", "0.5", "--no-progress"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert cli_main([*argv, "--out", str(full)]) == 0
    # An interrupted copy: only the checkpoint at iteration 150 survives.
    shutil.copytree(full, part)
    shutil.rmtree(part / "checkpoints" / "300")
    (part / "params.msgpack").unlink()
    assert cli_main(["train", "ddqn", "--resume", "--out", str(part), "--no-progress"]) == 0
    config_a, params_a = load_ddqn(full)
    config_b, params_b = load_ddqn(part)
    assert config_a == config_b
    chex.assert_trees_all_equal(params_a, params_b)
    assert _rows(full / "metrics.csv") == _rows(part / "metrics.csv")
    assert len(_rows(full / "metrics.csv")) == 30
    # The chunked host loop equals the whole run in one jitted function (same config,
    # seed 0, rate 0.01: the third vmapped run).
    whole = jax.tree_util.tree_map(lambda x: x[2], toy_runs[0].params)
    chex.assert_trees_all_close(whole, params_a, rtol=1e-5, atol=1e-6)
    capsys.readouterr()
    # A run folder with a checkpoint but no params loads from the checkpoint.
    shutil.rmtree(part / "checkpoints" / "300")
    (part / "params.msgpack").unlink()
    assert load_ddqn(part)[0] == config_a


def test_episodes_option_sets_whole_chunks():
    from jaxshop_baselines.ddqn.train import build_parser, config_from_args

    args = build_parser().parse_args(["--env", "toy", "--episodes", "25", "--envs", "4",
                                      "--chunk", "10"])
    # 25 episodes x 4 decisions / 4 envs = 25 iterations, rounded up to whole chunks.
    assert config_from_args(args).num_iterations == 30


@pytest.mark.parametrize("kwargs", [
    {"learning_rate": 0.0}, {"learning_rate": -1e-3}, {"learning_rate": float("nan")},
    {"batch_size": 0}, {"gamma": 1.5}, {"gamma": -0.1}, {"buffer_size": 2, "num_envs": 4},
    {"hidden": (30, 0)}, {"loss": "l1"}, {"sampling": "prioritized"},
    {"num_iterations": 15, "iterations_per_chunk": 10}, {"eps_end": 2.0},
])
def test_bad_config_raises_before_compiling(kwargs):
    with pytest.raises(ValueError):
        DDQNConfig(**kwargs)


@pytest.mark.parametrize("args", [
    ["--lr", "0"], ["--lr", "-1"], ["--batch", "0"], ["--gamma", "1.5"], ["--gamma", "nan"],
    ["--steps", "15", "--chunk", "10"], ["--env", "nope"], ["--rules", "MWKR-EF,XYZ"],
    ["--hidden", "30,0"], ["--resume"], ["--steps", "10", "--episodes", "3"],
    ["--sampling", "prio"], ["--seed", "-1"], ["--buffer", "2", "--envs", "4"],
    ["--env", "toy", "--jobs", "5"], ["--fab-release", "8,12"],
])
def test_cli_errors_exit_2_with_one_line(args, capsys):
    assert cli_main(["train", "ddqn", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxshop: error:") and "\n" not in err, err


# --- rule selection on the flexible job shop -------------------------------------------------


def _instances():
    gens = [FJSPGenerator(4, 3, ops_per_job=(2, 3), machines_per_op=(1, 3)),
            FJSPGenerator(3, 2, ops_per_job=(1, 2), machines_per_op=(1, 2))]
    return [jaxshop.unstack(jax.tree_util.tree_map(lambda x: np.asarray(x)[None],
                                                   g(jax.random.PRNGKey(i))))[0]
            for i, g in enumerate(gens)]


@pytest.mark.slow
def test_rule_selection_passes_the_api_checker():
    env = RuleSelection(FlexibleJobShop(generator=FJSPGenerator(4, 3, ops_per_job=(2, 3),
                                                                machines_per_op=(1, 3))))
    check_env(env, _instances())
    made = jaxshop.make("rule_selection", mode="insert", rules=("SPT-EF", "MOR-EF"))
    assert isinstance(made, RuleSelection) and made.mode == "insert" and made.num_rules == 2


@pytest.mark.slow
def test_shipped_model_solves_job_shops():
    assert (DEFAULT_MODEL / "params.msgpack").is_file()
    config, params = load_ddqn(DEFAULT_MODEL)
    assert config.env == "fjsp" and len(config.rules) == N.architecture(params)[1]
    method = get_method("ddqn")
    insts = [jaxshop.load("mk01"), *_instances()]
    for inst, sol in zip(insts, method.solve(insts), strict=True):
        check = jaxshop.validate(inst, sol.schedule)
        assert check, check.reason
    with pytest.raises(ValueError, match="no such model|does not exist"):
        get_method("ddqn:/nonexistent/model")
