"""Double DQN, PureJaxRL style: the whole run is one pure function of a key and a learning rate.

`make_ddqn(config, env)` returns a `DDQN` of pure functions:

- `init(key, learning_rate) -> TrainState`: parameters (online = target), Adam state
  (the learning rate lives in it, `optax.inject_hyperparams`, so it is a traced input),
  an empty replay buffer and `num_envs` freshly reset envs.
- `run_chunk(state) -> (state, metrics)`: `iterations_per_chunk` iterations in one
  `lax.scan`; the metrics are reduced inside the scan to one value each (means over the
  episodes finished and the gradient steps made in the chunk).
- `train(key, learning_rate) -> (state, metrics)`: `init` and `num_chunks` chunks;
  `metrics[name]` has shape `(num_chunks,)`.

`make_train(config, env)` returns `train` alone. Everything is pure and jits as one
program; `jax.vmap` it over seeds (`in_axes=(0, None)`), learning rates
(`(None, 0)`) or both (nest two vmaps). Resuming from a saved `TrainState` repeats the
uninterrupted run exactly: the state holds the PRNG key, the buffer and the env states.

One iteration: every env takes an epsilon-greedy action (greedy = masked argmax of the
online Q-values, exploration = uniform over valid actions), the `num_envs` transitions
`(features, action, reward, discount, next features, next mask)` enter the FIFO buffer,
envs whose episode ended are reset with fresh keys, and, after `learning_starts`
iterations, `updates_per_iteration` gradient steps on the Double-DQN loss follow (see
`network.double_q_learning`); the target network is copied every `target_update_every`
gradient steps.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax
from jaxshop_baselines import parallel
from jaxshop_baselines.ddqn import network, replay
from jaxshop_baselines.ddqn.config import DDQNConfig

from jaxshop.rollout import random_valid_action
from jaxshop.utils import tree_select

METRIC_NAMES = ("episode_return", "episode_length", "episodes", "loss", "q_mean",
                "grad_norm", "epsilon", "updates")


@struct.dataclass
class TrainState:
    params: Any
    target_params: Any
    opt_state: Any
    buffer: replay.ReplayBuffer
    env_state: Any  # (num_envs, ...) states of the episodes in progress
    features: jax.Array  # (num_envs, F) float32 current observations
    mask: jax.Array  # (num_envs, A) bool current action masks
    episode_return: jax.Array  # (num_envs,) float32 running returns
    episode_length: jax.Array  # (num_envs,) int32
    key: jax.Array
    iteration: jax.Array  # () int32 iterations done
    updates: jax.Array  # () int32 gradient steps done


ENV_FIELDS = ("env_state", "features", "mask", "episode_return", "episode_length")


def place_state(s: TrainState) -> TrainState:
    """The envs' fields (`ENV_FIELDS`) split over the mesh in context, the rest (network,
    optimizer, replay buffer) replicated; a no-op without a mesh."""
    envs = parallel.shard_batch({f: getattr(s, f) for f in ENV_FIELDS})
    return parallel.replicate(s.replace(**dict.fromkeys(ENV_FIELDS))).replace(**envs)


class DDQN(NamedTuple):
    init: Any
    run_chunk: Any
    train: Any
    env: Any
    config: DDQNConfig


def make_optimizer(config: DDQNConfig, learning_rate: Any = None):
    """Gradient clipping then Adam; the learning rate is a hyper-parameter in the state."""
    lr = config.learning_rate if learning_rate is None else learning_rate
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.inject_hyperparams(optax.adam)(learning_rate=lr))


def epsilon(config: DDQNConfig, iteration: jax.Array) -> jax.Array:
    """Linear from `eps_start` to `eps_end` over `exploration_fraction` of the run."""
    span = max(config.exploration_fraction * config.num_iterations, 1e-9)
    frac = jnp.clip(iteration.astype(jnp.float32) / span, 0.0, 1.0)
    return config.eps_start + frac * (config.eps_end - config.eps_start)


def env_sizes(env) -> tuple[int, int]:
    """`(num_features, num_actions)` of an env's observations (traced shapes only)."""
    _, ts = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    return ts.observation.features.shape[-1], ts.observation.action_mask.shape[-1]


