"""PPO configuration: env and instance distribution, network, PPO hyper-parameters.

A frozen (hashable) dataclass, so compiled functions are cached per config; it
round-trips through JSON next to every saved model.
"""

from __future__ import annotations

import dataclasses

from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.runner import (
    checkpoint_option,
    chunk_option,
    lr_option,
    option,
)

from jaxshop.options import float_in, int_in, positive_int

ENVS = ("pfsp", "jssp", "fjsp")


@dataclasses.dataclass(frozen=True)
class PPOConfig(JSONConfig):
    """Everything that defines a PPO model and its training run.

    Training instances come from the env's generator for `num_jobs x num_machines`:
    uniform PFSP times `U[1, 99]`, job shops with times `U[1, 99]`, or Brandimarte-style
    FJSP (`U[0.8 M, 1.2 M]` operations per job, `U[1, M]` eligible machines, times
    `U[1, 20]`, as the pointer net trains on). Rewards are the env's "normalized" mode, so
    an episode returns `-makespan / lower bound`.
    """

    env: str = option("fjsp", "--env", "env", choices=ENVS)
    num_jobs: int = option(10, "--jobs", "jobs", type=int_in(1, 1000))
    num_machines: int = option(5, "--machines", "machines", type=int_in(1, 200))
    mode: str = option("append", "--mode", "job-shop schedule construction",
                       choices=("append", "insert"))
    # Network.
    hidden: int = option(64, "--hidden", "hidden units", type=int_in(1, 4096))
    # PPO (PureJaxRL names).
    num_envs: int = option(64, "--envs", "parallel envs", type=int_in(1, 65536))
    num_steps: int = option(32, "--rollout", "steps per env per update",
                            type=int_in(1, 100_000))
    num_updates: int = option(300, "--updates", "PPO updates", type=positive_int,
                              aliases=("--steps",))
    update_epochs: int = option(4, "--epochs", "epochs per update", type=int_in(1, 1000))
    num_minibatches: int = option(4, "--minibatches", "minibatches per epoch",
                                  type=int_in(1, 65536))
    learning_rate: float = lr_option(1e-3)
    anneal_lr: bool = True
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = option(0.01, "--entropy", "entropy bonus", type=float_in(0.0, 10.0))
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    # Host loop.
    updates_per_chunk: int = chunk_option(10)
    checkpoint_every: int = checkpoint_option(50)
    # fixed validation instances, greedy, at checkpoints (0: none)
    eval_size: int = option(64, "--eval-size", "validation instances (default {default}; "
                            "0: none)", type=int_in(0, 65536))

    def __post_init__(self) -> None:
        if self.env not in ENVS:
            raise ValueError(f"env must be one of {ENVS}, got {self.env!r}")
        if self.mode not in ("append", "insert"):
            raise ValueError(f"mode must be 'append' or 'insert', got {self.mode!r}")
        for name in ("num_jobs", "num_machines", "hidden", "num_envs", "num_steps",
                     "num_updates", "update_epochs", "num_minibatches", "updates_per_chunk",
                     "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError("num_envs * num_steps must be a multiple of num_minibatches")
        if self.checkpoint_every % self.updates_per_chunk:
            raise ValueError("checkpoint_every must be a multiple of updates_per_chunk")

    @property
    def problems(self) -> tuple[str, ...]:
        """Problems a model of this config solves (job-shop models read shape-free features)."""
        return ("pfsp",) if self.env == "pfsp" else ("jssp", "fjsp")
