"""The envs the Double DQN trains on: its `--env` names and how a config makes them.

Every env comes from the one jaxshop registry (`jaxshop.make`): `ENV_OPTIONS`
maps a DDQN `--env` name to the registered env and the arguments the `DDQNConfig` gives
it ("fjsp": `rule_selection` on random flexible job shops of the config's size; "fab":
the Mini-Fab in the config's regime). The DDQN needs only this contract from an env (it
never looks inside the state):

- `env.reset(key) -> (state, timestep)`, drawing the instance (or params) from the env's
  own generator; `env.step(state, action) -> (state, timestep)`; both pure, jit/vmap-able.
- `timestep.observation.features`: flat float32 vector; `timestep.observation.action_mask`:
  flat bool vector (all False on a LAST step is fine: the bootstrap value is then 0).
- `timestep.reward`, `timestep.discount` (0 at termination, 1 when truncated),
  `timestep.last()`; `env.num_actions(instance)`, `env.max_steps(instance)`.

To train on another env, register it with `jaxshop.register(name)` and add how a config
makes it: `ENV_OPTIONS[name] = lambda config: (name, {})`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxshop_baselines.ddqn.config import DDQNConfig

#: `config -> (registered jaxshop env name, its make arguments)`
EnvOptions = Callable[[DDQNConfig], tuple[str, dict[str, Any]]]


def fjsp_generator(num_jobs: int, num_machines: int):
    """Brandimarte-style random FJSP: `U[0.8 M, 1.2 M]` operations per job, `U[1, M]`
    eligible machines, times `U[1, 20]` (`jaxshop.fjsp.generator.brandimarte_generator`,
    as the pointer net and PPO train on)."""
    from jaxshop.fjsp.generator import brandimarte_generator

    return brandimarte_generator(num_jobs, num_machines)


def _rule_selection(config: DDQNConfig) -> tuple[str, dict[str, Any]]:
    """Rule selection on random FJSP instances of the config's size (normalized reward)."""
    generator = fjsp_generator(config.num_jobs, config.num_machines)
    return "rule_selection", {"generator": generator, "reward": "normalized",
                              "mode": config.mode, "rules": tuple(config.rules)}


def _fab(config: DDQNConfig) -> tuple[str, dict[str, Any]]:
    """The Mini-Fab (`jaxshop.fab.FabEnv`: 10 decision days after 5 warm-up days with d4)
    in the config's regime (`config.fab_regime`); the action picks the day's weights."""
    from jaxshop.fab import regime_params

    return "fab", {"params": regime_params(config.fab_regime)}


#: DDQN `--env` name -> how a config makes its env
ENV_OPTIONS: dict[str, EnvOptions] = {"fjsp": _rule_selection, "fab": _fab}


def make_env(config: DDQNConfig):
    """The env of `config.env` (ValueError naming the known ones when unknown)."""
    import jaxshop_baselines.ddqn.rule_selection  # noqa: F401  (registers "rule_selection")

    import jaxshop

    try:
        options = ENV_OPTIONS[config.env]
    except KeyError:
        raise ValueError(f"unknown ddqn env {config.env!r}; known: "
                         f"{', '.join(sorted(ENV_OPTIONS))}") from None
    name, kwargs = options(config)
    return jaxshop.make(name, **kwargs)


__all__ = ["ENV_OPTIONS", "EnvOptions", "fjsp_generator", "make_env"]