def make_ddqn(config: DDQNConfig, env) -> DDQN:
    """The pure `init`, `run_chunk` and `train` of a Double-DQN run on `env`."""
    num_features, num_actions = env_sizes(env)
    n = config.num_envs
    q_batch = jax.vmap(network.q_values, in_axes=(None, 0))
    optimizer = make_optimizer(config)  # its update reads the learning rate from the state

    def init(key: jax.Array, learning_rate: Any = None) -> TrainState:
        lr = config.learning_rate if learning_rate is None else learning_rate
        k_params, k_env, k_run = jax.random.split(key, 3)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(k_env, n))
        params = network.init_params(k_params, num_features, num_actions, config.hidden)
        opt_state = make_optimizer(config, jnp.asarray(lr, jnp.float32)).init(params)
        example = {
            "features": jnp.zeros((num_features,), jnp.float32),
            "action": jnp.zeros((), jnp.int32),
            "reward": jnp.zeros((), jnp.float32),
            "discount": jnp.zeros((), jnp.float32),
            "next_features": jnp.zeros((num_features,), jnp.float32),
            "next_mask": jnp.zeros((num_actions,), bool),
        }
        zi, zf = jnp.zeros((), jnp.int32), jnp.zeros((n,), jnp.float32)
        return TrainState(
            params, params, opt_state, replay.init(example, config.buffer_size), env_state,
            ts.observation.features.astype(jnp.float32), ts.observation.action_mask, zf,
            jnp.zeros((n,), jnp.int32), k_run, zi, zi,
        )

    def loss_fn(params, target_params, batch):
        q_tm1 = q_batch(params, batch["features"])
        q_t_value = q_batch(target_params, batch["next_features"])
        q_t_selector = q_batch(params, batch["next_features"])
        td = jax.vmap(network.double_q_learning)(
            q_tm1, batch["action"], batch["reward"], config.gamma * batch["discount"],
            q_t_value, q_t_selector, batch["next_mask"],
        )
        q_taken = jnp.take_along_axis(q_tm1, batch["action"][:, None], axis=1)
        return network.td_loss(td, config.loss).mean(), q_taken.mean()

    def gradient_step(carry, key):
        params, target, opt_state, updates, buffer = carry
        batch = replay.sample(buffer, key, config.batch_size, config.recency_power,
                              config.recency_decay, uniform=config.sampling == "uniform")
        (loss, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, target, batch)
        step, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, step)
        updates = updates + 1
        copy = updates % config.target_update_every == 0
        target = tree_select(copy, params, target)
        stats = jnp.stack([loss, q_mean, optax.tree.norm(grads)])
        return (params, target, opt_state, updates, buffer), stats

    def learn(s: TrainState, key):
        carry = (s.params, s.target_params, s.opt_state, s.updates, s.buffer)
        (params, target, opt_state, updates, _), stats = lax.scan(
            gradient_step, carry, jax.random.split(key, config.updates_per_iteration))
        return params, target, opt_state, updates, stats.sum(0)

    def skip(s: TrainState, key):
        return s.params, s.target_params, s.opt_state, s.updates, jnp.zeros(3, jnp.float32)

    def reset_all(key):
        state, ts = jax.vmap(env.reset)(jax.random.split(key, n))
        return state, ts.observation

    fixed = getattr(env, "fixed_episode_length", None)

    def reset_finished(iteration, key, env_state, ts):
        """Fresh episodes for the envs that just ended (the caller selects them by `done`).

        An env whose episodes all last exactly `fixed_episode_length` steps (the fab, whose
        reset simulates warm-up days) ends every episode together, so the resets run only
        on those iterations: the predicate comes from the iteration counter, which stays
        unbatched under vmap over seeds or learning rates, so this is a real `cond`, not a
        select that would pay for a reset at every step. Other envs reset every step.
        """
        if fixed is None:
            state, obs = reset_all(key)
        else:
            state, obs = lax.cond((iteration + 1) % fixed == 0, reset_all,
                                  lambda _: (env_state, ts.observation), key)
        return state, ts.replace(observation=obs)

    def iteration(carry, _):
        s, acc = carry
        key, k_act, k_eps, k_reset, k_learn = jax.random.split(s.key, 5)
        eps = epsilon(config, s.iteration)
        greedy = jax.vmap(network.masked_argmax)(q_batch(s.params, s.features), s.mask)
        explore = jax.vmap(random_valid_action)(jax.random.split(k_act, n), s.mask)
        action = jnp.where(jax.random.uniform(k_eps, (n,)) < eps, explore, greedy)
        env_state, ts = jax.vmap(env.step)(s.env_state, action.astype(jnp.int32))
        next_features = ts.observation.features.astype(jnp.float32)
        buffer = replay.add(s.buffer, {
            "features": s.features, "action": action.astype(jnp.int32),
            "reward": ts.reward.astype(jnp.float32),
            "discount": ts.discount.astype(jnp.float32),
            "next_features": next_features, "next_mask": ts.observation.action_mask,
        })
        done = ts.last()
        fresh_state, fresh = reset_finished(s.iteration, k_reset, env_state, ts)
        ret = s.episode_return + ts.reward
        length = s.episode_length + 1
        s = s.replace(
            buffer=buffer,
            env_state=tree_select(done, fresh_state, env_state),
            features=tree_select(done, fresh.observation.features.astype(jnp.float32),
                             next_features),
            mask=tree_select(done, fresh.observation.action_mask, ts.observation.action_mask),
            episode_return=jnp.where(done, 0.0, ret),
            episode_length=jnp.where(done, 0, length),
            key=key, iteration=s.iteration + 1,
        )
        started = s.iteration > config.learning_starts
        params, target, opt_state, updates, stats = lax.cond(started, learn, skip, s, k_learn)
        s = place_state(s.replace(params=params, target_params=target, opt_state=opt_state,
                                  updates=updates))
        acc = {
            "return_sum": acc["return_sum"] + jnp.where(done, ret, 0.0).sum(),
            "length_sum": acc["length_sum"] + jnp.where(done, length, 0).sum(),
            "episodes": acc["episodes"] + done.sum().astype(jnp.int32),
            "stats": acc["stats"] + stats,
            "learned": acc["learned"] + jnp.where(started, config.updates_per_iteration, 0),
        }
        return (s, acc), None

    def run_chunk(s: TrainState) -> tuple[TrainState, dict]:
        acc = {"return_sum": jnp.zeros((), jnp.float32), "length_sum": jnp.zeros((), jnp.int32),
               "episodes": jnp.zeros((), jnp.int32), "stats": jnp.zeros(3, jnp.float32),
               "learned": jnp.zeros((), jnp.int32)}
        (s, acc), _ = lax.scan(iteration, (s, acc), None, length=config.iterations_per_chunk)
        episodes = acc["episodes"].astype(jnp.float32)
        some = episodes > 0
        learned = jnp.maximum(acc["learned"], 1).astype(jnp.float32)
        metrics = {
            # NaN when no episode ended in the chunk (an honest "no data").
            "episode_return": jnp.where(some, acc["return_sum"] / jnp.maximum(episodes, 1),
                                        jnp.nan),
            "episode_length": jnp.where(some, acc["length_sum"] / jnp.maximum(episodes, 1),
                                        jnp.nan),
            "episodes": episodes,
            "loss": acc["stats"][0] / learned,
            "q_mean": acc["stats"][1] / learned,
            "grad_norm": acc["stats"][2] / learned,
            "epsilon": epsilon(config, s.iteration),
            "updates": s.updates.astype(jnp.float32),
        }
        return s, metrics

    def train(key: jax.Array, learning_rate: Any = None):
        s = init(key, learning_rate)
        return lax.scan(lambda c, _: run_chunk(c), s, None, length=config.num_chunks)

    return DDQN(init, run_chunk, train, env, config)


