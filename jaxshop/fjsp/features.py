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


def _minmax(x, mask) -> jax.Array:
    """Min-max scaling of `x (..., K)` over the leading entries where `mask (...)`.

    Each of the K columns is scaled on its own; 0 where masked out or constant.
    """
    x = jnp.asarray(x, jnp.float32)
    m = mask[..., None]
    axes = tuple(range(x.ndim - 1))
    lo = jnp.where(m, x, _BIG_FLOAT).min(axes)
    hi = jnp.where(m, x, -_BIG_FLOAT).max(axes)
    any_ = mask.any()
    lo, hi = jnp.where(any_, lo, 0.0), jnp.where(any_, hi, 0.0)
    return jnp.where(m, _div(x - lo, hi - lo), 0.0)


def pair_features(state: FJSPState, pair_start: jax.Array) -> jax.Array:
    """(J, M, F) float32 features of every (next op, machine) pair; see the module doc.

    `pair_start` is the `(J, M)` start each pair would get (the env's mode decides it).
    Features of one level are scaled together (one masked min/max per level), which keeps
    the compiled program small.
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
    static_global = jnp.stack([
        _div(n_jobs, n_mach),
        _div(_div(total_ops, n_jobs), n_mach),
        _div(_div(n_pairs, total_ops), n_mach),
        _div(std, mean),
    ])  # (4,)

    valid = state.next_eligible  # (J, M)
    t = state.next_times  # (J, M)
    tf = t.astype(jnp.float32)
    op_lo = jnp.where(valid, t, _BIG_INT).min(-1, keepdims=True)
    op_hi = jnp.where(valid, t, 0).max(-1, keepdims=True)
    static_pair = jnp.where(valid[..., None], jnp.stack([
        _div(tf - mean, std),
        _div(t - t_lo, t_hi - t_lo),
        _div(t - op_lo, op_hi - op_lo),
    ], -1), 0.0)  # (J, M, 3)
    op_flex = _div(valid.sum(-1), n_mach)  # (J,)
    mach_elig = _minmax(elig.sum((0, 1))[:, None], mach_mask)  # (M, 1)

    open_jobs = state.next_op < inst.num_ops  # (J,)
    unscheduled = inst.op_mask & (
        jnp.arange(O, dtype=jnp.int32)[None, :] >= state.next_op[:, None]
    )  # (J, O)
    dyn_global = jnp.stack([
        _div(state.num_scheduled, total_ops),
        _div(state.makespan, state.normalizer),
    ])  # (2,)
    dyn_pair = _minmax(jnp.stack([t, pair_start, pair_start + t], -1), valid)  # (J, M, 3)
    dyn_job = jnp.concatenate([
        _minmax(jnp.stack([remaining_work(state), remaining_ops(state)], -1), open_jobs),
        _div(state.next_op, inst.num_ops)[:, None],
        _minmax(state.job_ready[:, None], open_jobs),
    ], -1)  # (J, 4)
    dyn_mach = _minmax(jnp.stack([
        state.machine_busy,
        state.machine_free,
        (elig & unscheduled[:, :, None]).sum((0, 1)),
        valid.sum(0),
    ], -1), mach_mask)  # (M, 4)
    utilization = _div(state.machine_busy, state.machine_free)  # (M,)

    def per_job(x):  # (J, K) -> (J, M, K)
        return jnp.broadcast_to(x[:, None, :], (J, M, x.shape[-1]))

    def per_mach(x):  # (M, K) -> (J, M, K)
        return jnp.broadcast_to(x[None, :, :], (J, M, x.shape[-1]))

    def glob(x):  # (K,) -> (J, M, K)
        return jnp.broadcast_to(x, (J, M, x.shape[-1]))

    parts = [
        glob(static_global),  # jobs_per_machine .. time_cv
        static_pair,  # pair_time_z, pair_time, pair_time_vs_alternatives
        per_job(op_flex[:, None]),  # op_flexibility
        per_mach(mach_elig),  # machine_eligible_ops
        glob(dyn_global),  # progress, makespan_ratio
        dyn_pair,  # pair_time_candidates, pair_start, pair_end
        per_job(dyn_job),  # remaining work/ops, job_progress, job_ready
        per_mach(jnp.concatenate([dyn_mach[:, :2], utilization[:, None], dyn_mach[:, 2:]], -1)),
    ]
    return jnp.concatenate(parts, -1).astype(jnp.float32)
