"""The environment API every jaxshop env implements, the env registry and its one cache.

An env object holds only static configuration (reward mode, generator, sizes);
`reset(key, instance)` and `step(state, action)` are pure functions that jit and vmap.
The state is a `flax.struct` dataclass that carries its instance (or parameters), so a
batch of different (padded) instances steps together under one compiled program.

`Environment[InstanceT, StateT, ObsT]` owns the step template; a subclass writes:

- `_reset(instance, key) -> state`: the first state (the instance is already chosen;
  `key` is the episode's key, for envs that draw a random start),
- `_step(state, action, live) -> state`: the transition for a *valid* action; when
  `live` is False (the state is finished) it must return the state unchanged,
- `_reward(before, after, done) -> () float32`: the reward of a live step,
- `observe(state)`: the observation (a dataclass with a flat bool `action_mask`),
- `action_mask`, `is_done`, `num_actions`, `max_steps`, `observation_spec`,

and may override `_extras(state)` (the env's own diagnostics, a dict),
`episode_metrics` (names of `_extras` that measure a finished episode: wrappers carry
them over an auto-reset), `is_terminal` (default `is_done`: an episode that stops
without being terminal is truncated, discount 1), `check_instance` and `render`.
The base class adds the shared rules:

- Stepping a finished state is a no-op: same state, zero reward, a LAST timestep.
- A masked or out-of-range action is replaced by the lowest-index valid action and
  flagged with `extras["invalid_action"] = True`; it never corrupts the state.
- `extras` is `_extras(state)` plus `invalid_action` (bool) at every step.
- Terminal action mask: the mask of a LAST timestep (terminated, or truncated by
  `TimeLimit`) is all False. Policies must cope with an all-False mask: the library's
  `random_valid_action` and `first_valid_action` then return 0, which is a no-op there.
- One jit policy: `reset`, `step` and `observe` called eagerly run as one compiled
  program each (cached per env object); under an outer `jit`/`vmap` they are inlined.

`SchedulingEnvironment` adds what the makespan envs (PFSP, job shop, flexible job shop,
swap improvement, rule selection) share: the reward modes over the partial makespan (it
writes `_reward`), a Gantt `render`, instance validation (`validate_instance`, padded
instances included) and `extras["makespan"]`; such an env writes `current_makespan` and
`schedule` instead of `_reward`.

`start` and `transition` are `reset` and `step` without the observation: wrappers such
as `AutoReset` use them to observe only the state they return (one `observe` per step).
`cached_make(name, **kwargs)` is `make` memoized per arguments: the one place callers
share env objects (and so their compiled programs).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import jax
import jax.numpy as jnp

from jaxshop.instances.types import validate_instance
from jaxshop.schedule import Schedule
from jaxshop.specs import DiscreteSpec
from jaxshop.types import StepType, TimeStep, restart

InstanceT = TypeVar("InstanceT")
StateT = TypeVar("StateT")
ObsT = TypeVar("ObsT")


@functools.partial(jax.jit, static_argnums=(0, 1))
def compiled_call(obj: object, method: str, *args: Any) -> Any:
    """Runs `obj.<method>(*args)` as one compiled call (`obj` is static, hashed by identity).

    Under an outer jit/vmap this is inlined; called eagerly it replaces hundreds of
    op-by-op dispatches (and their per-shape compiles) by a single program. The cache
    keeps `obj` alive.
    """
    return getattr(obj, method)(*args)


def resolve_action(mask: jax.Array, action: jax.Array, skip: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
    """`(action, invalid)`: a masked or out-of-range action becomes the lowest valid index.

    `mask` is the flat bool action mask; with no valid action the result is 0. The lowest
    valid index is found by a `while_loop` that starts at 0 only for invalid actions:
    valid actions (and finished states, `skip`, whose action is only clipped) run zero
    iterations, even under vmap, so a valid-action policy never pays for the search (on
    XLA's CPU backend an always-computed `argmax` over a large mask costs more than the
    rest of a step).
    """
    n = mask.shape[0]
    action = jnp.asarray(action, jnp.int32)
    invalid = ~(((action >= 0) & (action < n)) & mask[jnp.clip(action, 0, n - 1)])
    start = jnp.where(invalid & ~skip, 0, jnp.clip(action, 0, n - 1))

    def searching(a: jax.Array) -> jax.Array:
        return (a < n) & ~mask[jnp.minimum(a, n - 1)] & invalid & ~skip

    found = jax.lax.while_loop(searching, lambda a: a + 1, start)
    return jnp.where(found < n, found, 0), invalid


def _concrete(tree: Any) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


class Environment(abc.ABC, Generic[InstanceT, StateT, ObsT]):
    """Base class: pure `reset`/`step` over a pytree state; see the module docstring."""

    problem: ClassVar[str]
    #: names of `_extras` entries that measure a finished episode (carried by wrappers)
    episode_metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, generator: Callable[[jax.Array], InstanceT] | None = None):
        self.generator = generator

    # --- public API: reset / step (observation included) ---------------------------------

    def reset(self, key: jax.Array, instance: InstanceT | None = None
              ) -> tuple[StateT, TimeStep]:
        """Starts an episode on `instance`, or on `self.generator(key)` when it is None.

        Called outside `jit`/`vmap` with a concrete instance, it is first checked by
        `check_instance` (a `ValueError` naming the field); under a transformation that
        is the caller's job (check the batch once, outside).
        """
        if instance is not None and _concrete(instance):
            self.check_instance(instance, source=f"{type(self).__name__}.reset")
        return compiled_call(self, "_reset_observed", key, instance)

    def step(self, state: StateT, action: jax.Array) -> tuple[StateT, TimeStep]:
        """One decision; see the module docstring for the shared rules."""
        return compiled_call(self, "_step_observed", state, action)

    def _reset_observed(self, key: jax.Array, instance: InstanceT | None
                        ) -> tuple[StateT, TimeStep]:
        state, ts = self.start(key, instance)
        return state, ts.replace(observation=self.observe(state))

    def _step_observed(self, state: StateT, action: jax.Array) -> tuple[StateT, TimeStep]:
        state, ts = self.transition(state, action)
        return state, ts.replace(observation=self.observe(state))

    def check_instance(self, instance: InstanceT, source: str = "instance") -> None:
        """ValueError naming the field when `reset` cannot run on a concrete `instance`
        (nothing to check by default)."""

    def check_instances(self, batch: InstanceT, source: str = "instances") -> None:
        """`check_instance` for each instance of a stacked batch (leading axis)."""
        size = jax.tree_util.tree_leaves(batch)[0].shape[0]
        for i in range(size):
            one = jax.tree_util.tree_map(lambda x, i=i: x[i], batch)
            self.check_instance(one, f"{source}: instance {i}")

    # --- the template: reset / step without the observation ------------------------------

    def start(self, key: jax.Array, instance: InstanceT | None = None
              ) -> tuple[StateT, TimeStep]:
        """`reset` without the observation: `(state, FIRST timestep with observation None)`."""
        if instance is None:
            if self.generator is None:
                raise ValueError(f"{type(self).__name__}.reset needs an instance or a generator")
            instance = self.generator(key)
        state = self._reset(instance, key)
        return state, restart(None, self.extras(state, False))

    def transition(self, state: StateT, action: jax.Array) -> tuple[StateT, TimeStep]:
        """`step` without the observation (the timestep's `observation` is None)."""
        was_done = self.is_done(state)
        live = ~was_done
        action, invalid = resolve_action(self.action_mask(state), action, was_done)
        new = self._step(state, action, live)
        done = self.is_done(new)
        reward = jnp.where(was_done, 0.0, self._reward(state, new, done))
        ended = done & (was_done | self.is_terminal(new))  # else truncated: discount 1
        ts = TimeStep(
            step_type=jnp.where(done, jnp.int8(StepType.LAST), jnp.int8(StepType.MID)),
            reward=jnp.asarray(reward, jnp.float32),
            discount=jnp.where(ended, 0.0, 1.0).astype(jnp.float32),
            observation=None,
            extras=self.extras(new, invalid & live),
        )
        return new, ts

    def extras(self, state: StateT, invalid: jax.typing.ArrayLike) -> dict:
        """`timestep.extras`: the env's `_extras(state)` and `invalid_action`."""
        return {**self._extras(state), "invalid_action": jnp.asarray(invalid)}

    def _extras(self, state: StateT) -> dict:
        """The env's own diagnostics of a state (none by default)."""
        return {}

    @abc.abstractmethod
    def _reset(self, instance: InstanceT, key: jax.Array) -> StateT:
        """The first state of an episode on `instance` (no observation)."""

    @abc.abstractmethod
    def _step(self, state: StateT, action: jax.Array, live: jax.Array) -> StateT:
        """The transition for a valid `action`; the unchanged state when `live` is False."""

    @abc.abstractmethod
    def _reward(self, before: StateT, after: StateT, done: jax.Array) -> jax.Array:
        """() float32 reward of a live step from `before` to `after` (`done`: it ended)."""

    # --- queries -------------------------------------------------------------------------

    @abc.abstractmethod
    def action_mask(self, state: StateT) -> jax.Array:
        """Bool mask over the (flat) action space of one state (all False once finished)."""

    @abc.abstractmethod
    def observe(self, state: StateT) -> ObsT:
        """The observation of a state (what `timestep.observation` holds)."""

    @abc.abstractmethod
    def is_done(self, state: StateT) -> jax.Array:
        """() bool: the episode is over (terminated or stopped)."""

    def is_terminal(self, state: StateT) -> jax.Array:
        """() bool: the episode ended inside the env (discount 0); default `is_done`."""
        return self.is_done(state)

    @abc.abstractmethod
    def num_actions(self, instance: InstanceT) -> int:
        """Static size of the flat action space for an instance's padded shape."""

    @abc.abstractmethod
    def max_steps(self, instance: InstanceT) -> int:
        """Static upper bound on the decisions of one episode (padded size)."""

    @abc.abstractmethod
    def observation_spec(self, instance: InstanceT) -> ObsT:
        """The observation dataclass with a `jaxshop.specs.ArraySpec` for every field."""

    def action_spec(self, instance: InstanceT) -> DiscreteSpec:
        """`DiscreteSpec` of the flat action space for an instance's padded shape."""
        return DiscreteSpec(self.num_actions(instance), name="action")

    def specs(self, instance: InstanceT) -> tuple[StateT, TimeStep]:
        """Shapes and dtypes of `(state, timestep)` for an instance (nothing is computed)."""
        return jax.eval_shape(self.reset, jax.random.PRNGKey(0), instance)

    def render(self, state: StateT, title: str = ""):
        """A matplotlib `Figure` of one state."""
        raise NotImplementedError(f"{type(self).__name__} has no render")

    @property
    def unwrapped(self) -> Environment:
        """The innermost env (itself for an env; wrappers forward to their env)."""
        return self

    def first_valid_action(self, mask: jax.Array) -> jax.Array:
        """Lowest-index valid action (0 when none is valid)."""
        from jaxshop.rollout import first_valid_action

        return first_valid_action(mask)


# --- scheduling envs ----------------------------------------------------------------------


def _dense(before: jax.Array, after: jax.Array, normalizer: jax.Array,
           done: jax.Array) -> jax.Array:
    return -(after - before).astype(jnp.float32)


def _normalized(before: jax.Array, after: jax.Array, normalizer: jax.Array,
                done: jax.Array) -> jax.Array:
    return -(after - before).astype(jnp.float32) / normalizer


def _terminal(before: jax.Array, after: jax.Array, normalizer: jax.Array,
              done: jax.Array) -> jax.Array:
    return jnp.where(done, -after.astype(jnp.float32), 0.0)


#: reward mode -> `f(makespan before, makespan after, state.normalizer, done)`
REWARDS: dict[str, Callable[..., jax.Array]] = {
    "dense": _dense, "normalized": _normalized, "terminal": _terminal,
}
REWARD_MODES = tuple(REWARDS)


class SchedulingEnvironment(Environment[InstanceT, StateT, ObsT]):
    """An env whose episodes build one schedule of a scheduling instance.

    Its state has a `normalizer` (an instance makespan lower bound, >= 1). Rewards
    (`reward=`, one of `reward_modes`): "dense" (default) is minus the increase of the
    partial makespan, so an episode returns exactly `-makespan`; "normalized" divides it
    by `state.normalizer`; "terminal" pays `-makespan` on the last step only. `extras`
    adds `makespan` (the partial makespan), the episode metric wrappers carry.
    A subclass also writes `current_makespan` and `schedule`.
    """

    reward_modes: ClassVar[Mapping[str, Callable[..., jax.Array]]] = REWARDS
    episode_metrics: ClassVar[tuple[str, ...]] = ("makespan",)

    def __init__(self, generator: Callable[[jax.Array], InstanceT] | None = None,
                 reward: str = "dense"):
        if reward not in self.reward_modes:
            raise ValueError(f"reward must be one of {tuple(self.reward_modes)}, "
                             f"got {reward!r}")
        super().__init__(generator)
        self.reward_mode = reward

    def check_instance(self, instance: InstanceT, source: str = "instance") -> None:
        validate_instance(instance, source=source)

    def check_instances(self, batch: InstanceT, source: str = "instances") -> None:
        validate_instance(batch, source=source)  # it checks a stacked batch at once

    def _reward(self, before: StateT, after: StateT, done: jax.Array) -> jax.Array:
        return self.reward_modes[self.reward_mode](
            self.current_makespan(before), self.current_makespan(after), before.normalizer,
            done)

    def _extras(self, state: StateT) -> dict:
        return {"makespan": self.current_makespan(state)}

    @abc.abstractmethod
    def current_makespan(self, state: StateT) -> jax.Array:
        """() int32: makespan of the partial schedule so far."""

    @abc.abstractmethod
    def schedule(self, state: StateT) -> Schedule:
        """The `jaxshop.schedule.Schedule` built so far (works under jit and vmap)."""

    def render(self, state: StateT, title: str = ""):
        """A matplotlib `Figure`: Gantt chart of the (partial) schedule of one state."""
        from jaxshop.gantt import gantt_figure

        schedule = jax.device_get(compiled_call(self, "schedule", state))
        return gantt_figure(schedule, title=title or type(self).__name__)


_REGISTRY: dict[str, Callable[..., Environment]] = {}


def register(name: str) -> Callable[[Callable[..., Environment]], Callable[..., Environment]]:
    """Decorator: registers an env factory under `name` for `jaxshop.make`."""

    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"env {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return deco


def make(name: str, **kwargs) -> Environment:
    """Builds a registered env: `jaxshop.make("pfsp", reward="terminal")`."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown env {name!r}; registered: {sorted(_REGISTRY)}") from None
    return factory(**kwargs)


def registered() -> list[str]:
    return sorted(_REGISTRY)


_CACHE: dict[tuple, Environment] = {}


def cached_make(name: str, **kwargs) -> Environment:
    """`make(name, **kwargs)`, one shared object per arguments (so are its compiled
    programs); arguments that cannot be hashed (arrays) get a fresh env each call."""
    key = (name, tuple(sorted(kwargs.items())))
    try:
        hash(key)
    except TypeError:
        return make(name, **kwargs)
    if key not in _CACHE:
        _CACHE[key] = make(name, **kwargs)
    return _CACHE[key]
