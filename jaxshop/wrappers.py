"""Env wrappers: `Wrapper` (forwarding base), `TimeLimit`, `AutoReset`, `EpisodeStats`,
`VmapWrapper`.

A wrapper is itself an `Environment`: it implements `start` and `transition` (reset and
step without the observation) and, when it has its own state, `inner_state`; the base
class then gives `reset`/`step` with exactly one `observe` of the returned state.
Attributes a wrapper does not define are read from the wrapped env (`wrapper.mode`,
`wrapper.generator`, ...); `wrapper.unwrapped` is the innermost env. `reset(key, instance)`
checks a concrete instance as the innermost env's own `reset` does (`check_instance`: a
scheduling instance, or the fab's `FabParams`), so every wrapper works on every env.

Episode metrics: the wrappers report what the env declares. An env names in
`episode_metrics` the `extras` entries that measure a finished episode (`makespan` for
the scheduling envs, `wip` for the fab); `AutoReset` carries each one's value at the end
of an episode as `final_<name>` and `EpisodeStats` logs it as `returned_episode_<name>s`
(`final_makespan`, `returned_episode_makespans` for a scheduling env).

Typical stack for an on-policy agent (PureJaxRL style)::

    env = EpisodeStats(AutoReset(jaxshop.make("fjsp")))
    state, ts = jax.vmap(env.reset)(keys)                  # one env per key
    state, ts = jax.vmap(env.step)(state, actions)          # never needs a manual reset
    ts.extras["returned_episode_returns"]                   # logged where returned_episode
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxshop.env import Environment, InstanceT, ObsT, StateT
from jaxshop.schedule import Schedule
from jaxshop.specs import DiscreteSpec
from jaxshop.types import StepType, TimeStep
from jaxshop.utils import tree_select

InnerT = TypeVar("InnerT")  # the wrapped env's state, opaque to a wrapper


class Wrapper(Environment[InstanceT, StateT, ObsT]):
    """Forwards everything to `self.env`; subclasses override what they change.

    Stateful wrappers keep the wrapped env's state in a field and override
    `inner_state(state)`; the state queries (`action_mask`, `observe`, `is_done`, ...)
    then forward through it. `StateT` is this wrapper's state (the wrapped env's own
    state when the wrapper keeps none).
    """

    def __init__(self, env: Environment):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env!r})"

    @property
    def unwrapped(self) -> Environment:
        return self.env.unwrapped

    @property
    def episode_metrics(self) -> tuple[str, ...]:
        return self.env.episode_metrics

    def check_instance(self, instance: InstanceT, source: str = "instance") -> None:
        """Refuses what the wrapped env's `reset` refuses (a ValueError naming the field)."""
        self.env.check_instance(instance, source)

    def check_instances(self, batch: InstanceT, source: str = "instances") -> None:
        self.env.check_instances(batch, source)

    def inner_state(self, state: StateT) -> Any:
        """The wrapped env's state inside this wrapper's state (itself when stateless)."""
        return state

    # Forwarded template.
    def start(self, key: jax.Array, instance: InstanceT | None = None
              ) -> tuple[StateT, TimeStep]:
        return self.env.start(key, instance)

    def transition(self, state: StateT, action: jax.Array) -> tuple[StateT, TimeStep]:
        return self.env.transition(state, action)

    def _reset(self, instance: InstanceT,  # pragma: no cover - start is forwarded
               key: jax.Array) -> StateT:
        raise NotImplementedError

    def _step(self, state: StateT,  # pragma: no cover - transition is forwarded
              action: jax.Array, live: jax.Array) -> StateT:
        raise NotImplementedError

    def _reward(self, before: StateT,  # pragma: no cover - transition is forwarded
                after: StateT, done: jax.Array) -> jax.Array:
        raise NotImplementedError

    # Forwarded queries.
    def action_mask(self, state: StateT) -> jax.Array:
        return self.env.action_mask(self.inner_state(state))

    def observe(self, state: StateT) -> ObsT:
        return self.env.observe(self.inner_state(state))

    def is_done(self, state: StateT) -> jax.Array:
        return self.env.is_done(self.inner_state(state))

    def is_terminal(self, state: StateT) -> jax.Array:
        return self.env.is_terminal(self.inner_state(state))

    # Scheduling envs only (an AttributeError on others, such as the fab).
    def current_makespan(self, state: StateT) -> jax.Array:
        return self.env.current_makespan(self.inner_state(state))

    def schedule(self, state: StateT) -> Schedule:
        return self.env.schedule(self.inner_state(state))

    def num_actions(self, instance: InstanceT) -> int:
        return self.env.num_actions(instance)

    def max_steps(self, instance: InstanceT) -> int:
        return self.env.max_steps(instance)

    def observation_spec(self, instance: InstanceT) -> ObsT:
        return self.env.observation_spec(instance)

    def action_spec(self, instance: InstanceT) -> DiscreteSpec:
        return self.env.action_spec(instance)

    def render(self, state: StateT, title: str = ""):
        return self.env.render(self.inner_state(state), title)


