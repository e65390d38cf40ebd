"""Envs the Double DQN trains on: `DDQN_ENVS`, a registry name -> `factory(config) -> env`.

The DDQN needs only this contract from an env (it never looks inside the state):

- `env.reset(key) -> (state, timestep)`, drawing the instance (or params) from the env's
  own generator; `env.step(state, action) -> (state, timestep)`; both pure, jit/vmap-able.
- `timestep.observation.features`: flat float32 vector; `timestep.observation.action_mask`:
  flat bool vector (all False on a LAST step is fine: the bootstrap value is then 0).
- `timestep.reward`, `timestep.discount` (0 at termination, 1 when truncated),
  `timestep.last()`; `env.num_actions(instance)`, `env.max_steps(instance)`.

Finished episodes are reset inside the training loop (`env.reset` with a fresh key).

To add an env (e.g. the fab), one line here or anywhere before training::

    DDQN_ENVS["fab"] = lambda config: make_fab_env(...)     # or register_ddqn_env(...)

`jaxshop train ddqn --env NAME` offers every registered name; the factory reads what
it needs from the `DDQNConfig` (`num_jobs`, `num_machines`, `mode`, `rules`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxshop_baselines.ddqn.config import DDQNConfig

EnvFactory = Callable[[DDQNConfig], Any]


def fjsp_generator(num_jobs: int, num_machines: int):
    """Brandimarte-style random FJSP: `U[0.8 M, 1.2 M]` operations per job, `U[1, M]`
    eligible machines, times `U[1, 20]` (as the pointer net and PPO train on)."""
    from jaxshop.fjsp import FJSPGenerator

    m = num_machines
    ops = (max(1, round(0.8 * m)), max(1, round(1.2 * m)))
    return FJSPGenerator(num_jobs, m, ops_per_job=ops, machines_per_op=(1, m),
                         time_range=(1, 20))


def make_fjsp_rule_env(config: DDQNConfig, reward: str = "normalized"):
    """Rule selection (`RuleSelection`) on random FJSP instances of the config's size."""
    from jaxshop_baselines.ddqn.rule_selection import RuleSelection

    from jaxshop.fjsp import FlexibleJobShop

    inner = FlexibleJobShop(generator=fjsp_generator(config.num_jobs, config.num_machines),
                            reward=reward, mode=config.mode)
    return RuleSelection(inner, rules=config.rules)


def make_fab_env(config: DDQNConfig):
    """The Mini-Fab (`jaxshop.fab.FabEnv`: 10 decision days after 5 warm-up days with d4)
    in the config's regime (`config.fab_regime`: Pa and Pb releases per day uniform in
    `fab_release`, or the weekly plan; setups, maintenance, breakdowns); the action picks
    the day's composite-rule weights."""
    from jaxshop.fab import FabEnv, regime_params

    return FabEnv(regime_params(config.fab_regime))


DDQN_ENVS: dict[str, EnvFactory] = {
    "fjsp": make_fjsp_rule_env,
    "fab": make_fab_env,
}


def register_ddqn_env(name: str, factory: EnvFactory) -> EnvFactory:
    """Registers `factory(config) -> env` under `name` for `make_env` and the CLI."""
    if not name or not isinstance(name, str):
        raise ValueError(f"an env name is needed, got {name!r}")
    DDQN_ENVS[name] = factory
    return factory


def make_env(config: DDQNConfig):
    """The env of `config.env` (ValueError naming the registered ones when unknown)."""
    try:
        factory = DDQN_ENVS[config.env]
    except KeyError:
        raise ValueError(f"unknown ddqn env {config.env!r}; registered: "
                         f"{', '.join(sorted(DDQN_ENVS))}") from None
    return factory(config)


__all__ = ["DDQN_ENVS", "EnvFactory", "fjsp_generator", "make_env", "make_fab_env",
           "make_fjsp_rule_env", "register_ddqn_env"]
