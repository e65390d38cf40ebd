"""Priority dispatching rules for the (flexible) job shop as pure scoring functions.

A rule is named `JOB-MACHINE`, e.g. `MWKR-EF`. Each decision is lexicographic: first the
job rule scores the next operation of every job that has one and picks the best job, then
the machine rule scores the eligible machines of that operation and picks the best one.
Higher scores are preferred; ties go to the lowest index.

Job (operation) rules, `JOB_RULES`, score a job's next operation:

- `SPT`: shortest processing time. For the flexible job shop an operation's time is its
  *minimum* over its eligible machines (its time in a job shop).
- `MWKR`: most work remaining: sum over the job's unscheduled operations (the next one
  included) of each operation's *mean* time over its eligible machines.
- `SRPT`: shortest remaining processing time: least work remaining (same measure).
- `MOR` (alias `MOPNR`): most operations remaining (the next one included).
- `FOPNR`: fewest operations remaining.
- `FIFO`: first in, first out: earliest job ready time (end of the job's last scheduled
  operation), i.e. the operation that became available first.

Machine rules, `MACHINE_RULES`, score the eligible machines of the chosen operation:

- `EF`: earliest finish (end) time `start + p` on that machine, with `start` the env's own
  start for the pair (`FlexibleJobShop.pair_start_times`): `max(job ready, machine free)`
  in "append" mode, the earliest fitting idle gap in "insert" mode.
- `SPT`: shortest processing time on that machine.
- `SPTW`: processing time plus the machine's load (total work already scheduled on it).

Every combination is a rule (`RULES`, 6 x 3 = 18); a bare job rule (`MOR`) means `MOR-EF`.

Candidate jobs (`candidates=`): by default ("ready") the job rule only ranks jobs that are
released by the next decision time `t*`, the earliest start of any valid pair (the job's
previous operation has ended by `t*`), as in the greedy baselines of Song et al. 2022 and
DANIEL, which advance a clock and dispatch among the operations ready at it. With "all" it
ranks every job that has a valid pair; then SPT-like rules keep picking short operations
far in the future (on Brandimarte, SPT-EF rises from about 44 % to about 180 % gap).
Scores are float32; masked entries get the finite `MASKED_SCORE`, never -inf. Scores within
a relative `TIE_RTOL` of the best count as ties (this absorbs float32 rounding in the
MWKR/SRPT sums of means; integer-valued scores below 10^6 compare exactly).

Use `rule_action(rule, state)` for one state (vmap it for a batch), `rule_policy(rule)` with
`jaxshop.rollout.rollout`, and `solve_with_rule(rule, instances, mode)` for a whole batch in
one compiled call. The method `rule:JOB-MACHINE` (`jaxshop_baselines.methods.get_method`)
solves "jssp" and "fjsp" instances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxshop_baselines.limits import rollout_estimate
from jaxshop_baselines.methods import (
    Method,
    policy_makespans,
    register_method,
    solutions_from_states,
)

import jaxshop
from jaxshop.fjsp.env import MODES, FlexibleJobShop, timeline_capacity
from jaxshop.fjsp.types import FJSPState
from jaxshop.instances.types import FJSPInstance
from jaxshop.rollout import Policy, rollout

__all__ = [
    "JOB_ALIASES",
    "JOB_RULES",
    "MACHINE_RULES",
    "MASKED_SCORE",
    "RULES",
    "TIE_RTOL",
    "CANDIDATE_SETS",
    "candidate_jobs",
    "canonical_rule",
    "job_scores",
    "job_start_times",
    "machine_scores",
    "op_mean_times",
    "parse_rule",
    "remaining_mean_work",
    "rule_action",
    "rule_policy",
    "select_best",
    "solve_with_rule",
]

MASKED_SCORE = float(np.finfo(np.float32).min)  # finite score of masked-out entries
TIE_RTOL = 1e-6  # scores within TIE_RTOL * max(1, |best|) of the best are ties

JobRule = Callable[[FJSPState], jax.Array]  # state -> (J,) float32 score
MachineRule = Callable[[FlexibleJobShop, FJSPState, jax.Array], jax.Array]  # -> (M,) float32


# ---------------------------------------------------------------------------------------
# Shared quantities
# ---------------------------------------------------------------------------------------


def op_mean_times(instance: FJSPInstance) -> jax.Array:
    """(J, O) float32: mean processing time of each op over its eligible machines (0 if none)."""
    elig = instance.eligible
    total = jnp.where(elig, instance.processing_times, 0).sum(-1).astype(jnp.float32)
    count = elig.sum(-1).astype(jnp.float32)
    return total / jnp.maximum(count, 1.0)


def _unscheduled(state: FJSPState) -> jax.Array:
    """(J, O) bool: the op exists and is not scheduled yet (the next op included)."""
    num_ops = state.instance.eligible.shape[-2]
    k = jnp.arange(num_ops, dtype=jnp.int32)[None, :]
    return (k >= state.next_op[:, None]) & (k < state.instance.num_ops[:, None])


def remaining_mean_work(state: FJSPState) -> jax.Array:
    """(J,) float32: sum of the mean eligible times of each job's unscheduled ops."""
    return jnp.where(_unscheduled(state), op_mean_times(state.instance), 0.0).sum(-1)


