"""Configuration of the pointer actor-critic: model, training distribution and optimizer.

A `PointerConfig` is a frozen (hashable) dataclass, so jitted functions are cached per
config; it round-trips through JSON (`to_json` / `from_json`) next to every saved model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax
from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.runner import (
    checkpoint_option,
    chunk_option,
    lr_option,
    option,
    steps_option,
)

from jaxshop.fjsp.features import DYNAMIC_FEATURES, STATIC_FEATURES
from jaxshop.fjsp.generator import song_ops_range
from jaxshop.options import float_in, int_in

__all__ = ["PointerConfig", "fast_compile", "pointer_jit", "song_ops_range"]

FAST_COMPILE_ENV = "JAXSHOP_POINTER_FAST_COMPILE"
VARIANTS = ("sd", "s")  # AC-SD: static + dynamic pair features; AC-S: static only
MAX_JOBS, MAX_MACHINES, MAX_BATCH, MAX_DIM = 1000, 200, 65536, 4096  # option ranges


@dataclasses.dataclass(frozen=True)
class PointerConfig(JSONConfig):
    """Everything that defines a pointer model and its training run.

    Instances: Brandimarte-style random FJSP of `num_jobs x num_machines` (operations per
    job `ops_per_job`, default `U[0.8 M, 1.2 M]`; eligible machines `U[1, M]`; times
    `U[time_range]`), or, when `mixture` is non-empty, an even split of every batch over
    the listed `(jobs, machines)` sizes padded to one shape.
    """

    variant: str = option("sd", "--variant",
                          "sd: static + dynamic features (default), s: static only",
                          choices=VARIANTS, shown="")
    num_jobs: int = option(10, "--jobs", f"jobs, 1..{MAX_JOBS}", type=int_in(1, MAX_JOBS))
    num_machines: int = option(5, "--machines", f"machines, 1..{MAX_MACHINES}",
                               type=int_in(1, MAX_MACHINES))
    ops_per_job: tuple[int, int] | None = None
    time_range: tuple[int, int] = (1, 20)
    mixture: tuple[tuple[int, int], ...] = ()
    mode: str = option("append", "--mode", "schedule construction",
                       choices=("append", "insert"))
    # Model.
    embed_dim: int = option(64, "--dim", f"embedding size, 1..{MAX_DIM}",
                            type=int_in(1, MAX_DIM))
    glimpse: bool = True
    tanh_clip: float = 10.0
    # Training.
    batch_size: int = option(128, "--batch", f"instances per update, 1..{MAX_BATCH}",
                             type=int_in(1, MAX_BATCH))
    # Episodes per gradient pass: a larger batch is decoded and differentiated in equal
    # chunks of at most this many episodes and the gradients averaged (the same update up
    # to float summation order), so each step's activations stay in cache. 0: one pass.
    grad_chunk: int = 128
    num_updates: int = steps_option(1000)
    learning_rate: float = lr_option(1e-3, "Adam learning rate in (0, 1]")
    max_grad_norm: float = 1.0
    entropy_coef: float = option(0.0, "--entropy", "entropy bonus in [0, 10]",
                                 type=float_in(0.0, 10.0), shown="0")
    critic_coef: float = 1.0
    updates_per_chunk: int = chunk_option(10)
    checkpoint_every: int = checkpoint_option(
        100, "updates between checkpoints, a multiple of --chunk")
    eval_size: int = 128  # fixed validation instances evaluated at checkpoints (0: none)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.mode not in ("append", "insert"):
            raise ValueError(f"mode must be 'append' or 'insert', got {self.mode!r}")
        for name in ("embed_dim", "batch_size", "num_updates", "updates_per_chunk",
                     "checkpoint_every", "num_jobs", "num_machines"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.grad_chunk) < 0:
            raise ValueError(f"grad_chunk must be >= 0, got {self.grad_chunk}")
        if self.checkpoint_every % self.updates_per_chunk:
            raise ValueError(
                f"checkpoint_every ({self.checkpoint_every}) must be a multiple of "
                f"updates_per_chunk ({self.updates_per_chunk})"
            )
        # Normalize JSON lists to tuples so configs stay hashable.
        object.__setattr__(self, "time_range", tuple(int(x) for x in self.time_range))
        if self.ops_per_job is not None:
            object.__setattr__(self, "ops_per_job", tuple(int(x) for x in self.ops_per_job))
        object.__setattr__(
            self, "mixture", tuple((int(j), int(m)) for j, m in self.mixture)
        )

    @property
    def num_features(self) -> int:
        """Pair features the model reads (static only for AC-S)."""
        n = len(STATIC_FEATURES)
        return n if self.variant == "s" else n + len(DYNAMIC_FEATURES)

    @property
    def sizes(self) -> tuple[tuple[int, int], ...]:
        """The `(jobs, machines)` sizes of the training distribution."""
        return self.mixture or ((self.num_jobs, self.num_machines),)

    def ops_range(self, num_machines: int) -> tuple[int, int]:
        if self.ops_per_job is not None and not self.mixture:
            return self.ops_per_job
        return song_ops_range(num_machines)


def fast_compile() -> bool:
    """True when `$JAXSHOP_POINTER_FAST_COMPILE=1`: compile with XLA optimization level 0.

    Compiling the training step takes about a minute on a busy 2-core CPU at the default
    level and a quarter of that at level 0 (which runs slower); the tests use level 0.
    """
    return os.environ.get(FAST_COMPILE_ENV, "") == "1"


def pointer_jit(fun: Callable, fast: bool | None = None, **kwargs: Any) -> Callable:
    """`jax.jit` with XLA optimization level 0 when `fast` (default: `fast_compile()`)."""
    fast = fast_compile() if fast is None else fast
    options = {"xla_backend_optimization_level": 0} if fast else None
    return jax.jit(fun, compiler_options=options, **kwargs)
