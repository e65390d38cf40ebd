"""Teacher -> student knowledge distillation for FJSP/JSSP dispatching.

- `jaxshop distill --teacher pointer[:DIR]|ddqn[:DIR] --student small-pointer|mlp
  [--alpha A --tau T --regime teacher|student|mix]` trains a student (`train.main`).
- A small-pointer student's folder is a pointer model: `--method pointer:DIR` solves with
  it. An MLP student solves as `--method mlp:DIR` (greedy). `--method student` is the
  shipped default student (`models/student`), `student:DIR` any student folder.
- The loss is `loss.distill_loss` (one decision; the trainer vmaps it), the policies the
  `policies` protocol, the whole run `train.make_train(config)(key, alpha, tau, share)`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jax
from jaxshop_baselines.checkpoints import (
    PARAMS_FILE,
    check_model_kind,
    model_kind,
    params_digest,
)
from jaxshop_baselines.distill.config import DistillConfig
from jaxshop_baselines.distill.loss import distill_loss, q_pair_logits
from jaxshop_baselines.distill.policies import (
    MLPConfig,
    MLPPolicy,
    PointerPolicy,
    QRulePolicy,
    mlp_init,
    policy_num_params,
)
from jaxshop_baselines.distill.train import greedy_batch, load_teacher, make_train, run_distill
from jaxshop_baselines.methods import Method, register_method, solutions_from_states

import jaxshop
from jaxshop.instances.types import Instance, stack

STUDENT_MODEL = Path(__file__).resolve().parent / "models" / "student"


def load_mlp(path: str | Path) -> tuple[MLPConfig, dict]:
    """`(config, params)` of an MLP student folder (ValueError naming what is wrong)."""
    from jaxshop_baselines import checkpoints as shared

    def template(config):
        return jax.eval_shape(lambda k: mlp_init(config, k), shared.abstract_key())

    def from_checkpoint(run_dir, config):
        raise ValueError(f"{run_dir}: an unfinished distillation run has no student model yet")

    return shared.load_model(path, MLPConfig, template, from_checkpoint, "mlp",
                             accepts=("mlp",))


@functools.lru_cache(maxsize=8)
def mlp_solver(config: MLPConfig, mode: str):
    """`(env, solve(params, batch) -> final states)`: jitted greedy decoding, cached."""
    env = jaxshop.cached_make("fjsp", mode=mode)
    return env, jax.jit(lambda params, batch: greedy_batch(MLPPolicy(config), params, batch,
                                                           mode))


def _mlp_method(path: Path, name: str, mode: str) -> Method:
    config, params = load_mlp(path)
    env, solver = mlp_solver(config, mode)

    def solve(instances: list[Instance], key: jax.Array, progress=None):
        return solutions_from_states(env, instances, solver(params, stack(instances)))

    version = f"jaxshop {jaxshop.__version__}, mlp student {path} ({params_digest(params)})"
    return Method(name, ("jssp", "fjsp"), solve, version=version,
                  num_params=policy_num_params(params))


@register_method(
    "mlp",
    "MLP student (greedy): mlp:DIR a model of `jaxshop distill --student mlp`",
    options=("seed", "mode"), arg="DIR", arg_required=True, problems=("jssp", "fjsp"),
)
def mlp_method(arg: str | None = None, mode: str = "append", **_: Any) -> Method:
    return _mlp_method(Path(arg), f"mlp:{arg}", mode)


def student_kind(path: str | Path) -> str:
    """`small-pointer` or `mlp`: what kind of student the folder holds; a one-line
    ValueError when it is missing, holds no model or another agent's (which, it says)."""
    check_model_kind(path, "student", accepts=("student", "mlp"))
    return "mlp" if model_kind(path) == "mlp" else "small-pointer"


@register_method(
    "student",
    "distilled student (greedy): student = the shipped default, student:DIR a model of "
    "`jaxshop distill`",
    options=("seed", "mode"), arg="DIR", problems=("jssp", "fjsp"),
)
def student_method(arg: str | None = None, mode: str = "append", seed: int = 0,
                   **_: Any) -> Method:
    path = STUDENT_MODEL if arg in (None, "") else Path(arg)
    if arg in (None, "") and not (path / PARAMS_FILE).is_file():
        raise ValueError(f"the shipped student model {path} is missing")
    name = "student" if arg in (None, "") else f"student:{arg}"
    if student_kind(path) == "mlp":
        return _mlp_method(path, name, mode)
    from jaxshop_baselines.pointer import pointer_method

    method = pointer_method(str(path), mode=mode, seed=seed)
    method.name = name
    return method


__all__ = [
    "STUDENT_MODEL",
    "DistillConfig",
    "MLPConfig",
    "MLPPolicy",
    "PointerPolicy",
    "QRulePolicy",
    "distill_loss",
    "load_mlp",
    "load_teacher",
    "make_train",
    "mlp_method",
    "mlp_solver",
    "q_pair_logits",
    "run_distill",
    "student_method",
]