def _remaining_ops(state: FJSPState) -> jax.Array:
    return (state.instance.num_ops - state.next_op).astype(jnp.float32)


def _next_min_time(state: FJSPState) -> jax.Array:
    """(J,) float32: shortest eligible time of each job's next op (0 when the job is done)."""
    t = jnp.where(state.next_eligible, state.next_times, jnp.iinfo(jnp.int32).max).min(-1)
    return jnp.where(state.next_eligible.any(-1), t, 0).astype(jnp.float32)


def job_start_times(env: FlexibleJobShop, state: FJSPState, job: jax.Array) -> jax.Array:
    """(M,) int32: start the next op of `job` would get on each machine in `env`'s mode.

    Equals `env.pair_start_times(state)[job]`, computed for that one job only (append
    mode) or read from the insert-mode state's cached pair starts.
    """
    if state.timeline is not None:
        return lax.dynamic_index_in_dim(state.timeline.pair_start, job, 0, keepdims=False)
    return jnp.maximum(state.job_ready[job], state.machine_free)


# ---------------------------------------------------------------------------------------
# Rule registries
# ---------------------------------------------------------------------------------------

JOB_RULES: dict[str, JobRule] = {
    "SPT": lambda s: -_next_min_time(s),
    "MWKR": remaining_mean_work,
    "SRPT": lambda s: -remaining_mean_work(s),
    "MOR": _remaining_ops,
    "FOPNR": lambda s: -_remaining_ops(s),
    "FIFO": lambda s: -s.job_ready.astype(jnp.float32),
}

JOB_ALIASES: dict[str, str] = {"MOPNR": "MOR"}


def _times(state: FJSPState, job: jax.Array) -> jax.Array:
    return state.next_times[job].astype(jnp.float32)


MACHINE_RULES: dict[str, MachineRule] = {
    "EF": lambda env, s, j: -(job_start_times(env, s, j) + s.next_times[j]).astype(jnp.float32),
    "SPT": lambda env, s, j: -_times(s, j),
    "SPTW": lambda env, s, j: -(_times(s, j) + s.machine_busy.astype(jnp.float32)),
}

DEFAULT_MACHINE_RULE = "EF"

RULES: tuple[str, ...] = tuple(f"{j}-{m}" for j in JOB_RULES for m in MACHINE_RULES)

_JOB_INDEX = {name: i for i, name in enumerate(JOB_RULES)}
_MACHINE_INDEX = {name: i for i, name in enumerate(MACHINE_RULES)}


def parse_rule(rule: str) -> tuple[str, str]:
    """`(job_rule, machine_rule)` canonical names of `"JOB-MACHINE"` or bare `"JOB"` (→ EF).

    Case-insensitive; `MOPNR` is read as `MOR`. Raises `ValueError` listing valid rules.
    """
    if not isinstance(rule, str) or not rule.strip():
        raise ValueError(f"a rule name is needed, e.g. MWKR-EF; valid: {', '.join(RULES)}")
    job, _, machine = rule.strip().upper().partition("-")
    job = JOB_ALIASES.get(job, job)
    machine = machine or DEFAULT_MACHINE_RULE
    if job not in JOB_RULES or machine not in MACHINE_RULES:
        aliases = ", ".join(f"{a} = {b}" for a, b in JOB_ALIASES.items())
        raise ValueError(
            f"unknown dispatching rule {rule!r}; valid: {', '.join(RULES)} "
            f"(a bare job rule means JOB-{DEFAULT_MACHINE_RULE}; aliases: {aliases})"
        )
    return job, machine


