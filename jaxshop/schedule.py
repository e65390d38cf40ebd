"""Schedules and an independent feasibility validator (plain NumPy).

A `Schedule` gives, for every (job, operation), its machine, start and end; it is what
`env.schedule(state)` returns for any env, and what `validate` checks against the
instance alone, without any env code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import jax
import numpy as np
from flax import struct

from jaxshop.instances.types import INT32_MAX, FJSPInstance, Instance, PFSPInstance

UNSCHEDULED = -1


@struct.dataclass
class Schedule:
    """Machine, start and end of every (job, operation); -1 where not (yet) scheduled.

    JAX arrays from `env.schedule` (leading batch axes when batched), NumPy when built on
    the host (`from_records`, `crop`, `permutation_schedule`). A flow shop's op `k` runs on
    machine `k`, so there `max_ops = max_machines`.
    """

    machine: jax.Array | np.ndarray  # (max_jobs, max_ops) int32
    start: jax.Array | np.ndarray  # (max_jobs, max_ops) int32
    end: jax.Array | np.ndarray  # (max_jobs, max_ops) int32

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


def _first(mask: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first True entry of `mask` (row-major), or None."""
    hits = np.argwhere(mask)
    return None if not len(hits) else tuple(int(i) for i in hits[0])


def validate(instance: Instance, schedule: Schedule) -> Validation:
    """Checks completeness, eligibility, processing times, precedence and machine capacity.

    For a flow shop it also checks that every machine sees the jobs in the same order.
    Times are checked in int64: a negative time, an end before its start or a time beyond
    int32 (a wrapped sum) is a violation. Vectorized NumPy (no loop over jobs or machines).
    Returns the makespan when feasible, else the first violation found.
    """
    fj = _as_fjsp(instance)
    elig = np.asarray(fj.eligible)
    times = np.asarray(fj.processing_times).astype(np.int64)
    op_mask = np.asarray(fj.op_mask)
    machine = np.asarray(schedule.machine).astype(np.int64)
    start = np.asarray(schedule.start).astype(np.int64)
    end = np.asarray(schedule.end).astype(np.int64)
    if not machine.shape == start.shape == end.shape == op_mask.shape:
        return Validation(
            False, None, f"schedule shape {machine.shape} != instance shape {op_mask.shape}"
        )
    n_mach = elig.shape[-1]
    fail = lambda why: Validation(False, None, why)  # noqa: E731
    if (at := _first(~op_mask & (machine != UNSCHEDULED))) is not None:
        return fail(f"job {at[0]} op {at[1]} does not exist but is scheduled")
    if (at := _first(op_mask & (machine == UNSCHEDULED))) is not None:
        return fail(f"job {at[0]} op {at[1]} is not scheduled")
    mc = np.clip(machine, 0, n_mach - 1)
    jj, kk = np.indices(op_mask.shape)
    ok_machine = (machine >= 0) & (machine < n_mach) & elig[jj, kk, mc]
    if (at := _first(op_mask & ~ok_machine)) is not None:
        return fail(f"job {at[0]} op {at[1]}: machine {machine[at]} is not eligible")
    if (at := _first(op_mask & (start < 0))) is not None:
        return fail(f"job {at[0]} op {at[1]}: negative start {start[at]}")
    if (at := _first(op_mask & (end > INT32_MAX))) is not None:
        return fail(f"job {at[0]} op {at[1]}: end {end[at]} beyond int32 (overflow)")
    need = times[jj, kk, mc]
    if (at := _first(op_mask & (end - start != need))) is not None:
        return fail(
            f"job {at[0]} op {at[1]}: runs {end[at] - start[at]} on machine {machine[at]}, "
            f"needs {need[at]}"
        )
    late = np.zeros_like(op_mask)
    late[:, 1:] = op_mask[:, 1:] & (start[:, 1:] < end[:, :-1])
    if (at := _first(late)) is not None:
        j, k = at
        return fail(
            f"job {j} op {k} starts at {start[j, k]} before op {k - 1} ends at {end[j, k - 1]}"
        )
    # Machine capacity: the scheduled operations sorted by (machine, start, end); two
    # neighbours on one machine must not overlap (zero-length operations never clash).
    jobs, ops = np.nonzero(op_mask)
    m_, s_, e_ = machine[jobs, ops], start[jobs, ops], end[jobs, ops]
    order = np.lexsort((e_, s_, m_))
    jobs, ops, m_, s_, e_ = jobs[order], ops[order], m_[order], s_[order], e_[order]
    clash = (m_[:-1] == m_[1:]) & (e_[:-1] > s_[1:]) & (s_[1:] < e_[1:])
    if clash.any():
        a = int(np.argmax(clash))
        return fail(
            f"machine {m_[a]}: job {jobs[a]} op {ops[a]} [{s_[a]}, {e_[a]}) overlaps job "
            f"{jobs[a + 1]} op {ops[a + 1]} [{s_[a + 1]}, {e_[a + 1]})"
        )
    if isinstance(instance, PFSPInstance):
        # Same job order on every real machine: op k of a flow shop runs on machine k.
        jm = np.asarray(instance.job_mask)
        mm = np.asarray(instance.machine_mask)
        real_jobs = np.flatnonzero(jm)
        real_machines = np.flatnonzero(mm)
        if len(real_jobs) and len(real_machines):
            # Sort each machine's jobs by (start, end); zero-length operations can tie, so
            # ties go by the job's starts and ends summed over all machines, then by index:
            # in a permutation schedule every key is monotone along the sequence, so a
            # valid schedule sorts the same way on every machine.
            st = start[np.ix_(real_jobs, real_machines)]  # (jobs, machines)
            en = end[np.ix_(real_jobs, real_machines)]
            tie = np.broadcast_to
            keys = (
                tie(real_jobs[:, None], st.shape),
                tie(en.sum(1, keepdims=True), st.shape),
                tie(st.sum(1, keepdims=True), st.shape),
                en,
                st,
            )
            orders = real_jobs[np.lexsort(keys, axis=0)]
            differs = (orders != orders[:, :1]).any(0)
            if differs.any():
                k = int(np.argmax(differs))
                return fail(
                    f"machine {real_machines[k]} job order {orders[:, k].tolist()} differs "
                    f"from machine {real_machines[0]} {orders[:, 0].tolist()}"
                )
    makespan = int(end[op_mask].max(initial=0))
    return Validation(True, makespan)


def permutation_schedule(
    instance: PFSPInstance, permutation: Iterable[int] | np.ndarray | jax.Array
) -> Schedule:
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
