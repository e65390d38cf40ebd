"""PureJaxRL-style PPO on any jaxshop env, written against the public API and wrappers.

The agent sees only `EpisodeStats(AutoReset(env))`, vmapped over `num_envs` copies:
`reset`, `step`, `timestep.observation` (with `action_mask`), `reward`, `last()` and the
logged `extras`. One update collects `num_steps` transitions per env, computes GAE
advantages, and runs `update_epochs` epochs of `num_minibatches` clipped-PPO minibatch
steps (masked categorical policy, value head, entropy bonus).

- `make_train(config)(key) -> (runner, metrics)` is the whole run as one pure function
  (`jax.jit` it, or `jax.jit(jax.vmap(train))` over seeds).
- `make_train_chunk(config)` runs `updates_per_chunk` updates per jitted call; the host
  loop `run_training` adds a progress bar, CSV metrics, orbax checkpoints (exact resume:
  the runner holds the PRNG key and the env states) and the final model.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax
from jax.sharding import Mesh
from jaxshop_baselines.checkpoints import (
    read_rows,
)
from jaxshop_baselines.ppo import checkpoint as ckpt
from jaxshop_baselines.ppo import network
from jaxshop_baselines.ppo.config import PPOConfig

import jaxshop
from jaxshop import parallel
from jaxshop.fjsp import FJSPGenerator, JobShopGenerator
from jaxshop.options import (
    ArgumentParser,
    UsageError,
    add_run_options,
    float_in,
    int_in,
    positive_int,
)
from jaxshop.pfsp import UniformPFSPGenerator
from jaxshop.wrappers import AutoReset, EpisodeStats

VALIDATION_KEY = 424_242
METRIC_NAMES = (
    "episode_return", "episode_makespan", "episodes", "loss", "actor_loss", "value_loss",
    "entropy", "approx_kl", "grad_norm", "invalid",
)


@struct.dataclass
class RunnerState:
    params: Any
    opt_state: Any
    env_state: Any  # (num_envs, ...) EpisodeStats(AutoReset(env)) states
    obs: Any  # (num_envs, ...) current observations
    key: jax.Array
    update: jax.Array  # () int32


@struct.dataclass
class Transition:
    obs: Any
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    ended: jax.Array
    episode_return: jax.Array
    episode_makespan: jax.Array
    invalid: jax.Array


def make_generator(config: PPOConfig):
    j, m = config.num_jobs, config.num_machines
    if config.env == "pfsp":
        return UniformPFSPGenerator(j, m)
    if config.env == "jssp":
        return JobShopGenerator(j, m)
    ops = (max(1, round(0.8 * m)), max(1, round(1.2 * m)))
    return FJSPGenerator(j, m, ops_per_job=ops, machines_per_op=(1, m), time_range=(1, 20))


def make_env(config: PPOConfig, reward: str = "normalized") -> jaxshop.Environment:
    """The plain env (generator of the config), as `jaxshop.make` builds it."""
    kwargs = {"generator": make_generator(config), "reward": reward}
    if config.env != "pfsp":
        kwargs["mode"] = config.mode
    return jaxshop.make(config.env, **kwargs)


def make_optimizer(config: PPOConfig) -> optax.GradientTransformation:
    minibatch_steps = config.update_epochs * config.num_minibatches
    if config.anneal_lr:
        lr = optax.linear_schedule(config.learning_rate, 0.0,
                                   config.num_updates * minibatch_steps)
    else:
        lr = config.learning_rate
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adam(lr, eps=1e-5))


def init_runner(config: PPOConfig, key: jax.Array) -> RunnerState:
    env = EpisodeStats(AutoReset(make_env(config)))
    k_params, k_env, k_run = jax.random.split(key, 3)
    env_state, ts = jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
    one_obs = jax.tree_util.tree_map(lambda x: x[0], ts.observation)
    params = network.init_params(k_params, one_obs, config.hidden)
    return RunnerState(params, make_optimizer(config).init(params), env_state,
                       ts.observation, k_run, jnp.zeros((), jnp.int32))


def place_runner(runner: RunnerState) -> RunnerState:
    """Envs (states, observations) split over the mesh in context, the rest replicated."""
    envs = parallel.shard_batch({"env_state": runner.env_state, "obs": runner.obs})
    return parallel.replicate(runner.replace(env_state=None, obs=None)).replace(**envs)


def make_update(config: PPOConfig):
    """`update(runner) -> (runner, metrics)`: one PPO iteration (pure)."""
    env = EpisodeStats(AutoReset(make_env(config)))
    opt = make_optimizer(config)
    policy = jax.vmap(network.apply, in_axes=(None, 0))

    def env_step(carry, key):
        params, env_state, obs = carry
        logits, value = policy(params, obs)
        action = jax.random.categorical(key, logits).astype(jnp.int32)
        log_prob = jax.nn.log_softmax(logits)[jnp.arange(action.shape[0]), action]
        env_state, ts = jax.vmap(env.step)(env_state, action)
        ex = ts.extras
        tr = Transition(obs, action, log_prob, value, ts.reward, ts.last(),
                        ex["returned_episode"], ex["returned_episode_returns"],
                        ex["returned_episode_makespans"], ex["invalid_action"])
        return (params, env_state, ts.observation), tr

    def gae(traj: Transition, last_value):
        def body(carry, t):
            adv, next_value = carry
            delta = t.reward + config.gamma * next_value * (1 - t.done) - t.value
            adv = delta + config.gamma * config.gae_lambda * (1 - t.done) * adv
            return (adv, t.value), adv

        _, adv = lax.scan(body, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
        return adv, adv + traj.value

    def loss_fn(params, batch):
        traj, adv, targets = batch
        logits, value = policy(params, traj.obs)
        logp_all = jax.nn.log_softmax(logits)
        log_prob = logp_all[jnp.arange(traj.action.shape[0]), traj.action]
        ratio = jnp.exp(log_prob - traj.log_prob)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        actor_loss = -jnp.minimum(
            ratio * adv, jnp.clip(ratio, 1 - config.clip_eps, 1 + config.clip_eps) * adv
        ).mean()
        v_clipped = traj.value + jnp.clip(value - traj.value, -config.clip_eps, config.clip_eps)
        value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (v_clipped - targets) ** 2).mean()
        probs = jnp.exp(logp_all)
        entropy = -jnp.sum(jnp.where(probs > 0, probs * logp_all, 0.0), -1).mean()
        loss = actor_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        approx_kl = ((ratio - 1) - jnp.log(ratio)).mean()
        return loss, (actor_loss, value_loss, entropy, approx_kl)

    def update(runner: RunnerState) -> tuple[RunnerState, dict]:
        key, k_roll, k_perm = jax.random.split(runner.key, 3)
        env_state, obs = parallel.shard_batch((runner.env_state, runner.obs))  # envs split
        (_, env_state, obs), traj = lax.scan(
            env_step, (runner.params, env_state, obs),
            jax.random.split(k_roll, config.num_steps),
        )
        _, last_value = policy(runner.params, obs)
        adv, targets = gae(traj, last_value)
        size = config.num_steps * config.num_envs
        flat = jax.tree_util.tree_map(lambda x: x.reshape((size, *x.shape[2:])),
                                      (traj, adv, targets))

        def epoch(carry, k):
            params, opt_state = carry
            perm = jax.random.permutation(k, size)
            shuffled = jax.tree_util.tree_map(
                lambda x: x[perm].reshape((config.num_minibatches, -1, *x.shape[1:])), flat
            )

            def minibatch(carry, batch):
                params, opt_state = carry
                (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
                updates, opt_state = opt.update(grads, opt_state, params)
                params = optax.apply_updates(params, updates)
                return (params, opt_state), (loss, *aux, optax.tree.norm(grads))

            return lax.scan(minibatch, (params, opt_state), shuffled)

        (params, opt_state), stats = lax.scan(
            epoch, (runner.params, runner.opt_state),
            jax.random.split(k_perm, config.update_epochs),
        )
        loss, actor_loss, value_loss, entropy, approx_kl, grad_norm = (s.mean() for s in stats)
        ended = traj.ended
        n = ended.sum()
        denom = jnp.maximum(n, 1)
        metrics = {
            "episode_return": jnp.where(ended, traj.episode_return, 0.0).sum() / denom,
            "episode_makespan": jnp.where(ended, traj.episode_makespan, 0).sum() / denom,
            "episodes": n.astype(jnp.float32),
            "loss": loss, "actor_loss": actor_loss, "value_loss": value_loss,
            "entropy": entropy, "approx_kl": approx_kl, "grad_norm": grad_norm,
            "invalid": traj.invalid.sum().astype(jnp.float32),
        }
        new = RunnerState(params, opt_state, env_state, obs, key, runner.update + 1)
        return place_runner(new), metrics

    return update


def make_train(config: PPOConfig):
    """`train(key) -> (runner, metrics)`: a whole run as one pure function (jit/vmap it)."""
    update = make_update(config)

    def train(key: jax.Array):
        runner = init_runner(config, key)
        return lax.scan(lambda r, _: update(r), runner, None, length=config.num_updates)

    return train


def make_train_chunk(config: PPOConfig):
    """Jitted `chunk(runner) -> (runner, metrics)` of `updates_per_chunk` updates."""
    return _cached_chunk(config)


@functools.lru_cache(maxsize=8)
def _cached_chunk(config: PPOConfig):
    update = make_update(config)
    return jax.jit(
        lambda r: lax.scan(lambda r, _: update(r), r, None, length=config.updates_per_chunk)
    )


def greedy_episodes(params, env, instances, steps: int):
    """Final states of greedy (argmax) episodes of a stacked batch of instances."""
    keys = jax.random.split(jax.random.PRNGKey(0), jax.tree_util.tree_leaves(instances)[0]
                            .shape[0])
    states, ts = jax.vmap(env.reset)(keys, instances)
    policy = jax.vmap(network.apply, in_axes=(None, 0))

    def body(carry, _):
        states, obs = carry
        logits, _ = policy(params, obs)
        states, ts = jax.vmap(env.step)(states, jnp.argmax(logits, -1).astype(jnp.int32))
        return (states, ts.observation), None

    (states, _), _ = lax.scan(body, (states, ts.observation), None, length=steps)
    return states


@functools.lru_cache(maxsize=8)
def _cached_validation(config: PPOConfig):
    env = make_env(config)
    gen = make_generator(config)
    instances = jax.vmap(gen)(jax.random.split(jax.random.PRNGKey(VALIDATION_KEY),
                                               config.eval_size))
    steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances))

    def evaluate(params):
        states = greedy_episodes(params, env, instances, steps)
        return jnp.mean(jax.vmap(env.current_makespan)(states) / states.normalizer)

    return jax.jit(evaluate)


# ---------------------------------------------------------------------------------------
# Host loop
# ---------------------------------------------------------------------------------------



def plot_learning_curve(csv_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """Episode makespan / lower bound (training episodes and greedy validation), entropy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = read_rows(Path(csv_path), 2**62)
    if not rows:
        return
    upd = np.array([int(r["update"]) for r in rows])
    ret = -np.array([float(r["episode_return"] or "nan") for r in rows])
    val = [(int(r["update"]), float(r["val_norm_makespan"])) for r in rows
           if r["val_norm_makespan"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(upd, ret, alpha=0.6, label="sampled episodes (-return = makespan / LB)")
    if val:
        ax1.plot(*zip(*val, strict=True), "o-", label="greedy, validation set")
    ax1.set_xlabel("PPO update")
    ax1.set_ylabel("makespan / lower bound")
    ax1.grid(alpha=0.3)
    ax1.legend()
    ax2.plot(upd, [float(r["entropy"] or "nan") for r in rows], color="C2", label="policy entropy")
    ax2.plot(upd, [float(r["value_loss"] or "nan") for r in rows], color="C1", label="value loss")
    ax2.set_xlabel("PPO update")
    ax2.set_yscale("log")
    ax2.grid(alpha=0.3)
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def run_training(config: PPOConfig, out_dir: str | Path, seed: int = 0, resume: bool = False,
                 progress: bool = True, command: str | None = None,
                 plot: bool = True, mesh: Mesh | None = None) -> RunnerState:
    """Trains with checkpoints every `config.checkpoint_every` updates; returns the runner.

    With `resume`, continues from the latest checkpoint (seed and command from `run.json`,
    metric rows after the checkpoint recomputed); the result equals an uninterrupted run.
    `mesh` (default: every local device) splits the envs over its data axis.
    """
    mesh = parallel.make_mesh() if mesh is None else mesh
    parallel.check_divides(config.num_envs, mesh, f"--envs {config.num_envs}")
    with parallel.use_mesh(mesh):
        return _run_training(config, Path(out_dir), seed, resume, progress, command, plot,
                             mesh)


def _run_training(config: PPOConfig, out: Path, seed: int, resume: bool, progress: bool,
                  command: str | None, plot: bool, mesh: Mesh) -> RunnerState:
    from jaxshop_baselines.loop import note, run_chunked

    if config.num_updates % config.updates_per_chunk:
        raise ValueError("num_updates must be a multiple of updates_per_chunk")
    per_update = config.num_envs * config.num_steps
    runner, record = run_chunked(
        out=out, runner=place_runner(init_runner(config, jax.random.PRNGKey(seed))),
        chunk=make_train_chunk(config), total=config.num_updates,
        per_chunk=config.updates_per_chunk, checkpoint_every=config.checkpoint_every,
        metric_names=METRIC_NAMES, name=f"ppo {config.env}", config=config, seed=seed,
        command=command, resume=resume, progress=progress,
        evaluate=_cached_validation(config) if config.eval_size > 0 else None,
        counter=("transitions", per_update), validation_field="val_norm_makespan",
        save=ckpt.save_checkpoint, restore=ckpt.restore_checkpoint,
        describe=lambda r, s: (
            f"ppo on {config.env} {config.num_jobs}x{config.num_machines}: "
            f"{network.num_params(r.params)} parameters, {config.num_envs} envs x "
            f"{config.num_steps} steps per update, compiled in {s:.1f} s"),
        summary=lambda m: (
            f"C/LB {-m['episode_return'].mean():.3f} · "
            f"Cmax {m['episode_makespan'].mean():.1f} · H {m['entropy'].mean():.2f}"),
    )
    if not parallel.is_main_process():
        return runner
    meta = {
        "seed": record.seed, "command": record.command, "resumed_with": record.resumed_with,
        "updates": record.updates, "transitions": record.counted,
        "train_seconds": record.train_seconds, "compile_seconds": record.compile_seconds,
        "final_val_greedy_norm_makespan": record.final_validation,
        "num_params": network.num_params(runner.params), "jax": jax.__version__,
        **parallel.run_info(mesh),
    }
    ckpt.save_model(out, config, parallel.host_value(runner.params), meta)
    if plot:
        plot_learning_curve(out / "metrics.csv", out / "learning_curve.png",
                            title=f"PPO · {config.env} {config.num_jobs}x{config.num_machines}"
                            f" · seed {record.seed}")
    note(f"model, metrics.csv and learning_curve.png written to {out}")
    return runner


# ---------------------------------------------------------------------------------------
# `jaxshop train ppo`
# ---------------------------------------------------------------------------------------

DEFAULTS = PPOConfig()
_FLAGS = {
    "env": "env", "jobs": "num_jobs", "machines": "num_machines", "mode": "mode",
    "updates": "num_updates", "envs": "num_envs", "rollout": "num_steps",
    "epochs": "update_epochs", "minibatches": "num_minibatches", "lr": "learning_rate",
    "entropy": "ent_coef", "hidden": "hidden", "chunk": "updates_per_chunk",
    "checkpoint_every": "checkpoint_every", "eval_size": "eval_size",
}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="jaxshop train ppo",
        description="Train PPO (masked categorical policy over the flat action space) on "
        "random instances of a jaxshop env.",
    )
    p.add_argument("--env", choices=("pfsp", "jssp", "fjsp"), default=None,
                   help=f"env (default {DEFAULTS.env})")
    p.add_argument("--jobs", type=int_in(1, 1000), default=None,
                   help=f"jobs (default {DEFAULTS.num_jobs})")
    p.add_argument("--machines", type=int_in(1, 200), default=None,
                   help=f"machines (default {DEFAULTS.num_machines})")
    p.add_argument("--mode", choices=("append", "insert"), default=None,
                   help="job-shop schedule construction (default append)")
    p.add_argument("--updates", "--steps", dest="updates", type=positive_int, default=None,
                   help=f"PPO updates (default {DEFAULTS.num_updates})")
    p.add_argument("--envs", type=int_in(1, 65536), default=None,
                   help=f"parallel envs (default {DEFAULTS.num_envs})")
    p.add_argument("--rollout", type=int_in(1, 100_000), default=None,
                   help=f"steps per env per update (default {DEFAULTS.num_steps})")
    p.add_argument("--epochs", type=int_in(1, 1000), default=None,
                   help=f"epochs per update (default {DEFAULTS.update_epochs})")
    p.add_argument("--minibatches", type=int_in(1, 65536), default=None,
                   help=f"minibatches per epoch (default {DEFAULTS.num_minibatches})")
    p.add_argument("--lr", type=float_in(0.0, 1.0, low_open=True), default=None,
                   help=f"Adam learning rate (default {DEFAULTS.learning_rate})")
    p.add_argument("--entropy", type=float_in(0.0, 10.0), default=None,
                   help=f"entropy bonus (default {DEFAULTS.ent_coef})")
    p.add_argument("--hidden", type=int_in(1, 4096), default=None,
                   help=f"hidden units (default {DEFAULTS.hidden})")
    p.add_argument("--chunk", type=int_in(1, 10_000), default=None,
                   help=f"updates per jitted call (default {DEFAULTS.updates_per_chunk})")
    p.add_argument("--checkpoint-every", type=positive_int, default=None,
                   help=f"updates between checkpoints (default {DEFAULTS.checkpoint_every})")
    p.add_argument("--eval-size", type=int_in(0, 65536), default=None,
                   help=f"validation instances (default {DEFAULTS.eval_size}; 0: none)")
    add_run_options(p, "runs/ppo-<env>-...")
    return p


def config_from_args(args: argparse.Namespace, base: PPOConfig | None = None) -> PPOConfig:
    values = (base or DEFAULTS).to_dict()
    for flag, field in _FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            values[field] = value
    chunk = values["updates_per_chunk"]
    if args.checkpoint_every is None and values["checkpoint_every"] % chunk:
        values["checkpoint_every"] = chunk * max(1, round(values["checkpoint_every"] / chunk))
    if values["num_updates"] % chunk:
        raise UsageError(f"--updates {values['num_updates']} is not a multiple of --chunk "
                         f"{chunk} (updates run in jitted chunks of that many)")
    if values["checkpoint_every"] % chunk:
        raise UsageError(f"--checkpoint-every {values['checkpoint_every']} is not a multiple "
                         f"of --chunk {chunk}")
    if values["num_envs"] * values["num_steps"] % values["num_minibatches"]:
        raise UsageError(f"--envs x --rollout ({values['num_envs'] * values['num_steps']}) is "
                         f"not divisible by --minibatches {values['num_minibatches']}")
    return PPOConfig.from_dict(values)


def main(argv: list[str] | None = None) -> int:
    """`jaxshop train ppo ...`; returns the exit code."""
    from jaxshop_baselines.loop import flag_names, resume_config

    parser = build_parser()
    args = parser.parse_args(argv)
    mesh = parallel.mesh_from_args(args)
    config, seed = resume_config(args, argv, parser, lambda base: config_from_args(args, base),
                                 PPOConfig, flag_names(parser, _FLAGS))
    out = Path(args.out or f"runs/ppo-{config.env}-{config.num_jobs}x{config.num_machines}"
                           f"-seed{seed}")
    argv_list = list(sys.argv[1:] if argv is None else argv)
    run_training(config, out, seed=seed, resume=args.resume,
                 progress=not args.no_progress, command="jaxshop train ppo " + shlex.join(
                     argv_list), mesh=mesh)
    return 0


__all__ = [
    "RunnerState",
    "greedy_episodes",
    "init_runner",
    "main",
    "make_env",
    "make_train",
    "make_train_chunk",
    "make_update",
    "run_training",
]