# --- TimeLimit ----------------------------------------------------------------------------


@struct.dataclass
class TimeLimitState(Generic[InnerT]):
    inner: InnerT  # the wrapped env's state
    steps: jax.Array  # () int32: decisions taken in this episode


class TimeLimit(Wrapper[InstanceT, TimeLimitState, ObsT]):
    """Ends an episode by truncation (LAST, discount 1) after `max_decisions` steps.

    A schedule completed on the limit step counts as terminated, not truncated. Once
    truncated, further steps are no-ops with zero reward, like a finished episode, and
    the action mask is all False (the terminal convention).
    """

    def __init__(self, env: Environment, max_decisions: int):
        if max_decisions < 1:
            raise ValueError(f"max_decisions must be >= 1, got {max_decisions}")
        super().__init__(env)
        self.max_decisions = max_decisions

    def inner_state(self, state: TimeLimitState) -> Any:
        return state.inner

    def start(self, key: jax.Array, instance: InstanceT | None = None
              ) -> tuple[TimeLimitState, TimeStep]:
        state, ts = self.env.start(key, instance)
        return TimeLimitState(state, jnp.zeros((), jnp.int32)), ts

    def transition(self, state: TimeLimitState, action: jax.Array
                   ) -> tuple[TimeLimitState, TimeStep]:
        stopped = state.steps >= self.max_decisions
        inner, ts = self.env.transition(state.inner, action)
        inner = tree_select(stopped, state.inner, inner)
        steps = jnp.where(stopped, state.steps, state.steps + 1)
        inner_done = self.env.is_done(inner)
        truncate = (steps >= self.max_decisions) & ~inner_done
        ts = ts.replace(
            step_type=jnp.where(truncate | stopped, jnp.int8(StepType.LAST), ts.step_type),
            reward=jnp.where(stopped, 0.0, ts.reward),
            discount=jnp.where(inner_done, 0.0, jnp.where(truncate | stopped, 1.0, ts.discount)),
            extras={**ts.extras, "invalid_action": ts.extras["invalid_action"] & ~stopped},
        )
        return TimeLimitState(inner, steps), ts

    def _stopped(self, state: TimeLimitState) -> jax.Array:
        return state.steps >= self.max_decisions

    def action_mask(self, state: TimeLimitState) -> jax.Array:
        return self.env.action_mask(state.inner) & ~self._stopped(state)

    def observe(self, state: TimeLimitState) -> ObsT:
        obs = self.env.observe(state.inner)
        return obs.replace(action_mask=obs.action_mask & ~self._stopped(state))

    def is_done(self, state: TimeLimitState) -> jax.Array:
        return self.env.is_done(state.inner) | self._stopped(state)

    def max_steps(self, instance: InstanceT) -> int:
        return min(self.max_decisions, self.env.max_steps(instance))


