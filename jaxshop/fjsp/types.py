"""State and observation of the (flexible) job-shop dispatch env.

Shapes use the padded sizes of the instance: `J = max_jobs`, `O = max_ops`,
`M = max_machines`, `N = J * O` (room for every operation on one machine).

The state holds only what `step` needs plus a few cheap running totals that dispatching
rules and features read (`next_times`, `next_eligible`, `machine_busy`); everything else
(features, bounds) is derived in `observe` or in `jaxshop.fjsp.features`.
"""

from __future__ import annotations

from typing import Any

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

    start: Any  # (M, N) int32: starts on each machine, ascending; TIMELINE_EMPTY when empty
    end: Any  # (M, N) int32: matching ends; TIMELINE_EMPTY when empty
    pair_start: Any  # (J, M) int32: insert start of each job's next op on each machine


@struct.dataclass
class FJSPState:
    """One partially built schedule. Operations of a job are scheduled in order."""

    instance: FJSPInstance
    next_op: Any  # (J,) int32: index of the job's next unscheduled op; == num_ops when done
    next_times: Any  # (J, M) int32: processing times of the job's next op, 0 when none
    next_eligible: Any  # (J, M) bool: eligible machines of the next op; all False when done
    job_ready: Any  # (J,) int32: end of the job's last scheduled op (0 before the first)
    machine_free: Any  # (M,) int32: latest end of any op on the machine (0 when idle)
    machine_busy: Any  # (M,) int32: total processing time scheduled on the machine
    machine: Any  # (J, O) int32: machine of each op, -1 while unscheduled
    start: Any  # (J, O) int32: start of each op, -1 while unscheduled
    end: Any  # (J, O) int32: end of each op, -1 while unscheduled
    num_scheduled: Any  # () int32: operations scheduled so far
    makespan: Any  # () int32: max end so far (0 at reset)
    normalizer: Any  # () float32: makespan lower bound used by the normalized reward (>= 1)
    timeline: MachineTimeline | None = None  # insert mode only; None in append mode


@struct.dataclass
class FJSPObservation:
    """What an agent sees. `pair_features[j, m]` describes (next op of job j, machine m).

    Feature names are `jaxshop.fjsp.features.STATIC_FEATURES + DYNAMIC_FEATURES`, in
    that order along the last axis, so `pair_features[..., :len(STATIC_FEATURES)]` is the
    static-only view.
    """

    pair_features: Any  # (J, M, F) float32, finite; static features first, dynamic after
    processing_times: Any  # (J, O, M) int32: raw op times (0 where not eligible)
    eligible: Any  # (J, O, M) bool: op may run on machine
    op_mask: Any  # (J, O) bool: the op exists
    next_op: Any  # (J,) int32: next unscheduled op per job (== num_ops when done)
    op_machine: Any  # (J, O) int32: assigned machine, -1 while unscheduled
    op_start: Any  # (J, O) int32: start, -1 while unscheduled
    op_end: Any  # (J, O) int32: end, -1 while unscheduled
    job_ready: Any  # (J,) int32: end of each job's last scheduled op
    machine_free: Any  # (M,) int32: latest end on each machine
    action_mask: Any  # (J * M,) bool: flat `job * M + machine` valid pairs
