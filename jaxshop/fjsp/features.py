"""Features of (next operation, machine) pairs, and helpers dispatching rules can share.

`pair_features(state, pair_start)` is `(J, M, F)` float32: row `[j, m]` describes the
next unscheduled operation of job `j` on machine `m`. Features come in three levels:
global (problem-wide ratios and processing-time statistics), job/operation (times,
remaining work, readiness) and machine (load, availability, demand). Static features
(`STATIC_FEATURES`) depend only on the instance and the pair's operation; dynamic ones
(`DYNAMIC_FEATURES`) depend on the partial schedule. Statics come first along the last
axis, so `[..., :len(STATIC_FEATURES)]` is the static-only view.

Scaling: "min-max" features are `(x - min) / (max - min)` over the named set (0 when the
set is empty or constant); entries outside the set (finished or padded jobs, padded
machines, ineligible pairs) are 0. Every division is guarded, so all features are finite
for padded instances, a single job and zero variance. Masking uses finite sentinels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxshop.fjsp.types import FJSPState
from jaxshop.instances.types import FJSPInstance

STATIC_FEATURES: tuple[str, ...] = (
    "jobs_per_machine",  # global: real jobs / real machines
    "ops_per_machine",  # global: mean ops per job / real machines (1 for a square job shop)
    "flexibility",  # global: mean eligible machines per op / real machines
    "time_cv",  # global: std / mean of all eligible processing times
    "pair_time_z",  # pair: (time - global mean) / global std
    "pair_time",  # pair: time, min-max over all eligible (op, machine) pairs of the instance
    "pair_time_vs_alternatives",  # pair: time, min-max over the op's eligible machines
    "op_flexibility",  # op: its eligible machines / real machines
    "machine_eligible_ops",  # machine: ops of the instance it can run, min-max over machines
)

DYNAMIC_FEATURES: tuple[str, ...] = (
    "progress",  # global: scheduled ops / total ops
    "makespan_ratio",  # global: current makespan / makespan lower bound (state.normalizer)
    "pair_time_candidates",  # pair: time, min-max over the currently valid pairs
    "pair_start",  # pair: start it would get (env mode), min-max over valid pairs
    "pair_end",  # pair: start + time, min-max over valid pairs
    "job_remaining_work",  # job: shortest-time work left incl. next op, min-max over open jobs
    "job_remaining_ops",  # job: ops left incl. next op, min-max over open jobs
    "job_progress",  # job: scheduled ops / its ops
    "job_ready",  # job: end of its last scheduled op, min-max over open jobs
    "machine_load",  # machine: busy time scheduled, min-max over real machines
    "machine_available",  # machine: latest end on it, min-max over real machines
    "machine_utilization",  # machine: busy time / latest end (0 when idle)
    "machine_remaining_ops",  # machine: unscheduled ops it can run, min-max over machines
    "machine_candidates",  # machine: current next ops it can run, min-max over machines
)

NUM_FEATURES = len(STATIC_FEATURES) + len(DYNAMIC_FEATURES)

_BIG_INT = jnp.iinfo(jnp.int32).max
_BIG_FLOAT = float(jnp.finfo(jnp.float32).max)


def op_min_times(instance: FJSPInstance) -> jax.Array:
    """(J, O) int32: shortest eligible processing time of each op (0 for padding)."""
    t = jnp.where(instance.eligible, instance.processing_times, _BIG_INT).min(-1)
    return jnp.where(instance.eligible.any(-1), t, 0)


def remaining_work(state: FJSPState) -> jax.Array:
    """(J,) int32: sum of the shortest times of each job's unscheduled ops."""
    num_ops = state.instance.eligible.shape[-2]
    todo = jnp.arange(num_ops, dtype=jnp.int32)[None, :] >= state.next_op[:, None]
    return jnp.where(todo, op_min_times(state.instance), 0).sum(-1)


def remaining_ops(state: FJSPState) -> jax.Array:
    """(J,) int32: unscheduled ops per job (0 for finished and padded jobs)."""
    return state.instance.num_ops - state.next_op


def _div(a, b) -> jax.Array:
    """a / b in float32, 0 where b == 0."""
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    return jnp.where(b != 0, a / jnp.where(b != 0, b, 1.0), 0.0)


