"""Shared RL types: `StepType`, `TimeStep` and the helpers that build them.

A `TimeStep` is what `reset` and `step` return next to the new state. Termination
(the schedule is complete: `discount == 0`) is kept apart from truncation (an outside
limit stopped the episode: `discount == 1`), both with `step_type == LAST`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


class StepType:
    """Where a timestep sits in its episode (stored as int8)."""

    FIRST = 0
    MID = 1
    LAST = 2


@struct.dataclass
class TimeStep:
    """One transition's outputs. Leading batch dims, if any, are shared by every field."""

    step_type: jax.Array  # () int8, a `StepType`
    reward: jax.Array  # () float32
    discount: jax.Array  # () float32: 0 once terminated, 1 otherwise (also when truncated)
    observation: Any  # env-specific pytree (any structure); always has `action_mask`
    extras: dict = struct.field(default_factory=dict)  # env-specific diagnostics

    def first(self) -> jax.Array:
        return self.step_type == StepType.FIRST

    def mid(self) -> jax.Array:
        return self.step_type == StepType.MID

    def last(self) -> jax.Array:
        return self.step_type == StepType.LAST

    def terminated(self) -> jax.Array:
        """Episode ended inside the env (schedule complete)."""
        return self.last() & (self.discount == 0)

    def truncated(self) -> jax.Array:
        """Episode stopped from outside (time limit) while still running."""
        return self.last() & (self.discount != 0)


def _scalar(x: jax.typing.ArrayLike, dtype: jax.typing.DTypeLike = jnp.float32) -> jax.Array:
    return jnp.asarray(x, dtype=dtype)


def _timestep(step_type: int, reward: jax.typing.ArrayLike,
              discount: jax.typing.ArrayLike, observation: object,
              extras: dict | None) -> TimeStep:
    """The one place a `TimeStep` is built from Python values (scalars cast once)."""
    return TimeStep(step_type=_scalar(step_type, jnp.int8), reward=_scalar(reward),
                    discount=_scalar(discount), observation=observation, extras=extras or {})


def restart(observation: object, extras: dict | None = None) -> TimeStep:
    """The first timestep of an episode: zero reward, discount 1."""
    return _timestep(StepType.FIRST, 0.0, 1.0, observation, extras)


def transition(reward: jax.typing.ArrayLike, observation: object,
               discount: jax.typing.ArrayLike = 1.0,
               extras: dict | None = None) -> TimeStep:
    """A mid-episode timestep."""
    return _timestep(StepType.MID, reward, discount, observation, extras)


def termination(reward: jax.typing.ArrayLike, observation: object,
                extras: dict | None = None) -> TimeStep:
    """The last timestep of an episode that ended inside the env (discount 0)."""
    return _timestep(StepType.LAST, reward, 0.0, observation, extras)


def truncation(reward: jax.typing.ArrayLike, observation: object,
               discount: jax.typing.ArrayLike = 1.0,
               extras: dict | None = None) -> TimeStep:
    """The last timestep of an episode cut short from outside (discount stays 1)."""
    return _timestep(StepType.LAST, reward, discount, observation, extras)


def select_timestep(done: jax.Array, on_done: TimeStep, otherwise: TimeStep) -> TimeStep:
    """Per-leaf `where(done, on_done, otherwise)` for a scalar `done` (used for no-op steps)."""
    from jaxshop.utils import tree_select

    return tree_select(done, on_done, otherwise)
