"""Double-DQN configuration: env, Q-network, replay, exploration and optimizer settings.

A frozen (hashable) dataclass, so compiled functions are cached per config; it
round-trips through JSON next to every saved model (`JSONConfig`). Every value is checked
in `__post_init__`, so a bad one is a `ValueError` before anything is compiled.

Units: an *iteration* steps each of the `num_envs` parallel envs once (adding `num_envs`
transitions to the replay buffer) and then, once `learning_starts` iterations are done,
makes `updates_per_iteration` gradient steps on minibatches of `batch_size` transitions.
`num_iterations` is the length of a run, `iterations_per_chunk` that of one jitted call
(one metrics row, the checkpoint granularity).
"""

from __future__ import annotations

import argparse
import dataclasses

from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.runner import (
    checkpoint_option,
    chunk_option,
    lr_option,
    option,
    steps_option,
)

from jaxshop.fab.regime import DEFAULT_REGIME, check_release, dest
from jaxshop.options import float_in, int_in, positive_int

LOSSES = ("huber", "squared")
SAMPLINGS = ("uniform", "recency")


def _env_names() -> tuple[str, ...]:
    """The registered DDQN envs (`--env` choices; tests register more)."""
    from jaxshop_baselines.ddqn.envs import ENV_OPTIONS

    return tuple(sorted(ENV_OPTIONS))


def _int_list(text: str) -> tuple[int, ...]:
    parse = int_in(1, 4096, "a layer width")
    return tuple(parse(t) for t in text.split(","))


