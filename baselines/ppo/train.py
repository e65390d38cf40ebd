"""PureJaxRL-style PPO on any jaxshop env, written against the public API and wrappers.

The agent sees only `EpisodeStats(AutoReset(env))`, vmapped over `num_envs` copies:
`reset`, `step`, `timestep.observation` (with `action_mask`), `reward`, `last()` and the
logged `extras`. One update collects `num_steps` transitions per env, computes GAE
advantages, and runs `update_epochs` epochs of `num_minibatches` clipped-PPO minibatch
steps (masked categorical policy, value head, entropy bonus).

- `make_train(config)(key) -> (runner, metrics)` is the whole run as one pure function
  (`jax.jit` it, or `jax.jit(jax.vmap(train))` over seeds).
- `make_train_chunk(config)` runs `updates_per_chunk` updates per jitted call; the host
  `SPEC` hands them to the one training runner (`jaxshop_baselines.runner`: progress
  bar, CSV metrics, orbax checkpoints with exact resume, the final model and plot).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax
from jaxshop_baselines import parallel
from jaxshop_baselines import runner as host
from jaxshop_baselines.ppo import network
from jaxshop_baselines.ppo.config import PPOConfig
from jaxshop_baselines.runner import Curve, Panel, TrainPlan, TrainSpec

import jaxshop
from jaxshop.instances import generated
from jaxshop.options import (
    UsageError,
)
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
    """The training instances: `jaxshop.instances.generated`'s for the env and size."""
    return generated.make_generator(config.env, config.num_jobs, config.num_machines)


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
# The runner's view: `jaxshop train ppo`
# ---------------------------------------------------------------------------------------


def _plan(config: PPOConfig) -> TrainPlan:
    return TrainPlan(
        chunk=make_train_chunk(config), metric_names=METRIC_NAMES, name=f"ppo {config.env}",
        evaluate=_cached_validation(config) if config.eval_size > 0 else None,
        counter=("transitions", config.num_envs * config.num_steps),
        validation_field="val_norm_makespan",
        describe=lambda r, s: (
            f"ppo on {config.env} {config.num_jobs}x{config.num_machines}: "
            f"{network.num_params(r.params)} parameters, {config.num_envs} envs x "
            f"{config.num_steps} steps per update, compiled in {s:.1f} s"),
        summary=lambda m: (
            f"C/LB {-m['episode_return'].mean():.3f} · "
            f"Cmax {m['episode_makespan'].mean():.1f} · H {m['entropy'].mean():.2f}"),
    )


def _check_minibatches(args: argparse.Namespace, values: dict) -> dict:
    if values["num_envs"] * values["num_steps"] % values["num_minibatches"]:
        raise UsageError(f"--envs x --rollout ({values['num_envs'] * values['num_steps']}) is "
                         f"not divisible by --minibatches {values['num_minibatches']}")
    return values


SPEC = TrainSpec(
    name="ppo", config_cls=PPOConfig, prog="jaxshop train ppo",
    description="Train PPO (masked categorical policy over the flat action space) on "
    "random instances of a jaxshop env.",
    init=init_runner, plan=_plan, place=place_runner,
    batch=lambda c: (c.num_envs, f"--envs {c.num_envs}"),
    default_out=lambda c, seed: f"runs/ppo-{c.env}-{c.num_jobs}x{c.num_machines}-seed{seed}",
    out_help="runs/ppo-<env>-...", step_of=lambda r: int(r.update),
    meta_names=("updates", "transitions", "final_val_greedy_norm_makespan"),
    plot=(Panel("makespan / lower bound", (
              Curve("episode_return", "sampled episodes (-return = makespan / LB)",
                    sign=-1.0),
              Curve("val_norm_makespan", "greedy, validation set", points=True))),
          Panel(None, (Curve("entropy", "policy entropy", "C2"),
                       Curve("value_loss", "value loss", "C1")), log=True)),
    xlabel="PPO update",
    title=lambda c, seed: f"PPO · {c.env} {c.num_jobs}x{c.num_machines} · seed {seed}",
    adjust=_check_minibatches,
)

#: `run_training(config, out_dir, seed=0, resume=False, progress=True, command=None,
#: plot=True, mesh=None) -> RunnerState` (`host.train`; exact resume)
run_training = functools.partial(host.train, SPEC)
build_parser = functools.partial(host.build_parser, SPEC)
config_from_args = functools.partial(host.config_from_args, SPEC)


def load_model(model_dir: str | Path) -> tuple[PPOConfig, dict]:
    """`(config, params)` of a model folder or of a (possibly unfinished) run; a one-line
    ValueError names the folder or file at fault (another agent's folder says which)."""
    return host.load_model(SPEC, model_dir, "ppo")


__all__ = [
    "SPEC",
    "RunnerState",
    "greedy_episodes",
    "init_runner",
    "load_model",
    "make_env",
    "make_train",
    "make_train_chunk",
    "make_update",
    "run_training",
]