# --- AutoReset ----------------------------------------------------------------------------


@struct.dataclass
class AutoResetState(Generic[InnerT]):
    inner: InnerT  # the wrapped env's state (of the episode in progress)
    key: jax.Array  # PRNG key for the next episodes (as given to `reset`)
    episode: jax.Array  # () int32: episodes started so far (the suite index when cycling)


class AutoReset(Wrapper[InstanceT, AutoResetState, ObsT]):
    """Starts a new episode on the step that ends one, so a batch never stops.

    On a LAST step the returned timestep keeps its step type, reward, discount and
    `extras` of the finished episode (`makespan`, `invalid_action`, ...), adds
    `extras["final_<name>"]` for each of the env's `episode_metrics` (its value at the end
    of the finished episode, 0 on other steps: `final_makespan` for a scheduling env,
    `final_wip` for the fab), and its observation is the FIRST observation of the new
    episode, whose state is returned (as in PureJaxRL's and Jumanji's auto-reset
    wrappers).

    New episodes come from `instances`, a stacked suite (leading axis = instances), by
    cycling (`sample=False`: episode `k` of a state uses instance `k mod suite size`,
    starting from the state's reset instance index 0 unless `reset` gets an instance) or
    drawn uniformly by key (`sample=True`); without `instances`, from the env's generator.

    Cost: one `observe` per step, of the returned state. The terminal observation is not
    computed unless `terminal_observation=True` (`extras["terminal_observation"]`, a
    second observe per step, only useful to bootstrap truncated episodes).
    """

    def __init__(self, env: Environment, instances: InstanceT | None = None, sample: bool = False,
                 terminal_observation: bool = False):
        super().__init__(env)
        if instances is None and env.generator is None:
            raise ValueError("AutoReset needs instances or an env with a generator")
        if instances is not None:
            instances = jax.tree_util.tree_map(jnp.asarray, instances)
        self.instances = instances
        self.sample = sample
        self.terminal_observation = terminal_observation
        if instances is not None:
            self.suite_size = int(jax.tree_util.tree_leaves(instances)[0].shape[0])

    def inner_state(self, state: AutoResetState) -> Any:
        return state.inner

    @property
    def generator(self) -> Callable[[jax.Array], InstanceT] | None:
        """The env's generator, or None when episodes come from a suite."""
        return self.env.generator if self.instances is None else None

    def _pick(self, key: jax.Array, episode: jax.Array) -> InstanceT | None:
        """The instance of a new episode (None: the env's generator draws from the key)."""
        if self.instances is None:
            return None
        if self.sample:
            index = jax.random.randint(key, (), 0, self.suite_size)
        else:
            index = episode % self.suite_size
        return jax.tree_util.tree_map(lambda x: x[index], self.instances)

    def start(self, key: jax.Array, instance: InstanceT | None = None
              ) -> tuple[AutoResetState, TimeStep]:
        key, sub = jax.random.split(key)
        episode = jnp.zeros((), jnp.int32)
        if instance is None:
            instance = self._pick(sub, episode)
        inner, ts = self.env.start(sub, instance)
        ts = ts.replace(extras=self._more_extras(ts.extras, jnp.zeros((), bool), None))
        return AutoResetState(inner, key, episode + 1), ts

    def _more_extras(self, extras: dict, last: jax.Array, terminal_obs: ObsT | None) -> dict:
        """`extras` with `final_<name>` of each episode metric (0 unless `last`)."""
        extras = dict(extras)
        for name in self.env.episode_metrics:
            value = extras[name]
            extras[f"final_{name}"] = jnp.where(last, value, 0).astype(value.dtype)
        if self.terminal_observation:
            if terminal_obs is None:  # at reset: a zero-filled placeholder of the right shape
                terminal_obs = jax.tree_util.tree_map(jnp.zeros_like, self._obs_placeholder)
            extras["terminal_observation"] = terminal_obs
        return extras

    def transition(self, state: AutoResetState, action: jax.Array
                   ) -> tuple[AutoResetState, TimeStep]:
        inner, ts = self.env.transition(state.inner, action)
        last = ts.last()
        key, sub = jax.random.split(state.key)
        fresh, _ = self.env.start(sub, self._pick(sub, state.episode))
        terminal_obs = self.env.observe(inner) if self.terminal_observation else None
        ts = ts.replace(extras=self._more_extras(ts.extras, last, terminal_obs))
        new = AutoResetState(
            tree_select(last, fresh, inner), key, state.episode + last.astype(jnp.int32)
        )
        return new, ts

    @property
    def _obs_placeholder(self):
        from jaxshop.specs import shape_dtypes

        if self.instances is not None:
            shape = jax.tree_util.tree_map(lambda x: x[0], self.instances)
        else:
            shape = jax.eval_shape(self.env.generator, jax.random.PRNGKey(0))
        return shape_dtypes(self.env.observation_spec(shape))

    def is_done(self, state: AutoResetState) -> jax.Array:
        """Never: an auto-reset env always has an episode in progress."""
        return jnp.zeros((), bool)


