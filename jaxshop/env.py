"""The environment API every jaxshop env implements, and the env registry.

An env object holds only static configuration (reward mode, schedule mode, generator);
`reset(key, instance)` and `step(state, action)` are pure functions that jit and vmap.
The state is a `flax.struct` dataclass that carries its instance, so a batch of
different (padded) instances steps together under one compiled program.

One step template lives here; an env writes only three things:

- `_reset(instance) -> state` (the instance is already chosen),
- `_step(state, action, live) -> state`, its transition for a *valid* action; when `live`
  is False (the state is finished) it must return the state unchanged,
- `observe(state)`, the observation (a dataclass with a flat bool `action_mask`),

plus the small queries below (`action_mask`, `is_done`, `current_makespan`, `schedule`,
`num_actions`, `max_steps`, `observation_spec`). The base class adds the shared rules:

- Stepping a finished state is a no-op: same state, zero reward, a LAST timestep.
- A masked or out-of-range action is replaced by the lowest-index valid action and
  flagged with `extras["invalid_action"] = True`; it never corrupts the state.
- Rewards: "dense" (default) is minus the increase of the partial makespan, so an
  episode returns exactly `-makespan`; "normalized" divides it by `state.normalizer`
  (an instance lower bound); "terminal" pays `-makespan` on the last step only.
- `extras` is `{"makespan": partial makespan, "invalid_action": bool}` at every step.
- Terminal action mask: the mask of a LAST timestep (terminated, or truncated by
  `TimeLimit`) is all False. Policies must cope with an all-False mask: the library's
  `random_valid_action` and `first_valid_action` then return 0, which is a no-op there.
- One jit policy: `reset`, `step` and `observe` called eagerly run as one compiled
  program each (cached per env object); under an outer `jit`/`vmap` they are inlined.

`start` and `transition` are `reset` and `step` without the observation: wrappers such
as `AutoReset` use them to observe only the state they return (one `observe` per step).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxshop.instances.types import validate_instance
from jaxshop.types import TimeStep, restart, select_timestep, termination, transition

REWARD_MODES = ("dense", "normalized", "terminal")


@functools.partial(jax.jit, static_argnums=(0, 1))
def compiled_call(obj: Any, method: str, *args):
    """Runs `obj.<method>(*args)` as one compiled call (`obj` is static, hashed by identity).

    Under an outer jit/vmap this is inlined; called eagerly it replaces hundreds of
    op-by-op dispatches (and their per-shape compiles) by a single program. The cache
    keeps `obj` alive.
    """
    return getattr(obj, method)(*args)


def resolve_action(mask: jax.Array, action: jax.Array, skip: jax.Array):
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

    def searching(a):
        return (a < n) & ~mask[jnp.minimum(a, n - 1)] & invalid & ~skip

    found = jax.lax.while_loop(searching, lambda a: a + 1, start)
    return jnp.where(found < n, found, 0), invalid


class Environment(abc.ABC):
    """Base class: pure `reset`/`step` over a pytree state that carries its instance."""

    problem: ClassVar[str]
    # False for envs whose episodes are not one static schedule (the fab): the API checker
    # then skips the schedule checks (validation, -makespan return, padding invariance).
    builds_schedule: ClassVar[bool] = True

    def __init__(self, generator: Callable[[jax.Array], Any] | None = None,
                 reward: str = "dense"):
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {reward!r}")
        self.generator = generator
        self.reward_mode = reward

    # --- public API: reset / step (observation included) ---------------------------------

    def reset(self, key: jax.Array, instance: Any | None = None) -> tuple[Any, TimeStep]:
        """Starts an episode on `instance`, or on `self.generator(key)` when it is None.

        Called outside `jit`/`vmap` with concrete arrays, the instance is first checked
        with `jaxshop.instances.validate_instance` (a `ValueError` naming the field for
        what `reset` assumes: integer times, `num_ops <= max_ops`, no int32 overflow...);
        under a transformation that is the caller's job (check the batch once, outside).
        """
        if instance is not None and not any(
            isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(instance)
        ):
            validate_instance(instance, source=f"{type(self).__name__}.reset")
        return compiled_call(self, "_reset_observed", key, instance)

    def step(self, state: Any, action: jax.Array) -> tuple[Any, TimeStep]:
        """One decision; see the module docstring for the shared rules."""
        return compiled_call(self, "_step_observed", state, action)

    def _reset_observed(self, key, instance):
        state, ts = self.start(key, instance)
        return state, ts.replace(observation=self.observe(state))

    def _step_observed(self, state, action):
        state, ts = self.transition(state, action)
        return state, ts.replace(observation=self.observe(state))

    # --- the template: reset / step without the observation ------------------------------

    def start(self, key: jax.Array, instance: Any | None = None) -> tuple[Any, TimeStep]:
        """`reset` without the observation: `(state, FIRST timestep with observation None)`."""
        if instance is None:
            if self.generator is None:
                raise ValueError(f"{type(self).__name__}.reset needs an instance or a generator")
            instance = self.generator(key)
        state = self._reset(instance)
        return state, restart(None, self._extras(state, False))

    def transition(self, state: Any, action: jax.Array) -> tuple[Any, TimeStep]:
        """`step` without the observation (the timestep's `observation` is None)."""
        was_done = self.is_done(state)
        live = ~was_done
        action, invalid = resolve_action(self.action_mask(state), action, was_done)
        new = self._step(state, action, live)
        done = self.is_done(new)
        before = self.current_makespan(state)
        after = self.current_makespan(new)
        increase = (after - before).astype(jnp.float32)
        if self.reward_mode == "dense":
            reward = -increase
        elif self.reward_mode == "normalized":
            reward = -increase / state.normalizer
        else:
            reward = jnp.where(done, -after.astype(jnp.float32), 0.0)
        reward = jnp.where(was_done, 0.0, reward)
        extras = self._extras(new, invalid & live)
        ts = select_timestep(
            done, termination(reward, None, extras), transition(reward, None, extras=extras)
        )
        return new, ts

    def _extras(self, state: Any, invalid) -> dict:
        return {"makespan": self.current_makespan(state), "invalid_action": jnp.asarray(invalid)}

    @abc.abstractmethod
    def _reset(self, instance: Any) -> Any:
        """The first state of an episode on `instance` (no observation)."""

    @abc.abstractmethod
    def _step(self, state: Any, action: jax.Array, live: jax.Array) -> Any:
        """The transition for a valid `action`; the unchanged state when `live` is False."""

    # --- queries -------------------------------------------------------------------------

    @abc.abstractmethod
    def action_mask(self, state: Any) -> jax.Array:
        """Bool mask over the (flat) action space of one state (all False once finished)."""

    @abc.abstractmethod
    def observe(self, state: Any) -> Any:
        """The observation of a state (what `timestep.observation` holds)."""

    @abc.abstractmethod
    def is_done(self, state: Any) -> jax.Array:
        """() bool: the schedule is complete."""

    @abc.abstractmethod
    def current_makespan(self, state: Any) -> jax.Array:
        """() int32: makespan of the partial schedule so far."""

    @abc.abstractmethod
    def schedule(self, state: Any):
        """The `jaxshop.schedule.Schedule` built so far (works under jit and vmap)."""

    @abc.abstractmethod
    def num_actions(self, instance: Any) -> int:
        """Static size of the flat action space for an instance's padded shape."""

    @abc.abstractmethod
    def max_steps(self, instance: Any) -> int:
        """Static upper bound on the decisions of one episode (padded size)."""

    @abc.abstractmethod
    def observation_spec(self, instance: Any) -> Any:
        """The observation dataclass with a `jaxshop.specs.ArraySpec` for every field."""

    def action_spec(self, instance: Any):
        """`DiscreteSpec` of the flat action space for an instance's padded shape."""
        from jaxshop.specs import DiscreteSpec

        return DiscreteSpec(self.num_actions(instance), name="action")

    def specs(self, instance: Any) -> tuple[Any, TimeStep]:
        """Shapes and dtypes of `(state, timestep)` for an instance (nothing is computed)."""
        return jax.eval_shape(self.reset, jax.random.PRNGKey(0), instance)

    def render(self, state: Any, title: str = ""):
        """A matplotlib `Figure`: Gantt chart of the (partial) schedule of one state."""
        from jaxshop.gantt import gantt_figure

        schedule = jax.device_get(compiled_call(self, "schedule", state))
        return gantt_figure(schedule, title=title or type(self).__name__)

    @property
    def unwrapped(self) -> Environment:
        """The innermost env (itself for an env; wrappers forward to their env)."""
        return self

    def first_valid_action(self, mask: jax.Array) -> jax.Array:
        """Lowest-index valid action (0 when none is valid)."""
        from jaxshop.rollout import first_valid_action

        return first_valid_action(mask)


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
