"""Configuration of a distillation run (teacher, student, loss, data regime, budget).

A frozen, hashable dataclass (jitted functions are cached per config) that round-trips
through JSON next to every run. `alpha`, `tau` and the data regime are also arguments of
the jitted `train`, so an ablation over them compiles once and `vmap`s.
"""

from __future__ import annotations

import dataclasses

from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.runner import (
    checkpoint_option,
    chunk_option,
    lr_option,
    option,
    steps_option,
)

from jaxshop.options import float_in, int_in

#: teacher kinds: `pointer[:DIR]` and `ddqn[:DIR]` (policies that label any state), and
#: `cpsat:SECONDS` (a solver: the student imitates its schedules of a solved set)
TEACHERS = ("pointer", "ddqn", "cpsat")
STUDENTS = ("small-pointer", "mlp")
#: distill: the distillation loss alone; reinforce: the student trained from scratch by RL
#: (no teacher); kickstart: the student's REINFORCE loss plus the distillation loss with a
#: weight that falls linearly from 1 to 0 over `anneal_updates` (Schmitt et al. 2018), so
#: the teacher speeds up the start and RL may take the student past it.
OBJECTIVES = ("distill", "reinforce", "kickstart")
#: Share of the episodes of a batch the teacher drives (acts greedily); the student drives
#: the rest by sampling its own policy, and the teacher labels every visited state.
REGIMES = {"teacher": 1.0, "student": 0.0, "mix": 0.5}


