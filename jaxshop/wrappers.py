"""Env wrappers. `TimeLimit` truncates episodes after a number of decisions."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxshop.env import Environment
from jaxshop.types import StepType, TimeStep


@struct.dataclass
class TimeLimitState:
    inner: Any  # the wrapped env's state
    steps: Any  # () int32: decisions taken in this episode


class TimeLimit(Environment):
    """Ends an episode by truncation (LAST, discount 1) after `max_decisions` steps.

    A schedule completed on the limit step counts as terminated, not truncated. Once
    truncated, further steps are no-ops with zero reward, like a finished episode.
    """

    def __init__(self, env: Environment, max_decisions: int):
        if max_decisions < 1:
            raise ValueError(f"max_decisions must be >= 1, got {max_decisions}")
        self.env = env
        self.max_decisions = max_decisions
        self.problem = env.problem
        self.generator = env.generator
        self.reward_mode = env.reward_mode

    def reset(self, key, instance=None):
        state, ts = self.env.reset(key, instance)
        return TimeLimitState(state, jnp.zeros((), jnp.int32)), ts

    def _reset(self, instance):  # pragma: no cover - reset is overridden
        raise NotImplementedError

    def step(self, state: TimeLimitState, action) -> tuple[TimeLimitState, TimeStep]:
        stopped = state.steps >= self.max_decisions
        inner, ts = self.env.step(state.inner, action)
        inner = jax.tree_util.tree_map(
            lambda old, new: jnp.where(stopped, old, new), state.inner, inner
        )
        steps = jnp.where(stopped, state.steps, state.steps + 1)
        truncate = (steps >= self.max_decisions) & ~self.env.is_done(inner)
        ts = ts.replace(
            step_type=jnp.where(truncate | stopped, jnp.int8(StepType.LAST), ts.step_type),
            reward=jnp.where(stopped, 0.0, ts.reward),
            discount=jnp.where(truncate | stopped, jnp.float32(1.0), ts.discount),
        )
        # A state stopped by the limit (not complete) stays truncated with discount 1.
        ts = ts.replace(discount=jnp.where(self.env.is_done(inner), 0.0, ts.discount))
        return TimeLimitState(inner, steps), ts

    def action_mask(self, state):
        return self.env.action_mask(state.inner)

    def observe(self, state):
        return self.env.observe(state.inner)

    def is_done(self, state):
        return self.env.is_done(state.inner) | (state.steps >= self.max_decisions)

    def current_makespan(self, state):
        return self.env.current_makespan(state.inner)

    def schedule(self, state):
        return self.env.schedule(state.inner)

    def num_actions(self, instance):
        return self.env.num_actions(instance)

    def max_steps(self, instance):
        return min(self.max_decisions, self.env.max_steps(instance))
