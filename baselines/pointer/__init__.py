"""Pointer-network actor-critic for (flexible) job-shop dispatching.

`--method pointer` uses the shipped AC-SD model (`models/ac-sd`), `pointer:DIR` a model
or training-run directory; `sample=N` keeps the best of N candidates, the greedy
schedule and N - 1 samples at `temperature` (default 1), so it is never worse than greedy
(greedy alone otherwise). Train with `jaxshop train pointer`
(`jaxshop_baselines.pointer.train.main`).
"""

from __future__ import annotations

from typing import Any

import jax
from jaxshop_baselines.limits import estimate_pointer
from jaxshop_baselines.methods import Method, register_method, solutions_from_states
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.pointer.inference import (
    DEFAULT_MODELS,
    MAX_SAMPLES,
    PointerAgent,
    check_temperature,
    greedy_decode,
    greedy_makespans,
    sample_decode,
    solve_batch,
)
from jaxshop_baselines.pointer.model import num_params
from jaxshop_baselines.pointer.train import (
    RunnerState,
    init_runner,
    load_model,
    make_sampler,
    make_train,
    make_train_chunk,
    make_update,
    run_training,
)

from jaxshop.instances.types import Instance, stack


@register_method(
    "pointer",
    "pointer actor-critic (FJSP/JSSP): pointer = shipped AC-SD model, pointer:DIR a trained "
    "run; sample=N keeps the best of greedy + N-1 samples (at temperature=T)",
    options=("seed", "sample", "mode", "temperature"),
    arg="DIR",
    problems=("jssp", "fjsp"),
    estimate=estimate_pointer,
)
def pointer_method(arg: str | None = None, sample: int = 0, mode: str = "append",
                   seed: int = 0, temperature: float | None = None, **_: Any) -> Method:
    """The `pointer[:DIR]` method (`DIR` may also be `sd` or `s` for a shipped model)."""
    if not 0 <= int(sample) <= MAX_SAMPLES:
        raise ValueError(f"pointer: sample must be in 0..{MAX_SAMPLES} (0 = greedy), got {sample}")
    if temperature is not None and int(sample) < 2:
        raise ValueError("pointer: temperature applies to sampling only (sample >= 2)")
    temperature = 1.0 if temperature is None else check_temperature(temperature)
    if arg in (None, "", "sd", "s"):
        agent = PointerAgent.load(None, variant=arg or "sd")
    else:
        agent = PointerAgent.load(arg)
    name = "pointer" if arg is None else f"pointer:{arg}"

    def solve(instances: list[Instance], key: jax.Array, progress=None):
        batch = stack(instances)
        states, env = solve_batch(agent, batch, key, sample=sample, mode=mode,
                                  temperature=temperature, progress=progress)
        return solutions_from_states(env, instances, states)

    return Method(name, ("jssp", "fjsp"), solve, version=agent.version,
                  num_params=num_params(agent.params["actor"]),
                  batch_makespans=None if sample else greedy_makespans(agent, mode))


__all__ = [
    "DEFAULT_MODELS",
    "PointerAgent",
    "PointerConfig",
    "RunnerState",
    "greedy_decode",
    "init_runner",
    "load_model",
    "make_sampler",
    "make_train",
    "make_train_chunk",
    "make_update",
    "pointer_method",
    "run_training",
    "sample_decode",
    "solve_batch",
]
