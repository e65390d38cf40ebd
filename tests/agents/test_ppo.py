"""PPO: one jitted train function on every env, vmapped seeds, exact resume, the method."""

from __future__ import annotations

import csv
import shutil

import jax
import numpy as np
import pytest
from jaxshop_baselines import checkpoints as ckpt
from jaxshop_baselines.methods import get_method
from jaxshop_baselines.ppo import DEFAULT_MODEL, PPOConfig, make_train, run_training
from jaxshop_baselines.training import get_trainer

import jaxshop
from jaxshop.instances.types import FJSPInstance

TINY = dict(num_jobs=3, num_machines=2, num_envs=4, num_steps=6, num_updates=2,
            update_epochs=1, num_minibatches=2, hidden=8, updates_per_chunk=1,
            checkpoint_every=1, eval_size=4)


@pytest.mark.parametrize("env", ["pfsp", "jssp", "fjsp"])
@pytest.mark.slow
def test_train_runs_unchanged_on_every_env(env):
    config = PPOConfig(env=env, **TINY)
    train = jax.jit(jax.vmap(make_train(config)))  # vmapped over seeds
    runner, metrics = train(jax.random.split(jax.random.PRNGKey(0), 2))
    assert metrics["loss"].shape == (2, config.num_updates)
    for name, value in metrics.items():
        assert np.isfinite(np.asarray(value)).all(), name
    assert not np.asarray(metrics["invalid"]).any()  # masked policy: never an invalid action
    assert (np.asarray(metrics["episodes"]) > 0).all()  # episodes end and auto-reset
    # A normalized return is -makespan / lower bound <= -1.
    assert (np.asarray(metrics["episode_return"]) <= -1.0 + 1e-6).all()
    assert int(runner.update[0]) == config.num_updates


def _rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_checkpoint_resume_is_exact_and_method_solves(tmp_path):
    config = PPOConfig(env="fjsp", **{**TINY, "num_updates": 3})
    full = run_training(config, tmp_path / "full", progress=False, plot=False)
    part = tmp_path / "part"
    shutil.copytree(tmp_path / "full", part)
    shutil.rmtree(part / ckpt.CHECKPOINT_DIR / "3")  # as if stopped after update 2
    (part / ckpt.PARAMS_FILE).unlink()
    assert ckpt.latest_checkpoint(part) == 2
    resumed = run_training(config, part, resume=True, progress=False)
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert _rows(tmp_path / "full" / "metrics.csv") == _rows(part / "metrics.csv")
    assert (part / "learning_curve.png").is_file()

    # `ppo:DIR` solves job shops and FJSP instances of other sizes (shape-free features).
    method = get_method(f"ppo:{part}")
    instances = [
        FJSPInstance.from_job_shop([[0, 1], [1, 0]], [[3, 2], [2, 4]]),
        FJSPInstance.from_operations([[{0: 2, 1: 3}], [{1: 4}, {0: 1}], [{0: 5}]], 2),
    ]
    for inst, sol in zip(instances, method.solve(instances), strict=True):
        check = jaxshop.validate(inst, sol.schedule)
        assert check, check.reason
        assert check.makespan == sol.makespan


@pytest.mark.slow
def test_trainer_registered_and_resume_rejects_changes(tmp_path):
    main = get_trainer("ppo")
    argv = ["--env", "pfsp", "--jobs", "3", "--machines", "2", "--envs", "4",
            "--rollout", "4", "--updates", "1", "--epochs", "1", "--minibatches", "1",
            "--hidden", "8", "--chunk", "1", "--checkpoint-every", "1", "--eval-size", "0",
            "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert (tmp_path / "run" / ckpt.PARAMS_FILE).is_file()
    with pytest.raises(ValueError, match="keeps the run's config"):
        main(["--resume", "--out", str(tmp_path / "run"), "--lr", "0.1"])
    # A PFSP model solves PFSP instances.
    method = get_method(f"ppo:{tmp_path / 'run'}")
    inst = jaxshop.PFSPInstance.from_array(np.array([[3, 2], [1, 4], [2, 2]]))
    (sol,) = method.solve([inst])
    assert sorted(sol.permutation) == [0, 1, 2]
    with pytest.raises(ValueError):
        method.solve([FJSPInstance.from_job_shop([[0]], [[3]])])


@pytest.mark.skipif(not (DEFAULT_MODEL / ckpt.PARAMS_FILE).is_file(),
                    reason="no shipped ppo model")
@pytest.mark.slow
def test_shipped_default_model_solves_fjsp():
    method = get_method("ppo")
    inst = FJSPInstance.from_operations([[{0: 2, 1: 3}, {1: 2}], [{1: 4}, {0: 1}]], 2)
    (sol,) = method.solve([inst])
    assert jaxshop.validate(inst, sol.schedule)
