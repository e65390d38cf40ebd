"""Adapters that expose jaxshop envs through other RL libraries' APIs.

- `to_gymnax(env)` (`jaxshop.adapters.gymnax`): a gymnax `Environment`, params = the
  instance distribution.
- `to_jumanji(env)` (`jaxshop.adapters.jumanji`): a `jumanji.Environment`.

Both import their library only when used (optional extra: `pip install 'jaxshop[bench]'`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["gymnax", "jumanji", "to_gymnax", "to_jumanji"]


def to_gymnax(env: Any, instances: Any = None, max_steps_in_episode: int | None = None) -> Any:
    """See `jaxshop.adapters.gymnax.to_gymnax`."""
    from jaxshop.adapters.gymnax import to_gymnax as convert

    return convert(env, instances, max_steps_in_episode)


def to_jumanji(env: Any, generator: Any = None) -> Any:
    """See `jaxshop.adapters.jumanji.to_jumanji`."""
    from jaxshop.adapters.jumanji import to_jumanji as convert

    return convert(env, generator)