# --- EpisodeStats -------------------------------------------------------------------------


@struct.dataclass
class EpisodeStatsState(Generic[InnerT]):
    inner: InnerT  # the wrapped env's state
    episode_return: jax.Array  # () float32: running return of the episode in progress
    episode_length: jax.Array  # () int32
    episode_invalid: jax.Array  # () int32: invalid actions in the episode in progress
    returned_episode_returns: jax.Array  # () float32: of the last finished episode
    returned_episode_lengths: jax.Array  # () int32
    returned_episode_invalid_actions: jax.Array  # () int32
    timestep: jax.Array  # () int32: steps since reset (all episodes)
    returned_metrics: dict[str, jax.Array]  # metric name -> value in the last finished episode


STAT_NAMES = (
    "returned_episode",
    "returned_episode_returns",
    "returned_episode_lengths",
    "returned_episode_invalid_actions",
    "timestep",
)


class EpisodeStats(Wrapper[InstanceT, EpisodeStatsState, ObsT]):
    """Logs finished episodes in `extras`, under PureJaxRL's `LogWrapper` names.

    Every timestep carries `returned_episode` (bool: an episode ended on this step),
    `returned_episode_returns`, `returned_episode_lengths`,
    `returned_episode_invalid_actions` (of the last finished episode; 0 before the first),
    `returned_episode_<name>s` for each of the env's `episode_metrics` (its `final_<name>`
    under `AutoReset`, else its `<name>`: `returned_episode_makespans` for a scheduling
    env) and `timestep` (steps since reset). Typical logging:
    `returns[extras["returned_episode"]].mean()`. Put it outside `AutoReset`.
    """

    def inner_state(self, state: EpisodeStatsState) -> Any:
        return state.inner

    def _extras(self, extras: dict, s: EpisodeStatsState, ended: jax.typing.ArrayLike
                ) -> dict:
        out = dict(extras)
        out["returned_episode"] = jnp.asarray(ended, bool)
        for name in STAT_NAMES[1:]:
            out[name] = getattr(s, name)
        for name, value in s.returned_metrics.items():
            out[f"returned_episode_{name}s"] = value
        return out

    def start(self, key: jax.Array, instance: InstanceT | None = None
              ) -> tuple[EpisodeStatsState, TimeStep]:
        inner, ts = self.env.start(key, instance)
        z_f, z_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        metrics = {name: jnp.zeros_like(ts.extras[name]) for name in self.env.episode_metrics}
        s = EpisodeStatsState(inner, z_f, z_i, z_i, z_f, z_i, z_i, z_i, metrics)
        return s, ts.replace(extras=self._extras(ts.extras, s, False))

    def transition(self, state: EpisodeStatsState, action: jax.Array
                   ) -> tuple[EpisodeStatsState, TimeStep]:
        was_done = self.env.is_done(state.inner)
        inner, ts = self.env.transition(state.inner, action)
        counted = ~was_done  # steps on a finished (non-auto-reset) episode are no-ops
        ret = state.episode_return + ts.reward
        length = state.episode_length + counted.astype(jnp.int32)
        invalid = state.episode_invalid + ts.extras["invalid_action"].astype(jnp.int32)
        ended = ts.last() & counted
        metrics = {
            name: jnp.where(ended, ts.extras.get(f"final_{name}", ts.extras[name]),
                            old).astype(old.dtype)
            for name, old in state.returned_metrics.items()
        }
        s = EpisodeStatsState(
            inner,
            jnp.where(ended, 0.0, ret),
            jnp.where(ended, 0, length),
            jnp.where(ended, 0, invalid),
            jnp.where(ended, ret, state.returned_episode_returns),
            jnp.where(ended, length, state.returned_episode_lengths),
            jnp.where(ended, invalid, state.returned_episode_invalid_actions),
            state.timestep + 1,
            metrics,
        )
        return s, ts.replace(extras=self._extras(ts.extras, s, ended))


