"""Double DQN (PureJaxRL style) for any env of the DDQN contract (see `envs`).

- `make_train(config, env)(key, learning_rate)`: a whole run as one pure, jittable
  function (vmap it over seeds and learning rates); `make_ddqn` also gives the chunked
  `init(key, lr) -> state` / `run_chunk(state) -> (state, metrics)` the CLI checkpoints.
- `ENV_OPTIONS` / `make_env(config)`: the envs `jaxshop train ddqn --env` offers, made
  by `jaxshop.make`; "fjsp" is rule selection on random flexible job shops (the
  registered env `rule_selection`).
- `load_ddqn(path) -> (config, params)` and `act(params, features, mask) -> action`
  (greedy, masked): everything an evaluator needs.
- Method `ddqn` (`--method ddqn` = the shipped model `models/default`, `ddqn:DIR` a
  model or run folder, or the name of a shipped model in `models/`) solves "fjsp" and
  "jssp" instances by greedy rule selection and plays the fab (`models/fab` by
  default), where `FabPolicy.info` names the fab regime the model was trained on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jax
from jax import lax
from jaxshop_baselines.ddqn import replay
from jaxshop_baselines.ddqn.agent import (
    DDQN,
    METRIC_NAMES,
    TrainState,
    cached_ddqn,
    greedy_returns,
    make_ddqn,
    make_train,
)
from jaxshop_baselines.ddqn.config import DDQNConfig
from jaxshop_baselines.ddqn.envs import ENV_OPTIONS, make_env
from jaxshop_baselines.ddqn.network import act, double_q_learning, masked_argmax, q_values
from jaxshop_baselines.ddqn.rule_selection import DEFAULT_RULES, RuleSelection
from jaxshop_baselines.ddqn.train import load_ddqn
from jaxshop_baselines.methods import FabPolicy, Method, register_method, solutions_from_states

from jaxshop.instances.types import Instance, stack, unstack

MODELS = Path(__file__).resolve().parent / "models"  # the shipped models, by name
DEFAULT_MODEL = MODELS / "default"
FAB_MODEL = MODELS / "fab"


@functools.lru_cache(maxsize=16)
def rule_selection_solver(rules: tuple[str, ...], mode: str, steps: int):
    """`(env, jitted (params, batch) -> final states)`: greedy rule selection episodes."""
    from jaxshop.env import cached_make

    env = cached_make("rule_selection", mode=mode, rules=tuple(rules))
    policy = jax.vmap(act, in_axes=(None, 0, 0))

    def solve(params, batch):
        keys = jax.random.split(jax.random.PRNGKey(0), jax.tree_util.tree_leaves(batch)[0]
                                .shape[0])
        states, ts = jax.vmap(env.reset)(keys, batch)

        def body(carry, _):
            states, obs = carry
            states, ts = jax.vmap(env.step)(states, policy(params, obs.features,
                                                           obs.action_mask))
            return (states, ts.observation), None

        (states, _), _ = lax.scan(body, (states, ts.observation), None, length=steps)
        return states

    return env, jax.jit(solve)


@register_method(
    "ddqn",
    "Double DQN, greedy: rule selection on job shops (ddqn = shipped FJSP model) or the "
    "fab's daily rule weights (ddqn = shipped fab model); ddqn:DIR a trained run or "
    "a shipped model's name (default, fab, fab-release-7-9)",
    options=("seed", "mode"),
    arg="DIR",
    problems=("jssp", "fjsp", "fab"),
)
def ddqn_method(arg: str | None = None, mode: str = "append", seed: int = 0,
                **_: Any) -> Method:
    """One method for both uses: `solve` (job shops) and `act` (the fab) each load the
    model of their env on first use: the shipped one of that env, or DIR when given (whose
    config names the env it was trained on): a folder, else a shipped model's name."""
    given = None if arg in (None, "") else Path(arg)
    if given is not None and not given.exists() and len(given.parts) == 1 and (
            MODELS / arg / "config.json").is_file():
        given = MODELS / arg  # a shipped model by name (no such folder here)
    for shipped in ((DEFAULT_MODEL, FAB_MODEL) if given is None else ()):
        if not (shipped / "params.msgpack").is_file():
            raise ValueError(f"the shipped ddqn model {shipped} is missing")
    if given is not None and not given.exists():
        raise ValueError(f"ddqn:{arg}: no such model or run folder")
    name = "ddqn" if arg is None else f"ddqn:{arg}"
    loaded: dict[str, tuple] = {}

    def model(env: str):
        if env not in loaded:
            path = given or (DEFAULT_MODEL if env == "fjsp" else FAB_MODEL)
            config, params = load_ddqn(path)
            if config.env != env:
                raise ValueError(f"{path}: a ddqn model of env {config.env!r}, not {env!r} "
                                 f"(train one with `jaxshop train ddqn --env {env}`)")
            loaded[env] = (config, params)
        return loaded[env]

    def solve(instances: list[Instance], key: jax.Array, progress=None):
        config, params = model("fjsp")
        batch = stack(instances)
        num_jobs, num_ops, _ = unstack(batch)[0].shape
        steps = num_jobs * num_ops  # FlexibleJobShop.max_steps of the padded batch
        env, solver = rule_selection_solver(config.rules, mode, steps)
        return solutions_from_states(env, instances, solver(params, batch))

    def act_fab(observation):
        with jax.ensure_compile_time_eval():  # first call runs while tracing: load eagerly
            _, params = model("fab")
        _check_fits(params, observation, given or FAB_MODEL)
        return act(params, observation.features, observation.action_mask)

    def act_info():
        from jaxshop.fab import describe_regime

        config, params = model("fab")
        return num_params(params), describe_regime(config.fab_regime), make_env(config).params

    from jaxshop_baselines.ddqn.network import num_params

    size = num_params(load_ddqn(given or DEFAULT_MODEL)[1])  # the model `solve` uses
    return Method(name, ("jssp", "fjsp", "fab"), solve, num_params=size,
                  policy=FabPolicy(act_fab, act_info))


def _check_fits(params: dict, observation, path: Path) -> None:
    """ValueError when a fab's observation does not fit the Q-network (other WIP bins or
    weight rows than the model was trained with)."""
    layers = params["params"]
    features = int(layers["hidden_0"]["kernel"].shape[0])
    actions = int(layers["out"]["kernel"].shape[1])
    got = (int(observation.features.shape[-1]), int(observation.action_mask.shape[-1]))
    if got != (features, actions):
        raise ValueError(
            f"ddqn model {path} reads {features} features and picks one of {actions} "
            f"weight rows, but this fab has {got[0]} features and {got[1]} rows (other "
            "wip_edges or weights than the model was trained with)")


__all__ = [
    "DDQN",
    "DDQNConfig",
    "ENV_OPTIONS",
    "DEFAULT_MODEL",
    "FAB_MODEL",
    "MODELS",
    "DEFAULT_RULES",
    "METRIC_NAMES",
    "RuleSelection",
    "TrainState",
    "act",
    "cached_ddqn",
    "ddqn_method",
    "double_q_learning",
    "greedy_returns",
    "load_ddqn",
    "make_ddqn",
    "make_env",
    "make_train",
    "masked_argmax",
    "q_values",
    "replay",
    "rule_selection_solver",
]
