"""The environment API every jaxshop env implements, and the env registry.

An env object holds only static configuration (reward mode, schedule mode, generator);
`reset(key, instance)` and `step(state, action)` are pure functions that jit and vmap.
The state is a `flax.struct` dataclass that carries its instance, so a batch of
different (padded) instances steps together under one compiled program.

Shared conventions:
- `timestep.observation.action_mask` is a bool array over the action space.
- Stepping a finished state is a no-op: same state, zero reward, a LAST timestep.
- A masked (invalid) action is replaced by the lowest-index valid action and flagged
  with `extras["invalid_action"] = True`; it never corrupts the state.
- The return of an episode is `-makespan` (dense reward) unless configured otherwise.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxshop.types import TimeStep

REWARD_MODES = ("dense", "normalized", "terminal")


class Environment(abc.ABC):
    """Base class: pure `reset`/`step` over a pytree state that carries its instance."""

    problem: ClassVar[str]

    def __init__(self, generator: Callable[[jax.Array], Any] | None = None,
                 reward: str = "dense"):
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {reward!r}")
        self.generator = generator
        self.reward_mode = reward

    def reset(self, key: jax.Array, instance: Any | None = None) -> tuple[Any, TimeStep]:
        """Starts an episode on `instance`, or on `self.generator(key)` when it is None."""
        if instance is None:
            if self.generator is None:
                raise ValueError(f"{type(self).__name__}.reset needs an instance or a generator")
            instance = self.generator(key)
        return self._reset(instance)

    @abc.abstractmethod
    def _reset(self, instance: Any) -> tuple[Any, TimeStep]: ...

    @abc.abstractmethod
    def step(self, state: Any, action: jax.Array) -> tuple[Any, TimeStep]: ...

    @abc.abstractmethod
    def action_mask(self, state: Any) -> jax.Array:
        """Bool mask over the (flat) action space of one state."""

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

    def specs(self, instance: Any) -> tuple[Any, TimeStep]:
        """Shapes and dtypes of `(state, timestep)` for an instance (nothing is computed)."""
        return jax.eval_shape(self.reset, jax.random.PRNGKey(0), instance)

    def first_valid_action(self, mask: jax.Array) -> jax.Array:
        """Lowest-index valid action (0 when none is valid)."""
        return jnp.argmax(mask).astype(jnp.int32)


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
