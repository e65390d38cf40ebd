"""Kernel Q-regressor for swap improvement of flow-shop schedules (`kernel-q[:DIR]`).

`kernel-q` uses the shipped models: for each batch the one trained nearest the instances'
job count (`models/default`: 50x20, `models/100x20`, `models/200x20`; see
`shipped_model_for`). `kernel-q:DIR` uses a model or run directory written by
`jaxshop train kernel-q`. Options: `iterations` (search moves per
instance, default 200) or `time_limit` (seconds for the whole batch), `seed`.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import jax
from jaxshop_baselines.checkpoints import count_params
from jaxshop_baselines.kernel_q.kernel import (
    exact_kernel,
    feature_map,
    poly_features,
    rff_features,
    ridge_fit,
)
from jaxshop_baselines.kernel_q.search import (
    search_chunked,
    search_init_batch,
    search_run_batch,
    search_timed,
    swap_descent_batch,
)
from jaxshop_baselines.kernel_q.train import (
    CONFIG_FILE,
    KernelQConfig,
    load_model,
    make_sampler,
    make_train,
    q_values,
    run_training,
    save_model,
    value_iteration,
)
from jaxshop_baselines.limits import estimate_kernel_q
from jaxshop_baselines.methods import Method, register_method
from jaxshop_baselines.neh import permutation_solutions

from jaxshop.instances.types import PFSPInstance, stack

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default"
DEFAULT_MOVES = 200
MAX_MOVES = 2**31 - 1


SHIPPED_MODELS = tuple(DEFAULT_MODEL.parent / name for name in ("default", "100x20", "200x20"))


def _model_version(*paths: Path) -> str:
    digests = [hashlib.sha256((p / "model.npz").read_bytes()).hexdigest()[:12] for p in paths]
    return "kernel-q sha256:" + "+".join(digests)


def shipped_model_for(num_jobs: int) -> Path:
    """The shipped model trained on the job count nearest `num_jobs` (ties: the smaller)."""
    sizes = [(KernelQConfig.from_json(p / CONFIG_FILE).jobs, p) for p in SHIPPED_MODELS]
    return min(sizes, key=lambda s: (abs(s[0] - num_jobs), s[0]))[1]


@register_method(
    "kernel-q",
    "tabu swap search guided by a kernel Q-regressor learned by value iteration (PFSP); "
    "kernel-q = the shipped model trained nearest the instance size, kernel-q:DIR a "
    "trained run",
    options=("seed", "iterations", "time_limit"),
    arg="DIR",
    problems=("pfsp",),
    estimate=estimate_kernel_q,
)
def kernel_q_method(arg: str | None = None, iterations: int | None = None,
                    time_limit: float | None = None, seed: int = 0, **_: Any) -> Method:
    if iterations is not None and time_limit is not None:
        raise ValueError("kernel-q: give iterations or time_limit, not both")
    if iterations is not None and not 0 <= iterations <= MAX_MOVES:
        raise ValueError(f"kernel-q: iterations must be in 0..{MAX_MOVES}, got {iterations}")
    if time_limit is not None and not (0 < time_limit < math.inf):
        raise ValueError(f"kernel-q: time_limit must be a finite number of seconds > 0, "
                         f"got {time_limit}")
    paths = SHIPPED_MODELS if arg is None else (Path(arg),)
    models = {path: load_model(path) for path in paths}
    name = "kernel-q" if arg is None else f"kernel-q:{arg}"

    def solve(instances: list[PFSPInstance], key: jax.Array, progress=None):
        jobs = max(int(i.job_mask.sum()) for i in instances)
        config, params = models[shipped_model_for(jobs) if arg is None else paths[0]]
        batch = stack(instances)
        keys = jax.random.split(key, len(instances))
        if time_limit is not None:
            state, _ = search_timed(batch, params, config.lam, keys, time_limit,
                                    candidates=config.candidates, progress=progress)
        else:  # in chunks of moves, the same answer as one call of all of them
            moves = DEFAULT_MOVES if iterations is None else iterations
            state = search_chunked(batch, params, config.lam, keys, moves,
                                   candidates=config.candidates, progress=progress)
        return permutation_solutions(instances, state.best_perm)

    return Method(name, ("pfsp",), solve, version=_model_version(*paths),
                  num_params=max(count_params(params) for _, params in models.values()))


__all__ = [
    "DEFAULT_MODEL",
    "KernelQConfig",
    "exact_kernel",
    "feature_map",
    "kernel_q_method",
    "shipped_model_for",
    "load_model",
    "make_sampler",
    "make_train",
    "poly_features",
    "q_values",
    "rff_features",
    "ridge_fit",
    "run_training",
    "save_model",
    "search_chunked",
    "search_init_batch",
    "search_run_batch",
    "search_timed",
    "swap_descent_batch",
    "value_iteration",
]