def _rule_list(text: str) -> tuple[str, ...]:
    from jaxshop_baselines.rules import canonical_rule

    try:
        return tuple(canonical_rule(t) for t in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


@dataclasses.dataclass(frozen=True)
class DDQNConfig(JSONConfig):
    """Everything that defines a Double-DQN model and its training run.

    - Env: `env` names an entry of `jaxshop_baselines.ddqn.envs.ENV_OPTIONS` (how this
      config makes a registered env); "fab" is the Mini-Fab in the regime of the `fab_*` fields
      (`jaxshop.fab.regime`: `fab_release` lots of Pa and Pb per day, or the
      `fab_weekly` plan; `fab_setups`, `fab_maintenance`, `fab_breakdowns`);
      "fjsp" is rule selection on random Brandimarte-style flexible job
      shops of `num_jobs x num_machines` (`rules`, `mode`, normalized rewards, so an
      episode returns `-makespan / lower bound`).
    - Q-network: an MLP with ReLU hidden layers `hidden` over the observation's flat
      `features`, one output per action.
    - Double DQN: target `r + gamma * discount * Q_target(s', argmax_a Q_online(s', a))`
      over valid actions, the target network copied every `target_update_every`
      gradient steps; `loss` "huber" (delta 1) or "squared" (half squared TD error);
      Adam with `learning_rate` after clipping gradients to global norm `max_grad_norm`.
    - Replay: a ring buffer of `buffer_size` transitions (FIFO), sampled "uniform" or
      "recency" (see `replay.sample`: weight `(1 - age/size)^recency_power *
      exp(-recency_decay * age/size)`; both 0 is uniform).
    - Exploration: epsilon-greedy, epsilon linear from `eps_start` to `eps_end` over the
      first `exploration_fraction` of the iterations, then constant.
    """

    env: str = option("fjsp", "--env", "env", choices=lambda: _env_names())
    num_jobs: int = option(10, "--jobs", "jobs of the random FJSP instances",
                           type=int_in(1, 1000))
    num_machines: int = option(5, "--machines", "machines of the random FJSP instances",
                               type=int_in(1, 200))
    mode: str = option("append", "--mode", "job-shop schedule construction, append or insert",
                       choices=("append", "insert"))
    rules: tuple[str, ...] = option(
        ("MWKR-EF", "MOR-EF", "FIFO-EF", "SPT-EF", "MWKR-SPTW", "FIFO-SPTW"), "--rules",
        "comma-separated JOB-MACHINE rules the agent chooses from", type=_rule_list)
    # Fab (env "fab"), its regime (`jaxshop.fab.regime`: the --fab-... options): Pa and
    # Pb lots released per day, uniform in [low, high], or the weekly plan; and the
    # disturbances that run.
    fab_release: tuple[int, int] = (8, 12)
    fab_weekly: bool = False
    fab_setups: bool = False
    fab_maintenance: bool = False
    fab_breakdowns: bool = False
    # Q-network.
    hidden: tuple[int, ...] = option((30, 30, 30), "--hidden",
                                     "comma-separated hidden layer widths", type=_int_list)
    # Run length and parallelism.
    num_envs: int = option(16, "--envs", "parallel envs", type=int_in(1, 65536))
    num_iterations: int = steps_option(2000, "iterations (each steps every env once)")
    iterations_per_chunk: int = chunk_option(100, "iterations per jitted call", high=100_000)
    # Replay.
    buffer_size: int = option(20_000, "--buffer", "replay buffer capacity (transitions)",
                              type=int_in(1, 10_000_000))
    batch_size: int = option(64, "--batch", "minibatch size", type=int_in(1, 65536))
    sampling: str = option("uniform", "--sampling", "replay sampling, uniform or recency",
                           choices=SAMPLINGS)
    recency_power: float = option(0.0, "--recency-power", "recency weight power",
                                  type=float_in(0.0, 1e3))
    recency_decay: float = option(0.0, "--recency-decay", "recency weight decay",
                                  type=float_in(0.0, 1e3))
    learning_starts: int = option(50, "--learning-starts",
                                  "iterations before the first gradient step",
                                  type=int_in(0, 2**31 - 1))
    updates_per_iteration: int = option(1, "--updates", "gradient steps per iteration",
                                        type=int_in(1, 1000))
    # Double DQN.
    gamma: float = option(0.99, "--gamma", "discount factor in [0, 1]",
                          type=float_in(0.0, 1.0))
    target_update_every: int = option(200, "--target-every",
                                      "gradient steps between target-network copies",
                                      type=positive_int)
    loss: str = option("huber", "--loss", "huber or squared", choices=LOSSES)
    learning_rate: float = lr_option(1e-3)
    max_grad_norm: float = 10.0
    # Exploration.
    eps_start: float = option(1.0, "--eps-start", "initial epsilon", type=float_in(0.0, 1.0))
    eps_end: float = option(0.05, "--eps-end", "final epsilon", type=float_in(0.0, 1.0))
    exploration_fraction: float = option(0.5, "--exploration",
                                         "fraction of the run over which epsilon decays",
                                         type=float_in(0.0, 1.0))
    # Host loop.
    checkpoint_every: int = checkpoint_option(  # a multiple of the chunk
        500, "iterations between checkpoints")
    eval_size: int = option(64, "--eval-size",  # fixed greedy episodes at checkpoints
                            "greedy validation episodes (0: none)", type=int_in(0, 65536))

    def __post_init__(self) -> None:
        for name in ("rules", "hidden", "fab_release"):  # JSON lists: keep it hashable
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not isinstance(self.env, str) or not self.env:
            raise ValueError(f"env must be a non-empty name, got {self.env!r}")
        if self.mode not in ("append", "insert"):
            raise ValueError(f"mode must be 'append' or 'insert', got {self.mode!r}")
        if not self.rules:
            raise ValueError("rules must name at least one dispatching rule")
        object.__setattr__(self, "fab_release", check_release(self.fab_release))
        for name in ("fab_weekly", "fab_setups", "fab_maintenance", "fab_breakdowns"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden}")
        for name in ("num_jobs", "num_machines", "num_envs", "num_iterations",
                     "iterations_per_chunk", "buffer_size", "batch_size",
                     "updates_per_iteration", "target_update_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("learning_starts", "eval_size"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.buffer_size < self.num_envs:
            raise ValueError(f"buffer_size {self.buffer_size} must hold one iteration's "
                             f"num_envs = {self.num_envs} transitions")
        if not self.learning_rate > 0 or self.learning_rate > 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        for name in ("eps_start", "eps_end", "exploration_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("recency_power", "recency_decay"):
            if not 0.0 <= getattr(self, name) <= 1e3:
                raise ValueError(f"{name} must be in [0, 1000], got {getattr(self, name)}")
        if not 0.0 < self.max_grad_norm < float("inf"):
            raise ValueError(f"max_grad_norm must be > 0 and finite, got {self.max_grad_norm}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if self.num_iterations % self.iterations_per_chunk:
            raise ValueError(f"num_iterations {self.num_iterations} must be a multiple of "
                             f"iterations_per_chunk {self.iterations_per_chunk}")
        if self.checkpoint_every % self.iterations_per_chunk:
            raise ValueError(f"checkpoint_every {self.checkpoint_every} must be a multiple of "
                             f"iterations_per_chunk {self.iterations_per_chunk}")

    @property
    def num_chunks(self) -> int:
        return self.num_iterations // self.iterations_per_chunk

    @property
    def fab_regime(self) -> dict:
        """The fab regime of the `fab_*` fields (`jaxshop.fab.regime`)."""
        return {key: getattr(self, dest(key)) for key in DEFAULT_REGIME}

    @property
    def problems(self) -> tuple[str, ...]:
        """Problems a model of this config solves (rule selection reads shape-free features)."""
        return ("jssp", "fjsp") if self.env == "fjsp" else ()
