"""Features of (next operation, machine) pairs, and helpers dispatching rules can share.

`pair_features(state, pair_start)` is `(J, M, F)` float32: row `[j, m]` describes the
next unscheduled operation of job `j` on machine `m`. Features come in three levels:
global (problem-wide ratios and processing-time statistics), job/operation (times,
remaining work, readiness) and machine (load, availability, demand). Static features
(`STATIC_FEATURES`) depend only on the instance and the pair's operation; dynamic ones
(`DYNAMIC_FEATURES`) depend on the partial schedule. Statics come first along the last
axis, so `[..., :len(STATIC_FEATURES)]` is the static-only view. `feature_parts` gives
the same values without repetition, by the axis each feature varies on (`GROUPS`);
`pair_features` is `assemble` of them.

Scaling: "min-max" features are `(x - min) / (max - min)` over the named set (0 when the
set is empty or constant); entries outside the set (finished or padded jobs, padded
machines, ineligible pairs) are 0. Every division is guarded, so all features are finite
for padded instances, a single job and zero variance. Masking uses finite sentinels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxshop.fjsp.types import FJSPState
from jaxshop.instances.types import FJSPInstance
from jaxshop.utils import safe_div

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

GROUPS: dict[str, tuple[str, ...]] = {
    "glob": ("jobs_per_machine", "ops_per_machine", "flexibility", "time_cv", "progress",
             "makespan_ratio"),
    "pair": ("pair_time_z", "pair_time", "pair_time_vs_alternatives", "pair_time_candidates",
             "pair_start", "pair_end"),
    "job": ("op_flexibility", "job_remaining_work", "job_remaining_ops", "job_progress",
            "job_ready"),
    "machine": ("machine_eligible_ops", "machine_load", "machine_available",
                "machine_utilization", "machine_remaining_ops", "machine_candidates"),
}
"""Every feature by the axis it varies along: a `glob` feature is one value per state, a
`job` feature one per job (its next operation), a `machine` one per machine, a `pair` one
per `(job, machine)`. `pair_features` repeats each along the axes it does not vary on."""


@struct.dataclass
class FeatureParts:
    """The pair features without repetition: `pair_features` is `assemble(parts)`.

    A model whose first layer is linear in the features can apply it per group and
    broadcast the sums (`J*M*Fp + J*Fj + M*Fm + Fg` inputs instead of `J*M*F`).
    """

    glob: jax.Array  # (Fg,) float32: GROUPS["glob"]
    job: jax.Array  # (J, Fj) float32: GROUPS["job"]
    machine: jax.Array  # (M, Fm) float32: GROUPS["machine"]
    pair: jax.Array  # (J, M, Fp) float32: GROUPS["pair"]


def group_columns(group: str, num_features: int = NUM_FEATURES
                  ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """`(columns, positions)`: which columns of `FeatureParts.<group>` belong to the first
    `num_features` features of `STATIC_FEATURES + DYNAMIC_FEATURES`, and their positions
    along `pair_features`' last axis."""
    names = (STATIC_FEATURES + DYNAMIC_FEATURES)[:num_features]
    picked = [(k, names.index(n)) for k, n in enumerate(GROUPS[group]) if n in names]
    return tuple(k for k, _ in picked), tuple(p for _, p in picked)

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


def pair_features(state: FJSPState, pair_start: jax.Array) -> jax.Array:
    """(J, M, F) float32 features of every (next op, machine) pair; see the module doc.

    `pair_start` is the `(J, M)` start each pair would get (the env's mode decides it).
    This is `assemble(feature_parts(state, pair_start))`.
    """
    return assemble(feature_parts(state, pair_start))


def lay_out(group: str, x: jax.Array) -> jax.Array:
    """A group's array (`FeatureParts.<group>`, or anything with the same leading axes and
    one trailing axis) with singleton `J` / `M` axes where the group does not vary, so it
    broadcasts onto `(..., J, M, C)`."""
    if group == "glob":
        return x[..., None, None, :]
    if group == "job":
        return x[..., :, None, :]
    if group == "machine":
        return x[..., None, :, :]
    return x


def assemble(parts: FeatureParts) -> jax.Array:
    """`(..., J, M, F)`: every group repeated along the axes it does not vary on, the
    columns in `STATIC_FEATURES + DYNAMIC_FEATURES` order."""
    shape = parts.pair.shape[:-1]  # (..., J, M)
    columns = [None] * NUM_FEATURES
    for group in GROUPS:
        x = lay_out(group, getattr(parts, group))
        _, positions = group_columns(group)
        for k, position in enumerate(positions):
            columns[position] = jnp.broadcast_to(x[..., k], shape)
    return jnp.stack(columns, -1)