def canonical_rule(rule: str) -> str:
    """The canonical `JOB-MACHINE` name of a rule (`"mopnr"` -> `"MOR-EF"`)."""
    return "-".join(parse_rule(rule))


# ---------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------


def select_best(scores: jax.Array, valid: jax.Array) -> jax.Array:
    """() int32: lowest index among the valid entries whose score ties the best (0 if none)."""
    masked = jnp.where(valid, scores, MASKED_SCORE)
    best = masked.max()
    tol = TIE_RTOL * jnp.maximum(1.0, jnp.abs(best))
    return jnp.argmax(valid & (masked >= best - tol)).astype(jnp.int32)


def job_scores(state: FJSPState, job_rule: int | jax.Array) -> jax.Array:
    """(J,) float32 scores of job rule number `job_rule` (position in `JOB_RULES`).

    The index may be traced: every job rule is computed (they are cheap) and one row kept.
    """
    return jnp.stack([f(state) for f in JOB_RULES.values()])[job_rule]


def machine_scores(
    env: FlexibleJobShop, state: FJSPState, job: jax.Array, machine_rule: int | jax.Array
) -> jax.Array:
    """(M,) float32 scores of machine rule number `machine_rule` for `job`'s next op."""
    return jnp.stack([f(env, state, job) for f in MACHINE_RULES.values()])[machine_rule]


CANDIDATE_SETS = ("ready", "all")


def candidate_jobs(env: FlexibleJobShop, state: FJSPState, ready: bool | jax.Array) -> jax.Array:
    """(J,) bool: jobs the job rule may pick (see the module doc on candidate sets)."""
    valid = state.next_eligible
    starts = env.pair_start_times(state)
    earliest = jnp.where(valid, starts, jnp.iinfo(jnp.int32).max).min()
    has_pair = valid.any(-1)
    return has_pair & jnp.where(ready, state.job_ready <= earliest, True)


def _indexed_action(
    env: FlexibleJobShop,
    state: FJSPState,
    job_rule: int | jax.Array,
    machine_rule: int | jax.Array,
    ready: bool | jax.Array = True,
) -> jax.Array:
    """() int32 flat action `job * M + machine` of the rule with these registry indices."""
    num_machines = state.next_eligible.shape[-1]
    job = select_best(job_scores(state, job_rule), candidate_jobs(env, state, ready))
    machine = select_best(machine_scores(env, state, job, machine_rule), state.next_eligible[job])
    return (job * num_machines + machine).astype(jnp.int32)


