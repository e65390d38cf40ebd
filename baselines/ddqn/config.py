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

import dataclasses

from jaxshop_baselines.config_io import JSONConfig

from jaxshop.fab.regime import DEFAULT_REGIME, check_release, dest

LOSSES = ("huber", "squared")
SAMPLINGS = ("uniform", "recency")


@dataclasses.dataclass(frozen=True)
class DDQNConfig(JSONConfig):
    """Everything that defines a Double-DQN model and its training run.

    - Env: `env` names an entry of `jaxshop_baselines.ddqn.envs.DDQN_ENVS` (a factory of
      this config); "fab" is the Mini-Fab in the regime of the `fab_*` fields
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

    env: str = "fjsp"
    num_jobs: int = 10
    num_machines: int = 5
    mode: str = "append"
    rules: tuple[str, ...] = ("MWKR-EF", "MOR-EF", "FIFO-EF", "SPT-EF", "MWKR-SPTW",
                              "FIFO-SPTW")
    # Fab (env "fab"), its regime (`jaxshop.fab.regime`): Pa and Pb lots released per
    # day, uniform in [low, high], or the weekly plan; and the disturbances that run.
    fab_release: tuple[int, int] = (8, 12)
    fab_weekly: bool = False
    fab_setups: bool = False
    fab_maintenance: bool = False
    fab_breakdowns: bool = False
    # Q-network.
    hidden: tuple[int, ...] = (30, 30, 30)
    # Run length and parallelism.
    num_envs: int = 16
    num_iterations: int = 2000
    iterations_per_chunk: int = 100
    # Replay.
    buffer_size: int = 20_000
    batch_size: int = 64
    sampling: str = "uniform"
    recency_power: float = 0.0
    recency_decay: float = 0.0
    learning_starts: int = 50
    updates_per_iteration: int = 1
    # Double DQN.
    gamma: float = 0.99
    target_update_every: int = 200
    loss: str = "huber"
    learning_rate: float = 1e-3
    max_grad_norm: float = 10.0
    # Exploration.
    eps_start: float = 1.0
    eps_end: float = 0.05
    exploration_fraction: float = 0.5
    # Host loop.
    checkpoint_every: int = 500  # iterations; a multiple of iterations_per_chunk
    eval_size: int = 64  # fixed validation episodes, greedy, at checkpoints (0: none)

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