# --- VmapWrapper --------------------------------------------------------------------------


class VmapWrapper(Wrapper[InstanceT, StateT, ObsT]):
    """A batch of `num_envs` envs behind the single-env API.

    `reset(key, instances=None)` splits `key` into one key per env (instances, when given,
    are stacked with a leading axis of `num_envs`); `step(state, actions)` takes
    `(num_envs,)` actions; every timestep field gains a leading batch axis. The state
    queries and specs also work per batch (`action_mask(state)` is `(num_envs, A)`).
    `StateT` is the wrapped env's state with a leading axis of `num_envs`.
    """

    def __init__(self, env: Environment, num_envs: int):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        super().__init__(env)
        self.num_envs = num_envs

    def check_instance(self, instance: InstanceT, source: str = "instances") -> None:
        """A batch of `num_envs` instances (leading axis), each one the wrapped env's
        `reset` accepts; ValueError otherwise."""
        sizes = sorted({int(np.shape(x)[0]) if np.ndim(x) else 0
                        for x in jax.tree_util.tree_leaves(instance)})
        if sizes != [self.num_envs]:
            raise ValueError(f"{source}: VmapWrapper of num_envs={self.num_envs} needs a batch "
                             f"of {self.num_envs} stacked instances (leading axis "
                             f"{self.num_envs}), got leading axes {sizes}")
        self.env.check_instances(instance, source)

    def start(self, key: jax.Array, instance: InstanceT | None = None
              ) -> tuple[StateT, TimeStep]:
        keys = jax.random.split(key, self.num_envs)
        if instance is None:
            return jax.vmap(lambda k: self.env.start(k, None))(keys)
        return jax.vmap(self.env.start)(keys, instance)

    def transition(self, state: StateT, action: jax.Array) -> tuple[StateT, TimeStep]:
        return jax.vmap(self.env.transition)(state, action)

    def action_mask(self, state: StateT) -> jax.Array:
        return jax.vmap(self.env.action_mask)(state)

    def observe(self, state: StateT) -> ObsT:
        return jax.vmap(self.env.observe)(state)

    def is_done(self, state: StateT) -> jax.Array:
        return jax.vmap(self.env.is_done)(state)

    def current_makespan(self, state: StateT) -> jax.Array:
        return jax.vmap(self.env.current_makespan)(state)

    def schedule(self, state: StateT) -> Schedule:
        return jax.vmap(self.env.schedule)(state)

    def render(self, state: StateT, title: str = "", index: int = 0):
        one = jax.tree_util.tree_map(lambda x: x[index], state)
        return self.env.render(one, title)


__all__ = [
    "AutoReset",
    "AutoResetState",
    "EpisodeStats",
    "EpisodeStatsState",
    "STAT_NAMES",
    "TimeLimit",
    "TimeLimitState",
    "VmapWrapper",
    "Wrapper",
]