def _env(mode: str, capacity: int | None = None) -> FlexibleJobShop:
    """The env of `mode` (insert mode: with `capacity` timeline slots per machine), shared
    through `jaxshop.cached_make`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "insert":
        return jaxshop.cached_make("fjsp", mode=mode, timeline_capacity=capacity)
    return jaxshop.cached_make("fjsp", mode=mode)


def _mode_of(state: FJSPState) -> str:
    return "append" if state.timeline is None else "insert"


def _ready_only(candidates: str) -> bool:
    if candidates not in CANDIDATE_SETS:
        raise ValueError(f"candidates must be one of {CANDIDATE_SETS}, got {candidates!r}")
    return candidates == "ready"


def rule_action(rule: str, state: FJSPState, candidates: str = "ready") -> jax.Array:
    """() int32 flat action `job * M + machine` that `rule` picks in one (unbatched) state.

    The schedule mode (EF's start times) is read from the state: insert-mode states carry a
    timeline. On a finished state it returns 0 (a no-op for the env). Jits and vmaps.
    """
    job_rule, machine_rule = parse_rule(rule)
    return _indexed_action(
        _env(_mode_of(state)),
        state,
        _JOB_INDEX[job_rule],
        _MACHINE_INDEX[machine_rule],
        _ready_only(candidates),
    )


def rule_policy(rule: str, candidates: str = "ready") -> Policy:
    """A `policy(key, state) -> action` for `jaxshop.rollout.rollout` (the key is unused)."""
    parse_rule(rule)  # fail early on unknown names
    _ready_only(candidates)
    return lambda key, state: rule_action(rule, state, candidates)


# ---------------------------------------------------------------------------------------
# Batched solving
# ---------------------------------------------------------------------------------------

# (mode, batch shape, timeline capacity) -> compiled `(job_rule, machine_rule, batch) ->
# final states`. The rule is a runtime argument: one program serves all 18 rules.
_SOLVERS: dict[tuple[str, tuple[int, ...], int | None], Any] = {}


def _as_batch(instances: FJSPInstance | Sequence[FJSPInstance]) -> FJSPInstance:
    """A stacked `(B, J, O, M)` batch with canonical dtypes."""
    if isinstance(instances, FJSPInstance):
        batch = instances
        if np.ndim(batch.eligible) == 3:
            batch = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], batch)
    else:
        items = list(instances)
        if not all(isinstance(x, FJSPInstance) for x in items):
            raise TypeError("dispatching rules solve job-shop / flexible job-shop instances")
        batch = jaxshop.stack(items)
    return FJSPInstance(
        processing_times=jnp.asarray(batch.processing_times, jnp.int32),
        eligible=jnp.asarray(batch.eligible, bool),
        num_ops=jnp.asarray(batch.num_ops, jnp.int32),
        machine_mask=jnp.asarray(batch.machine_mask, bool),
    )


def _compiled_solver(mode: str, batch: FJSPInstance):
    capacity = timeline_capacity(batch) if mode == "insert" else None
    key = (mode, tuple(batch.eligible.shape), capacity)
    if key not in _SOLVERS:
        env = _env(mode, capacity)
        steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], batch))

        def run(
            job_rule: jax.Array,
            machine_rule: jax.Array,
            ready: jax.Array,
            batch: FJSPInstance,
        ):
            def policy(_, state):
                return _indexed_action(env, state, job_rule, machine_rule, ready)

            def one(instance):
                state, _ = env.reset(jax.random.PRNGKey(0), instance)
                final, _, _ = rollout(env, state, jax.random.PRNGKey(0), policy, steps)
                return final

            return jax.vmap(one)(batch)

        idx = jnp.zeros((), jnp.int32)
        flag = jnp.ones((), bool)
        _SOLVERS[key] = jax.jit(run).lower(idx, idx, flag, batch).compile()
    return _SOLVERS[key]


def solve_with_rule(
    rule: str,
    instances: FJSPInstance | Sequence[FJSPInstance],
    mode: str = "append",
    candidates: str = "ready",
) -> FJSPState:
    """Final states of `rule` on every instance, from one compiled, vmapped rollout.

    `instances` is a list of (exact-size or padded) FJSP/JSSP instances, padded here to one
    shape, or an already stacked batch. Compiled programs are cached per (mode, shape) and
    shared by all rules (the rule is a runtime argument). `final.makespan` is `(B,)`.
    """
    job_rule, machine_rule = parse_rule(rule)
    _env(mode)  # validates the mode
    batch = _as_batch(instances)
    solver = _compiled_solver(mode, batch)
    return solver(
        jnp.asarray(_JOB_INDEX[job_rule], jnp.int32),
        jnp.asarray(_MACHINE_INDEX[machine_rule], jnp.int32),
        jnp.asarray(_ready_only(candidates)),
        batch,
    )


@register_method(
    "rule",
    "dispatching rule JOB-MACHINE, e.g. rule:MWKR-EF",
    options=("mode", "candidates"),
    arg="JOB-MACHINE",
    arg_required=True,
    problems=("jssp", "fjsp"),
    estimate=rollout_estimate("rule"),
)
def _rule_method(
    arg: str | None = None, mode: str = "append", candidates: str = "ready", **_: Any
) -> Method:
    """`rule:JOB-MACHINE` (a bare `rule:MOR` is `MOR-EF`) in the env's `mode`."""
    name = canonical_rule(arg or "")
    env = _env(mode)
    _ready_only(candidates)

    def solve(instances, key, progress=None):
        finals = solve_with_rule(name, instances, mode, candidates)
        return solutions_from_states(env, instances, finals)

    return Method(f"rule:{name}", ("jssp", "fjsp"), solve,
                  batch_makespans=policy_makespans(lambda _: rule_policy(name, candidates), mode))