def _scaled(
    columns: list[tuple[jax.Array, jax.Array | None]], shape: tuple[int, ...]
) -> jax.Array:
    """`(*shape, len(columns))` float32 from `(raw column, scope)` pairs: a column with a
    scope (a bool array broadcastable to `shape`) is min-max scaled over it, 0 outside it;
    one without (None) is used as is."""
    x = jnp.stack([jnp.broadcast_to(jnp.asarray(c, jnp.float32), shape) for c, _ in columns], -1)
    if all(sc is None for _, sc in columns):
        return x
    scope = jnp.stack(
        [jnp.zeros(shape, bool) if sc is None else jnp.broadcast_to(sc, shape)
         for _, sc in columns], -1)
    scaled = jnp.array([sc is not None for _, sc in columns])  # (F,)
    axes = tuple(range(len(shape)))
    lo = jnp.where(scope, x, _BIG_FLOAT).min(axes)
    hi = jnp.where(scope, x, -_BIG_FLOAT).max(axes)
    lo, hi = jnp.where(lo <= hi, lo, 0.0), jnp.where(lo <= hi, hi, 0.0)  # empty scopes
    minmax = jnp.where(scope, safe_div(x - lo, hi - lo), 0.0)
    return jnp.where(scaled, minmax, x)


def feature_parts(state: FJSPState, pair_start: jax.Array) -> FeatureParts:
    """The pair features of `state` by group (`GROUPS`), each computed and scaled at its own
    shape: `(J,)` per job, `(M,)` per machine, `(J, M)` per pair, `()` global. A job
    feature's min-max scope is a set of jobs (its min over pairs is its min over jobs), a
    machine feature's a set of machines."""
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
    mean = safe_div(jnp.where(elig, pf, 0.0).sum(), n_pairs)
    std = jnp.sqrt(safe_div(jnp.where(elig, (pf - mean) ** 2, 0.0).sum(), n_pairs))
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

    # name -> (raw column at the group's shape, where it is min-max scaled; None: as is)
    columns = {
        "glob": {
            "jobs_per_machine": (safe_div(n_jobs, n_mach), None),
            "ops_per_machine": (safe_div(safe_div(total_ops, n_jobs), n_mach), None),
            "flexibility": (safe_div(safe_div(n_pairs, total_ops), n_mach), None),
            "time_cv": (safe_div(std, mean), None),
            "progress": (safe_div(state.num_scheduled, total_ops), None),
            "makespan_ratio": (safe_div(state.makespan, state.normalizer), None),
        },
        "pair": {
            "pair_time_z": (jnp.where(valid, safe_div(tf - mean, std), 0.0), None),
            "pair_time": (jnp.where(valid, safe_div(t - t_lo, t_hi - t_lo), 0.0), None),
            "pair_time_vs_alternatives": (
                jnp.where(valid, safe_div(t - op_lo, op_hi - op_lo), 0.0), None),
            "pair_time_candidates": (t, valid),
            "pair_start": (pair_start, valid),
            "pair_end": (pair_start + t, valid),
        },
        "job": {
            "op_flexibility": (safe_div(valid.sum(-1), n_mach), None),
            "job_remaining_work": (remaining_work(state), open_jobs),
            "job_remaining_ops": (remaining_ops(state), open_jobs),
            "job_progress": (safe_div(state.next_op, inst.num_ops), None),
            "job_ready": (state.job_ready, open_jobs),
        },
        "machine": {
            "machine_eligible_ops": (elig.sum((0, 1)), mach_mask),
            "machine_load": (state.machine_busy, mach_mask),
            "machine_available": (state.machine_free, mach_mask),
            "machine_utilization": (safe_div(state.machine_busy, state.machine_free), None),
            "machine_remaining_ops": ((elig & unscheduled[:, :, None]).sum((0, 1)), mach_mask),
            "machine_candidates": (valid.sum(0), mach_mask),
        },
    }
    shapes = {"glob": (), "pair": (J, M), "job": (J,), "machine": (M,)}
    parts = {}
    for group, cols in columns.items():
        assert tuple(cols) == GROUPS[group]
        parts[group] = _scaled(list(cols.values()), shapes[group])
    return FeatureParts(**parts)
