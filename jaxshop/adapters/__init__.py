"""Adapters that expose jaxshop envs through other RL libraries' APIs.

- `to_gymnax(env)` (`jaxshop.adapters.gymnax`): a gymnax `Environment`, params = the
  instance distribution.
- `to_jumanji(env)` (`jaxshop.adapters.jumanji`): a `jumanji.Environment`.

Both import their library only when used (optional extra: `pip install 'jaxshop[bench]'`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from jaxshop.adapters.gymnax import GymnaxEnv
from jaxshop.adapters.jumanji import JumanjiEnv
from jaxshop.env import Environment, InstanceT, ObsT, StateT

__all__ = ["gymnax", "jumanji", "to_gymnax", "to_jumanji"]


def to_gymnax(env: Environment[InstanceT, StateT, ObsT], instances: InstanceT | None = None,
              max_steps_in_episode: int | None = None) -> GymnaxEnv:
    """See `jaxshop.adapters.gymnax.to_gymnax`."""
    from jaxshop.adapters.gymnax import to_gymnax as convert

    return convert(env, instances, max_steps_in_episode)


def to_jumanji(env: Environment[InstanceT, StateT, ObsT],
               generator: Callable[[jax.Array], InstanceT] | None = None) -> JumanjiEnv:
    """See `jaxshop.adapters.jumanji.to_jumanji`."""
    from jaxshop.adapters.jumanji import to_jumanji as convert

    return convert(env, generator)
