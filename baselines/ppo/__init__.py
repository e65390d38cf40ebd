"""PPO (PureJaxRL style) on any jaxshop env, through the public API and wrappers only.

`--method ppo` solves with the shipped FJSP model (`models/default`), `ppo:DIR` with a
model or training-run directory (greedy decoding). Train with `jaxshop train ppo` (the
one runner, `jaxshop_baselines.runner`, with `ppo.train.SPEC`); `make_train(config)(key)`
is one jittable function.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jax
from jaxshop_baselines.checkpoints import PARAMS_FILE, count_params
from jaxshop_baselines.methods import Method, register_method, solutions_from_states
from jaxshop_baselines.ppo.config import PPOConfig
from jaxshop_baselines.ppo.train import (
    RunnerState,
    greedy_episodes,
    init_runner,
    load_model,
    make_env,
    make_train,
    make_train_chunk,
    make_update,
    run_training,
)

import jaxshop
from jaxshop.instances.types import Instance, problem_of, stack, unstack

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default"


@functools.lru_cache(maxsize=16)
def _greedy_solver(problem: str, mode: str, steps: int):
    env = jaxshop.cached_make("pfsp") if problem == "pfsp" else jaxshop.cached_make(
            "fjsp", mode=mode)
    return env, jax.jit(lambda params, batch: greedy_episodes(params, env, batch, steps))


@register_method(
    "ppo",
    "PPO agent (greedy): ppo = the shipped model (jssp/fjsp only), ppo:DIR a trained run "
    "(the problems of its --env: pfsp, or jssp/fjsp)",
    options=("seed", "mode"),
    arg="DIR",
    problems=("pfsp", "jssp", "fjsp"),
)
def ppo_method(arg: str | None = None, mode: str = "append", seed: int = 0,
               **_: Any) -> Method:
    path = DEFAULT_MODEL if arg in (None, "") else Path(arg)
    if path == DEFAULT_MODEL and not (path / PARAMS_FILE).is_file():
        raise ValueError(f"the shipped ppo model {path} is missing")
    config, params = load_model(path)
    name = "ppo" if arg is None else f"ppo:{arg}"

    def solve(instances: list[Instance], key: jax.Array, progress=None):
        problem = problem_of(instances[0])
        batch = stack(instances)
        env = jaxshop.cached_make("pfsp") if problem == "pfsp" else jaxshop.cached_make(
            "fjsp", mode=mode)
        steps = env.max_steps(unstack(batch)[0])
        env, solver = _greedy_solver(problem, mode, steps)
        return solutions_from_states(env, instances, solver(params, batch))

    return Method(name, config.problems, solve, num_params=count_params(params))


__all__ = [
    "DEFAULT_MODEL",
    "PPOConfig",
    "RunnerState",
    "load_model",
    "greedy_episodes",
    "init_runner",
    "make_env",
    "make_train",
    "make_train_chunk",
    "make_update",
    "ppo_method",
    "run_training",
]