def make_train(config: DDQNConfig, env=None):
    """`train(key, learning_rate=config.learning_rate) -> (TrainState, metrics)`, pure.

    `env` defaults to `config.env` from the registry (`envs.make_env`). Jit it, or
    `jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, lr)` over seeds, and
    `jax.vmap(..., in_axes=(None, 0))` over learning rates.
    """
    if env is None:
        from jaxshop_baselines.ddqn.envs import make_env

        env = make_env(config)
    return make_ddqn(config, env).train


def greedy_returns(params, env, keys: jax.Array, num_steps: int) -> jax.Array:
    """(len(keys),) undiscounted returns of greedy episodes from `env.reset(key)`, each cut
    after `num_steps` decisions or at its first LAST step."""
    states, ts = jax.vmap(env.reset)(keys)
    act = jax.vmap(network.act, in_axes=(None, 0, 0))

    def body(carry, _):
        states, obs, alive, ret = carry
        states, ts = jax.vmap(env.step)(states, act(params, obs.features, obs.action_mask))
        ret = ret + jnp.where(alive, ts.reward, 0.0)
        return (states, ts.observation, alive & ~ts.last(), ret), None

    n = keys.shape[0]
    init = (states, ts.observation, jnp.ones((n,), bool), jnp.zeros((n,), jnp.float32))
    (_, _, _, ret), _ = lax.scan(body, init, None, length=num_steps)
    return ret


@functools.lru_cache(maxsize=8)
def cached_ddqn(config: DDQNConfig) -> DDQN:
    """`make_ddqn` for the registry env of `config`, with jitted `init` and `run_chunk`
    (cached per config, so repeated runs and tests share the compiled programs)."""
    from jaxshop_baselines.ddqn.envs import make_env

    agent = make_ddqn(config, make_env(config))
    return agent._replace(init=jax.jit(agent.init), run_chunk=jax.jit(agent.run_chunk),
                          train=jax.jit(agent.train))


__all__ = ["DDQN", "ENV_FIELDS", "METRIC_NAMES", "TrainState", "cached_ddqn", "env_sizes",
           "epsilon", "greedy_returns", "make_ddqn", "make_optimizer", "make_train",
           "place_state"]
