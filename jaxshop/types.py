"""Shared RL types: `StepType`, `TimeStep` and the helpers that build them.

A `TimeStep` is what `reset` and `step` return next to the new state. Termination
(the schedule is complete: `discount == 0`) is kept apart from truncation (an outside
limit stopped the episode: `discount == 1`), both with `step_type == LAST`.
"""

from __future__ import annotations

from typing import Any

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

    step_type: Any  # () int8, a `StepType`
    reward: Any  # () float32
    discount: Any  # () float32: 0 once terminated, 1 otherwise (also when truncated)
    observation: Any  # env-specific pytree; always has `action_mask`
    extras: dict = struct.field(default_factory=dict)  # env-specific diagnostics

    def first(self):
        return self.step_type == StepType.FIRST

    def mid(self):
        return self.step_type == StepType.MID

    def last(self):
        return self.step_type == StepType.LAST

    def terminated(self):
        """Episode ended inside the env (schedule complete)."""
        return self.last() & (self.discount == 0)

    def truncated(self):
        """Episode stopped from outside (time limit) while still running."""
        return self.last() & (self.discount != 0)


def _scalar(x, dtype=jnp.float32):
    return jnp.asarray(x, dtype=dtype)


def restart(observation, extras: dict | None = None) -> TimeStep:
    """The first timestep of an episode: zero reward, discount 1."""
    return TimeStep(
        step_type=_scalar(StepType.FIRST, jnp.int8),
        reward=_scalar(0.0),
        discount=_scalar(1.0),
        observation=observation,
        extras=extras or {},
    )


def transition(reward, observation, discount=1.0, extras: dict | None = None) -> TimeStep:
    """A mid-episode timestep."""
    return TimeStep(
        step_type=_scalar(StepType.MID, jnp.int8),
        reward=_scalar(reward),
        discount=_scalar(discount),
        observation=observation,
        extras=extras or {},
    )


def termination(reward, observation, extras: dict | None = None) -> TimeStep:
    """The last timestep of an episode that ended inside the env (discount 0)."""
    return TimeStep(
        step_type=_scalar(StepType.LAST, jnp.int8),
        reward=_scalar(reward),
        discount=_scalar(0.0),
        observation=observation,
        extras=extras or {},
    )


def truncation(reward, observation, discount=1.0, extras: dict | None = None) -> TimeStep:
    """The last timestep of an episode cut short from outside (discount stays 1)."""
    return TimeStep(
        step_type=_scalar(StepType.LAST, jnp.int8),
        reward=_scalar(reward),
        discount=_scalar(discount),
        observation=observation,
        extras=extras or {},
    )


def select_timestep(done, on_done: TimeStep, otherwise: TimeStep) -> TimeStep:
    """Per-leaf `where(done, on_done, otherwise)` for a scalar `done` (used for no-op steps)."""
    from jaxshop.utils import tree_select

    return tree_select(done, on_done, otherwise)
