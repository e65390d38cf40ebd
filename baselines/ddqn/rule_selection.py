"""Rule selection on the (flexible) job shop: the action picks a dispatching rule.

`RuleSelection(FlexibleJobShop(...), rules=DEFAULT_RULES)` is a scheduling env on the
shared step template, registered as `jaxshop.make("rule_selection", rules=..., **fjsp)`
when this module is imported (the rules live in `jaxshop_baselines`). Its state is the
job shop's `FJSPState`, one step is one dispatching decision, and action `k` means "let
`rules[k]` (a `JOB-MACHINE` rule of `jaxshop_baselines.rules`) choose the next
(operation, machine) pair", which is then applied to the job shop. The generator,
reward mode ("dense", "normalized", "terminal"), makespan and schedule are those of the
job shop, so a rule-selection episode returns `-makespan` (dense).

Action mask: all `K = len(rules)` rules are valid while the schedule is incomplete, none
once it is complete (the library's terminal convention). An out-of-range action acts as
rule 0 and is flagged `extras["invalid_action"]` (the shared `resolve_action` rule).

Observation `RuleObservation.features`, `NUM_FEATURES` float32 values, all finite and
independent of padding. With `T` the real operations, `Jr` the real jobs (`num_ops > 0`),
`Mr` the real machines, `LB` the env's makespan lower bound (`state.normalizer`, >= 1),
`C` the partial makespan, `free_m` the time machine `m` becomes free, `ready_j` the end
of job `j`'s last scheduled operation, "open" jobs those with operations left:

0. `progress`: scheduled operations / `T`.
1. `makespan`: `C / LB`.
2. `machine_free_mean`: mean of `free_m` over real machines / `LB`.
3. `machine_free_spread`: (max - min) of `free_m` over real machines / `LB`.
4. `utilization`: total scheduled processing time / (`Mr * max(C, 1)`).
5. `remaining_work`: sum over unscheduled operations of their mean eligible time,
   / (`Mr * LB`) (the remaining load per machine in lower-bound units).
6. `jobs_done`: finished jobs / `Jr`.
7. `work_cv`: coefficient of variation (std / mean) of the remaining mean work over open
   jobs (0 with no open job).
8. `ready_gap`: (mean `ready_j` over open jobs - min `free_m`) / `LB` (how far jobs lag
   behind or lead the machines).
9. `flexibility`: mean over open jobs of (eligible machines of the next operation) / `Mr`.
10. `candidates`: fraction of open jobs released by the next decision time (the jobs the
    rules rank, `rules.candidate_jobs`).
11. `next_time`: mean shortest time of the open jobs' next operations / mean over all
    operations of their mean eligible time.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jaxshop_baselines import rules as R

from jaxshop.env import SchedulingEnvironment, register, resolve_action
from jaxshop.fjsp.env import FlexibleJobShop
from jaxshop.fjsp.types import FJSPState
from jaxshop.instances.types import FJSPInstance
from jaxshop.schedule import Schedule
from jaxshop.specs import ArraySpec, DiscreteSpec
from jaxshop.utils import clamped_div

DEFAULT_RULES: tuple[str, ...] = (
    "MWKR-EF", "MOR-EF", "FIFO-EF", "SPT-EF", "MWKR-SPTW", "FIFO-SPTW",
)

FEATURES: tuple[str, ...] = (
    "progress", "makespan", "machine_free_mean", "machine_free_spread", "utilization",
    "remaining_work", "jobs_done", "work_cv", "ready_gap", "flexibility", "candidates",
    "next_time",
)
NUM_FEATURES = len(FEATURES)


@struct.dataclass
class RuleObservation:
    features: Any  # (NUM_FEATURES,) float32, see the module docstring
    action_mask: Any  # (K,) bool: every rule while running, none once finished


def schedule_features(env: FlexibleJobShop, state: FJSPState) -> jax.Array:
    """(NUM_FEATURES,) float32 global features of one state (see the module docstring)."""
    inst = state.instance
    f32 = jnp.float32
    lb = state.normalizer.astype(f32)
    real_m = inst.machine_mask
    n_m = jnp.maximum(real_m.sum(), 1).astype(f32)
    total_ops = jnp.maximum(inst.num_ops.sum(), 1).astype(f32)
    real_j = inst.num_ops > 0
    n_j = jnp.maximum(real_j.sum(), 1).astype(f32)
    open_j = state.next_op < inst.num_ops
    n_open = open_j.sum().astype(f32)
    c = state.makespan.astype(f32)
    free = state.machine_free.astype(f32)
    free_max = jnp.where(real_m, free, 0.0).max()
    free_min = jnp.where(real_m, free, jnp.finfo(f32).max).min()
    free_min = jnp.where(real_m.any(), free_min, 0.0)
    work = R.remaining_mean_work(state)  # (J,), 0 for finished jobs
    open_work = jnp.where(open_j, work, 0.0)
    mean_work = clamped_div(open_work.sum(), n_open)
    var_work = clamped_div(jnp.where(open_j, (work - mean_work) ** 2, 0.0).sum(), n_open)
    ready = state.job_ready.astype(f32)
    mean_ready = clamped_div(jnp.where(open_j, ready, 0.0).sum(), n_open)
    elig_count = state.next_eligible.sum(-1).astype(f32)
    flex = clamped_div(jnp.where(open_j, elig_count, 0.0).sum(), n_open * n_m)
    cand = R.candidate_jobs(env, state, True)
    next_min = jnp.where(state.next_eligible, state.next_times, 0).astype(f32)
    next_min = jnp.where(state.next_eligible, next_min, jnp.finfo(f32).max).min(-1)
    next_min = jnp.where(open_j, next_min, 0.0)
    op_mean = R.op_mean_times(inst)
    mean_op = clamped_div(jnp.where(inst.op_mask, op_mean, 0.0).sum(), total_ops)
    any_open = n_open > 0
    feats = jnp.stack([
        state.num_scheduled.astype(f32) / total_ops,
        c / lb,
        clamped_div(jnp.where(real_m, free, 0.0).sum(), n_m) / lb,
        (free_max - free_min) / lb,
        clamped_div(state.machine_busy.astype(f32).sum(), n_m * jnp.maximum(c, 1.0)),
        work.sum() / (n_m * lb),
        (real_j & ~open_j).sum().astype(f32) / n_j,
        jnp.where(any_open, clamped_div(jnp.sqrt(var_work), mean_work), 0.0),
        jnp.where(any_open, (mean_ready - free_min) / lb, 0.0),
        flex,
        clamped_div((cand & open_j).sum().astype(f32), n_open),
        jnp.where(any_open, clamped_div(clamped_div(next_min.sum(), n_open), mean_op), 0.0),
    ])
    return feats.astype(f32)


class RuleSelection(SchedulingEnvironment[FJSPInstance, FJSPState, RuleObservation]):
    """A `FlexibleJobShop` whose discrete action picks one of `rules` for the next decision.

    See the module docstring for the action, observation and rewards. Passes
    `jaxshop.testing.check_env`. `candidates` is the rules' candidate set ("ready").
    """

    problem = "fjsp"

    def __init__(self, env: FlexibleJobShop, rules: tuple[str, ...] = DEFAULT_RULES,
                 candidates: str = "ready"):
        if not isinstance(env, FlexibleJobShop):
            raise TypeError("RuleSelection wraps a plain FlexibleJobShop env")
        if not rules:
            raise ValueError("RuleSelection needs at least one rule")
        if candidates not in R.CANDIDATE_SETS:
            raise ValueError(f"candidates must be one of {R.CANDIDATE_SETS}, got {candidates!r}")
        super().__init__(env.generator, env.reward_mode)
        self.env = env
        self.rules = tuple(R.canonical_rule(r) for r in rules)
        parts = [R.parse_rule(r) for r in self.rules]
        # Only the job and machine rules that some rule uses are computed at each step.
        self._job_names = tuple(dict.fromkeys(j for j, _ in parts))
        self._machine_names = tuple(dict.fromkeys(m for _, m in parts))
        self._job_index = tuple(self._job_names.index(j) for j, _ in parts)
        self._machine_index = tuple(self._machine_names.index(m) for _, m in parts)
        self.candidates = candidates

    def __repr__(self) -> str:
        return f"RuleSelection({self.env!r}, rules={self.rules})"

    @property
    def mode(self) -> str:
        """The job shop's timing mode ("append" or "insert")."""
        return self.env.mode

    @property
    def num_rules(self) -> int:
        return len(self.rules)

    def rule_action(self, state: FJSPState, rule: jax.Array) -> jax.Array:
        """() int32 flat job-shop action `job * M + machine` that rule number `rule` picks."""
        job_rule = jnp.asarray(self._job_index, jnp.int32)[rule]
        machine_rule = jnp.asarray(self._machine_index, jnp.int32)[rule]
        num_machines = state.next_eligible.shape[-1]
        cand = R.candidate_jobs(self.env, state, self.candidates == "ready")
        job_scores = jnp.stack([R.JOB_RULES[name](state) for name in self._job_names])
        job = R.select_best(job_scores[job_rule], cand)
        scores = jnp.stack([R.MACHINE_RULES[name](self.env, state, job)
                            for name in self._machine_names])[machine_rule]
        machine = R.select_best(scores, state.next_eligible[job])
        return (job * num_machines + machine).astype(jnp.int32)

    def _reset(self, instance: FJSPInstance, key: jax.Array) -> FJSPState:
        return self.env._reset(instance, key)

    def _step(self, state: FJSPState, rule: jax.Array, live: jax.Array) -> FJSPState:
        # The job shop's own fallback guards the rule's pick (a valid pick is kept as is).
        action, _ = resolve_action(self.env.action_mask(state), self.rule_action(state, rule),
                                   ~live)
        return self.env._step(state, action, live)

    def action_mask(self, state: FJSPState) -> jax.Array:
        return jnp.broadcast_to(~self.env.is_done(state), (self.num_rules,))

    def is_done(self, state: FJSPState) -> jax.Array:
        return self.env.is_done(state)

    def current_makespan(self, state: FJSPState) -> jax.Array:
        return self.env.current_makespan(state)

    def schedule(self, state: FJSPState) -> Schedule:
        return self.env.schedule(state)

    def observe(self, state: FJSPState) -> RuleObservation:
        return RuleObservation(schedule_features(self.env, state), self.action_mask(state))

    def num_actions(self, instance: FJSPInstance) -> int:
        return self.num_rules

    def max_steps(self, instance: FJSPInstance) -> int:
        return self.env.max_steps(instance)

    def observation_spec(self, instance: FJSPInstance) -> RuleObservation:
        return RuleObservation(
            features=ArraySpec((NUM_FEATURES,), jnp.float32, name="features"),
            action_mask=ArraySpec.boolean((self.num_rules,), "action_mask"),
        )

    def action_spec(self, instance: FJSPInstance) -> DiscreteSpec:
        return DiscreteSpec(self.num_rules, name="action")


@register("rule_selection")
def _make_rule_selection(rules: tuple[str, ...] = DEFAULT_RULES, candidates: str = "ready",
                         **fjsp_kwargs: Any) -> RuleSelection:
    """`jaxshop.make("rule_selection", rules=..., candidates=..., generator=..., reward=...,
    mode=...)`: rule selection on a `FlexibleJobShop(**fjsp_kwargs)`."""
    return RuleSelection(FlexibleJobShop(**fjsp_kwargs), rules=tuple(rules),
                         candidates=candidates)


__all__ = [
    "DEFAULT_RULES",
    "FEATURES",
    "NUM_FEATURES",
    "RuleObservation",
    "RuleSelection",
    "schedule_features",
]