@dataclasses.dataclass(frozen=True)
class DistillConfig(JSONConfig):
    """A distillation (or from-scratch) run of a student on random FJSP instances.

    Instances: as the pointer net trains (`num_jobs x num_machines`, operations per job
    `U[0.8 M, 1.2 M]`, times `U[time_range]`), or an even split over `mixture` sizes.
    """

    teacher: str = option("pointer", "--teacher", "pointer (shipped AC-SD, default), "
                          "pointer:DIR, ddqn (shipped FJSP Q-network), ddqn:DIR, or "
                          "cpsat:SECONDS (CP-SAT's schedules of --dataset-size random "
                          "instances, SECONDS each: behaviour cloning, extra .[cpsat])",
                          metavar="KIND[:ARG]", shown="")
    # cpsat teacher: the solved set (an .npz; built there, or finished, when incomplete)
    dataset: str = option("", "--dataset", "cpsat teacher: the solved set's file (made, or "
                          "finished, there when incomplete; default: a cache file named by "
                          "its settings)", metavar="FILE", shown="")
    dataset_size: int = option(512, "--dataset-size", "cpsat teacher: instances solved",
                               type=int_in(1, 10**6), metavar="N")
    solver_workers: int = option(0, "--solver-workers", "cpsat teacher: CP-SAT workers in "
                                 "all (default 0: the CPU count)", type=int_in(0, 1024),
                                 metavar="N", shown="")
    student: str = option("small-pointer", "--student", "small-pointer (pointer net of "
                          "--dim, default) or mlp (per-pair MLP scorer, two hidden layers "
                          "of --dim)", choices=STUDENTS, shown="")
    student_dim: int = option(16, "--dim", "student width, 1..1024", type=int_in(1, 1024))
    objective: str = option("distill", "--objective", "distill (default), reinforce (the "
                            "student from scratch, no teacher) or kickstart (REINFORCE + "
                            "the distillation loss, its weight falling from 1 to 0 over "
                            "--anneal updates)", choices=OBJECTIVES, shown="")
    alpha: float = option(1.0, "--alpha", "weight of the KL term, 0..100",
                          type=float_in(0.0, 100.0))
    tau: float = option(2.0, "--tau", "softmax temperature of the KL term, 0.01..100",
                        type=float_in(0.01, 100.0))
    regime: str = option("mix", "--regime", "who drives the episodes: teacher, student "
                         "(DAgger-style) or mix (half each; default {default})",
                         choices=tuple(REGIMES))
    # kickstart: updates to reach distillation weight 0; 0 = the run
    anneal_updates: int = option(0, "--anneal", "kickstart: updates over which the "
                                 "distillation weight falls to 0 (default 0 = all of "
                                 "--steps)", type=int_in(0, 10**9), metavar="UPDATES",
                                 shown="")
    # Teacher with search: > 0 = a teacher-driven episode replays the best (lowest makespan)
    # of the teacher's greedy rollout and this many rollouts sampled from its policy, and
    # the CE target is that rollout's action (the teacher's argmax when 0). The search runs
    # for every instance of the batch (K + 1 teacher rollouts each): use regime `teacher`.
    teacher_samples: int = option(0, "--teacher-samples", "teacher with search: "
                                  "teacher-driven episodes replay the best of the teacher's "
                                  "greedy rollout and K sampled ones, whose actions are the "
                                  "CE targets (default 0: the teacher's argmax)",
                                  type=int_in(0, 1024), metavar="K", shown="")
    # Instances.
    num_jobs: int = option(10, "--jobs", "jobs of the training instances",
                           type=int_in(1, 1000))
    num_machines: int = option(5, "--machines", "machines of the training instances",
                               type=int_in(1, 200))
    time_range: tuple[int, int] = (1, 20)
    mixture: tuple[tuple[int, int], ...] = ()
    mode: str = "append"
    # Optimization.
    batch_size: int = option(64, "--batch", "instances per update", type=int_in(1, 65536))
    num_updates: int = steps_option(500)
    learning_rate: float = lr_option(2e-3)
    max_grad_norm: float = 1.0
    updates_per_chunk: int = chunk_option(10)
    checkpoint_every: int = checkpoint_option(50)
    eval_size: int = 128
    # Wall-time budget: training (compile excluded) plus, for a cpsat teacher, the solve
    # time of its solved set; the run ends after the chunk that reaches it (0: --steps)
    time_budget: float = option(0.0, "--time-budget", "seconds of training, plus a cpsat "
                                "teacher's solve time, after which the run ends (at that "
                                "chunk; default 0: --steps only)",
                                type=float_in(0.0, 10**7), metavar="SECONDS", shown="")

    def __post_init__(self) -> None:
        kind = self.teacher.partition(":")[0]
        checks = (
            (kind in TEACHERS, f"teacher must be one of {TEACHERS} (or KIND:DIR), got "
                               f"{self.teacher!r}"),
            (self.student in STUDENTS, f"student must be one of {STUDENTS}, got "
                                       f"{self.student!r}"),
            (self.objective in OBJECTIVES, f"objective must be one of {OBJECTIVES}, got "
                                           f"{self.objective!r}"),
            (self.regime in REGIMES, f"regime must be one of {tuple(REGIMES)}, got "
                                     f"{self.regime!r}"),
            (self.mode in ("append", "insert"), f"mode must be append or insert, got "
                                                f"{self.mode!r}"),
            (self.alpha >= 0, f"alpha must be >= 0, got {self.alpha}"),
            (self.tau > 0, f"tau must be > 0, got {self.tau}"),
            (int(self.anneal_updates) >= 0, f"anneal_updates must be >= 0, got "
                                            f"{self.anneal_updates}"),
            (0 <= int(self.teacher_samples) <= 1024, f"teacher_samples must be in "
                                                      f"0..1024, got {self.teacher_samples}"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if kind == "cpsat":
            from jaxshop_baselines.distill.dataset import parse_seconds

            parse_seconds(self.teacher)
            for ok, message in (
                    (self.objective == "distill", "a cpsat teacher needs objective distill "
                                                  f"(got {self.objective})"),
                    (self.regime != "student", "a cpsat teacher labels only its own "
                                               "schedules: regime student has no labels"),
                    (not int(self.teacher_samples), "teacher_samples needs a policy "
                                                    "teacher, not cpsat")):
                if not ok:
                    raise ValueError(message)
        elif self.dataset:
            raise ValueError(f"dataset {self.dataset!r} needs a cpsat:SECONDS teacher, not "
                             f"{self.teacher!r}")
        if self.objective == "reinforce" and int(self.teacher_samples):
            raise ValueError("teacher_samples needs a teacher: objective distill or kickstart, "
                             "not reinforce")
        for name in ("student_dim", "batch_size", "num_updates", "updates_per_chunk",
                     "checkpoint_every", "num_jobs", "num_machines"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_updates % self.updates_per_chunk or \
                self.checkpoint_every % self.updates_per_chunk:
            raise ValueError("num_updates and checkpoint_every must be multiples of "
                             "updates_per_chunk")
        if self.objective == "kickstart" and int(self.anneal_updates) == 0:
            object.__setattr__(self, "anneal_updates", int(self.num_updates))
        object.__setattr__(self, "time_range", tuple(int(x) for x in self.time_range))
        object.__setattr__(self, "mixture", tuple((int(j), int(m)) for j, m in self.mixture))

    @property
    def solver_teacher(self) -> bool:
        """A solver's schedules teach (behaviour cloning), not a policy."""
        return self.objective != "reinforce" and self.teacher.partition(":")[0] == "cpsat"

    @property
    def teacher_fraction(self) -> float:
        """Share of teacher-driven episodes: all of them for a solver (it labels nothing
        else), the regime's share for a policy."""
        return 1.0 if self.solver_teacher else REGIMES[self.regime]

    @property
    def hyper(self) -> tuple[float, float, float]:
        """`(alpha, tau, teacher_fraction)`: the traced arguments of `train`."""
        return float(self.alpha), float(self.tau), self.teacher_fraction
