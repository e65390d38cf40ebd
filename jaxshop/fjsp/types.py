"""State and observation of the (flexible) job-shop dispatch env.

Shapes use the padded sizes of the instance: `J = max_jobs`, `O = max_ops`,
`M = max_machines`, `N = J * O` (room for every operation on one machine).

The state holds only what `step` needs plus a few cheap running totals that dispatching
rules and features read (`next_times`, `next_eligible`, `machine_busy`); everything else
(features, bounds) is derived in `observe` or in `jaxshop.fjsp.features`.
`observation_spec` fills an `FJSPObservation` with `ArraySpec`s in place of the arrays.
"""

from __future__ import annotations

import jax
from flax import struct

from jaxshop.instances.types import FJSPInstance

TIMELINE_EMPTY = 2**31 - 1  # int32 max: marks an empty timeline slot


@struct.dataclass
class MachineTimeline:
    """Per-machine operation intervals sorted by start (insert mode only).

    Empty slots sit at the end of each row and hold `TIMELINE_EMPTY` in both arrays, so a
    row is always sorted and a gap search never needs a count. `N` is the env's
    `timeline_capacity` (default `J * O`). `pair_start` caches the gap search of every
    (job, machine) pair; a step refreshes only the chosen job's row and machine's column.
    """

    start: jax.Array  # (M, N) int32: starts on each machine, ascending; TIMELINE_EMPTY when empty
    end: jax.Array  # (M, N) int32: matching ends; TIMELINE_EMPTY when empty
    pair_start: jax.Array  # (J, M) int32: insert start of each job's next op on each machine


@struct.dataclass
class FJSPState:
    """One partially built schedule. Operations of a job are scheduled in order."""

    instance: FJSPInstance
    next_op: jax.Array  # (J,) int32: index of the job's next unscheduled op; == num_ops when done
    next_times: jax.Array  # (J, M) int32: processing times of the job's next op, 0 when none
    next_eligible: jax.Array  # (J, M) bool: eligible machines of the next op; all False when done
    job_ready: jax.Array  # (J,) int32: end of the job's last scheduled op (0 before the first)
    machine_free: jax.Array  # (M,) int32: latest end of any op on the machine (0 when idle)
    machine_busy: jax.Array  # (M,) int32: total processing time scheduled on the machine
    machine: jax.Array  # (J, O) int32: machine of each op, -1 while unscheduled
    start: jax.Array  # (J, O) int32: start of each op, -1 while unscheduled
    end: jax.Array  # (J, O) int32: end of each op, -1 while unscheduled
    num_scheduled: jax.Array  # () int32: operations scheduled so far
    makespan: jax.Array  # () int32: max end so far (0 at reset)
    normalizer: jax.Array  # () float32: makespan lower bound used by the normalized reward (>= 1)
    timeline: MachineTimeline | None = None  # insert mode only; None in append mode


@struct.dataclass
class FJSPObservation:
    """What an agent sees. `pair_features[j, m]` describes (next op of job j, machine m).

    Feature names are `jaxshop.fjsp.features.STATIC_FEATURES + DYNAMIC_FEATURES`, in
    that order along the last axis, so `pair_features[..., :len(STATIC_FEATURES)]` is the
    static-only view.
    """

    pair_features: jax.Array  # (J, M, F) float32, finite; static features first, dynamic after
    processing_times: jax.Array  # (J, O, M) int32: raw op times (0 where not eligible)
    eligible: jax.Array  # (J, O, M) bool: op may run on machine
    op_mask: jax.Array  # (J, O) bool: the op exists
    next_op: jax.Array  # (J,) int32: next unscheduled op per job (== num_ops when done)
    op_machine: jax.Array  # (J, O) int32: assigned machine, -1 while unscheduled
    op_start: jax.Array  # (J, O) int32: start, -1 while unscheduled
    op_end: jax.Array  # (J, O) int32: end, -1 while unscheduled
    job_ready: jax.Array  # (J,) int32: end of each job's last scheduled op
    machine_free: jax.Array  # (M,) int32: latest end on each machine
    action_mask: jax.Array  # (J * M,) bool: flat `job * M + machine` valid pairs