def pair_features(state: FJSPState, pair_start: jax.Array) -> jax.Array:
    """(J, M, F) float32 features of every (next op, machine) pair; see the module doc.

    `pair_start` is the `(J, M)` start each pair would get (the env's mode decides it).
    Every feature is first laid out as a `(J, M)` column; all min-max scalings then
    share one masked min and one masked max over `(J, M)` (a job-level column repeats
    along machines, so its min over pairs is its min over jobs). Few, large reductions
    keep the compiled program small.
    """
    inst = state.instance
    J, O, M = inst.shape  # noqa: E741
    elig, p = inst.eligible, inst.processing_times  # (J, O, M)
    job_mask = inst.num_ops > 0  # (J,)
    mach_mask = inst.machine_mask  # (M,)
    n_jobs = job_mask.sum()
    n_mach = mach_mask.sum()
    total_ops = inst.num_ops.sum()
    n_pairs = elig.sum()

    # Global statistics of the eligible processing times.
    pf = p.astype(jnp.float32)
    mean = _div(jnp.where(elig, pf, 0.0).sum(), n_pairs)
    std = jnp.sqrt(_div(jnp.where(elig, (pf - mean) ** 2, 0.0).sum(), n_pairs))
    t_lo = jnp.where(n_pairs > 0, jnp.where(elig, p, _BIG_INT).min(), 0)
    t_hi = jnp.where(elig, p, 0).max()

    valid = state.next_eligible  # (J, M)
    t = state.next_times  # (J, M)
    tf = t.astype(jnp.float32)
    op_lo = jnp.where(valid, t, _BIG_INT).min(-1, keepdims=True)
    op_hi = jnp.where(valid, t, 0).max(-1, keepdims=True)
    open_jobs = state.next_op < inst.num_ops  # (J,)
    unscheduled = inst.op_mask & (
        jnp.arange(O, dtype=jnp.int32)[None, :] >= state.next_op[:, None]
    )  # (J, O)

    def per_job(x):  # (J,) -> (J, M)
        return jnp.broadcast_to(jnp.asarray(x, jnp.float32)[:, None], (J, M))

    def per_mach(x):  # (M,) -> (J, M)
        return jnp.broadcast_to(jnp.asarray(x, jnp.float32)[None, :], (J, M))

    def glob(x):  # () -> (J, M)
        return jnp.full((J, M), x, jnp.float32)

    pairs, jobs, machines = valid, per_job(open_jobs) > 0, per_mach(mach_mask) > 0
    # name -> (raw (J, M) column, where it is min-max scaled; None: used as is)
    columns = {
        "jobs_per_machine": (glob(_div(n_jobs, n_mach)), None),
        "ops_per_machine": (glob(_div(_div(total_ops, n_jobs), n_mach)), None),
        "flexibility": (glob(_div(_div(n_pairs, total_ops), n_mach)), None),
        "time_cv": (glob(_div(std, mean)), None),
        "pair_time_z": (jnp.where(valid, _div(tf - mean, std), 0.0), None),
        "pair_time": (jnp.where(valid, _div(t - t_lo, t_hi - t_lo), 0.0), None),
        "pair_time_vs_alternatives": (
            jnp.where(valid, _div(t - op_lo, op_hi - op_lo), 0.0), None),
        "op_flexibility": (per_job(_div(valid.sum(-1), n_mach)), None),
        "machine_eligible_ops": (per_mach(elig.sum((0, 1))), machines),
        "progress": (glob(_div(state.num_scheduled, total_ops)), None),
        "makespan_ratio": (glob(_div(state.makespan, state.normalizer)), None),
        "pair_time_candidates": (t, pairs),
        "pair_start": (pair_start, pairs),
        "pair_end": (pair_start + t, pairs),
        "job_remaining_work": (per_job(remaining_work(state)), jobs),
        "job_remaining_ops": (per_job(remaining_ops(state)), jobs),
        "job_progress": (per_job(_div(state.next_op, inst.num_ops)), None),
        "job_ready": (per_job(state.job_ready), jobs),
        "machine_load": (per_mach(state.machine_busy), machines),
        "machine_available": (per_mach(state.machine_free), machines),
        "machine_utilization": (per_mach(_div(state.machine_busy, state.machine_free)), None),
        "machine_remaining_ops": (
            per_mach((elig & unscheduled[:, :, None]).sum((0, 1))), machines),
        "machine_candidates": (per_mach(valid.sum(0)), machines),
    }
    assert tuple(columns) == STATIC_FEATURES + DYNAMIC_FEATURES
    columns = list(columns.values())
    x = jnp.stack([jnp.asarray(c, jnp.float32) for c, _ in columns], -1)
    scope = jnp.stack([jnp.zeros((J, M), bool) if sc is None else sc for _, sc in columns], -1)
    scaled = jnp.array([sc is not None for _, sc in columns])  # (F,)
    lo = jnp.where(scope, x, _BIG_FLOAT).min((0, 1))
    hi = jnp.where(scope, x, -_BIG_FLOAT).max((0, 1))
    lo, hi = jnp.where(lo <= hi, lo, 0.0), jnp.where(lo <= hi, hi, 0.0)  # empty scopes
    minmax = jnp.where(scope, _div(x - lo, hi - lo), 0.0)
    return jnp.where(scaled, minmax, x)
