"""Schedules and an independent feasibility validator (plain NumPy).

A `Schedule` gives, for every (job, operation), its machine, start and end; it is what
`env.schedule(state)` returns for any env, and what `validate` checks against the
instance alone, without any env code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from flax import struct

from jaxshop.instances.types import FJSPInstance, Instance, PFSPInstance

UNSCHEDULED = -1


@struct.dataclass
class Schedule:
    """Machine, start and end of every (job, operation); -1 where not (yet) scheduled."""

    machine: Any  # (max_jobs, max_ops) int32
    start: Any  # (max_jobs, max_ops) int32
    end: Any  # (max_jobs, max_ops) int32

    def to_records(self) -> list[dict[str, int]]:
        """Scheduled operations as `{job, op, machine, start, end}` dicts (0-based)."""
        machine, start, end = (np.asarray(a) for a in (self.machine, self.start, self.end))
        jobs, ops = np.nonzero(machine >= 0)
        order = np.lexsort((machine[jobs, ops], start[jobs, ops]))
        return [
            {
                "job": int(jobs[i]),
                "op": int(ops[i]),
                "machine": int(machine[jobs[i], ops[i]]),
                "start": int(start[jobs[i], ops[i]]),
                "end": int(end[jobs[i], ops[i]]),
            }
            for i in order
        ]

    @classmethod
    def from_records(cls, records: list[dict[str, int]], shape: tuple[int, int]) -> Schedule:
        """Inverse of `to_records` into a `(max_jobs, max_ops)` schedule."""
        machine = np.full(shape, UNSCHEDULED, np.int32)
        start = np.full(shape, UNSCHEDULED, np.int32)
        end = np.full(shape, UNSCHEDULED, np.int32)
        for r in records:
            j, k = int(r["job"]), int(r["op"])
            if not (0 <= j < shape[0] and 0 <= k < shape[1]):
                raise ValueError(f"record {r} outside a schedule of shape {shape}")
            machine[j, k], start[j, k], end[j, k] = r["machine"], r["start"], r["end"]
        return cls(machine, start, end)

    def crop(self, shape: tuple[int, int]) -> Schedule:
        """The top-left `(num_jobs, num_ops)` block as NumPy: undoes padding."""
        n, k = shape
        return Schedule(*(np.asarray(a)[:n, :k] for a in (self.machine, self.start, self.end)))

    def index(self, i: int) -> Schedule:
        """Element `i` of a batched schedule, as NumPy."""
        return Schedule(*(np.asarray(a)[i] for a in (self.machine, self.start, self.end)))

    @property
    def makespan(self) -> int:
        end = np.asarray(self.end)
        return int(end.max(initial=0))


@dataclasses.dataclass(frozen=True)
class Validation:
    """Outcome of `validate`: truthy when feasible; `reason` names the first violation."""

    feasible: bool
    makespan: int | None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.feasible


def _as_fjsp(instance: Instance) -> FJSPInstance:
    """A flow shop as a job shop whose k-th operation runs on machine k."""
    if isinstance(instance, FJSPInstance):
        return instance
    p = np.asarray(instance.processing_times)
    jm = np.asarray(instance.job_mask)
    mm = np.asarray(instance.machine_mask)
    n, m = p.shape
    elig = np.zeros((n, m, m), bool)
    elig[:, np.arange(m), np.arange(m)] = mm[None, :]
    elig &= jm[:, None, None]
    times = np.zeros((n, m, m), np.int32)
    times[:, np.arange(m), np.arange(m)] = p
    num_ops = np.where(jm, mm.sum(), 0).astype(np.int32)
    return FJSPInstance(times * elig, elig, num_ops, mm)


def validate(instance: Instance, schedule: Schedule) -> Validation:
    """Checks completeness, eligibility, processing times, precedence and machine capacity.

    For a flow shop it also checks that every machine sees the jobs in the same order.
    Returns the makespan when feasible, else the first violation found.
    """
    fj = _as_fjsp(instance)
    elig = np.asarray(fj.eligible)
    times = np.asarray(fj.processing_times)
    op_mask = np.asarray(fj.op_mask)
    machine = np.asarray(schedule.machine)
    start = np.asarray(schedule.start)
    end = np.asarray(schedule.end)
    if machine.shape != op_mask.shape:
        return Validation(False, None, f"schedule shape {machine.shape} != {op_mask.shape}")
    n_jobs, n_ops, n_mach = elig.shape
    for j in range(n_jobs):
        for k in range(n_ops):
            mc = int(machine[j, k])
            if not op_mask[j, k]:
                if mc != UNSCHEDULED:
                    return Validation(
                        False, None, f"job {j} op {k} does not exist but is scheduled"
                    )
                continue
            if mc == UNSCHEDULED:
                return Validation(False, None, f"job {j} op {k} is not scheduled")
            if not (0 <= mc < n_mach) or not elig[j, k, mc]:
                return Validation(False, None, f"job {j} op {k}: machine {mc} is not eligible")
            if start[j, k] < 0:
                return Validation(False, None, f"job {j} op {k}: negative start {start[j, k]}")
            if end[j, k] - start[j, k] != times[j, k, mc]:
                return Validation(
                    False,
                    None,
                    f"job {j} op {k}: runs {end[j, k] - start[j, k]} on machine {mc}, "
                    f"needs {times[j, k, mc]}",
                )
            if k > 0 and start[j, k] < end[j, k - 1]:
                return Validation(
                    False,
                    None,
                    f"job {j} op {k} starts at {start[j, k]} before op {k - 1} ends at "
                    f"{end[j, k - 1]}",
                )
    orders = []
    for mc in range(n_mach):
        jobs, ops = np.nonzero((machine == mc) & op_mask)
        idx = np.lexsort((end[jobs, ops], start[jobs, ops]))
        jobs, ops = jobs[idx], ops[idx]
        s, e = start[jobs, ops], end[jobs, ops]
        for a in range(len(jobs) - 1):
            # Zero-length operations occupy no time and cannot clash.
            if e[a] > s[a + 1] and s[a + 1] < e[a + 1]:
                return Validation(
                    False,
                    None,
                    f"machine {mc}: job {jobs[a]} op {ops[a]} [{s[a]}, {e[a]}) overlaps job "
                    f"{jobs[a + 1]} op {ops[a + 1]} [{s[a + 1]}, {e[a + 1]})",
                )
        orders.append(jobs.tolist())
    if isinstance(instance, PFSPInstance):
        real = [
            o for o, used in zip(orders, np.asarray(instance.machine_mask), strict=False) if used
        ]
        for mc, order in enumerate(real[1:], start=1):
            if order != real[0]:
                return Validation(
                    False, None, f"machine {mc} job order {order} differs from machine 0 {real[0]}"
                )
    makespan = int(end[op_mask].max(initial=0))
    return Validation(True, makespan)


def permutation_schedule(instance: PFSPInstance, permutation) -> Schedule:
    """The semi-active flow-shop schedule of a job permutation (NumPy recurrence)."""
    p = np.asarray(instance.processing_times)
    mm = np.asarray(instance.machine_mask)
    n, m = p.shape
    machine = np.full((n, m), UNSCHEDULED, np.int32)
    start = np.full((n, m), UNSCHEDULED, np.int32)
    end = np.full((n, m), UNSCHEDULED, np.int32)
    free = np.zeros(m, np.int64)
    for j in permutation:
        j = int(j)
        ready = 0
        for k in range(m):
            if not mm[k]:
                continue
            s = max(free[k], ready)
            machine[j, k], start[j, k], end[j, k] = k, s, s + p[j, k]
            free[k] = ready = s + p[j, k]
    return Schedule(machine, start, end)
