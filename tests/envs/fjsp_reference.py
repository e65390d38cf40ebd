"""A plain NumPy/Python reference simulator of flexible job-shop dispatching.

Written from the env's documented rules only (no jaxshop env code), so the tests can
compare the JAX env against it step by step:

- An action `a` means `(job, machine) = divmod(a, num_machines_padded)`: the job's next
  unscheduled operation runs on that machine. It is valid iff the job has an operation
  left and the machine is eligible for it (and is a real machine).
- Invalid or out-of-range actions are replaced by the lowest valid flat index.
- "append": the operation starts at `max(job ready, end of the machine's last op)`.
- "insert": the machine's operations are walked in start order; the operation goes into
  the first idle gap `[previous end, next start)` with `max(ready, previous end) + time
  <= next start`, else after the last operation.
- The dense reward is minus the increase of the max end so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class StepRecord:
    """What one decision did."""

    action: int  # the flat action actually executed
    invalid: bool  # the requested action was replaced
    job: int
    op: int
    machine: int
    start: int
    end: int
    ready: int  # the job's ready time when the op was scheduled
    reward: float  # dense reward


@dataclass
class ReferenceFJSP:
    """Mutable reference simulator over one (possibly padded) instance."""

    times: np.ndarray  # (J, O, M) int
    eligible: np.ndarray  # (J, O, M) bool
    num_ops: np.ndarray  # (J,) int
    machine_mask: np.ndarray  # (M,) bool
    mode: str = "append"
    next_op: list[int] = field(init=False)
    ready: list[int] = field(init=False)
    timelines: list[list[tuple[int, int]]] = field(init=False)  # per machine, by start
    machine: np.ndarray = field(init=False)
    start: np.ndarray = field(init=False)
    end: np.ndarray = field(init=False)
    makespan: int = field(init=False, default=0)
    records: list[StepRecord] = field(init=False, default_factory=list)

    def __post_init__(self):
        self.times = np.asarray(self.times, np.int64)
        self.eligible = np.asarray(self.eligible, bool)
        self.num_ops = np.asarray(self.num_ops, np.int64)
        self.machine_mask = np.asarray(self.machine_mask, bool)
        n_jobs, n_ops, n_mach = self.eligible.shape
        self.next_op = [0] * n_jobs
        self.ready = [0] * n_jobs
        self.timelines = [[] for _ in range(n_mach)]
        self.machine = np.full((n_jobs, n_ops), -1, np.int64)
        self.start = np.full((n_jobs, n_ops), -1, np.int64)
        self.end = np.full((n_jobs, n_ops), -1, np.int64)

    @property
    def num_machines(self) -> int:
        return self.eligible.shape[2]

    def is_valid(self, job: int, mach: int) -> bool:
        k = self.next_op[job]
        if k >= self.num_ops[job]:
            return False
        return bool(self.eligible[job, k, mach] and self.machine_mask[mach])

    def valid_actions(self) -> list[int]:
        n_jobs, _, n_mach = self.eligible.shape
        return [j * n_mach + m for j in range(n_jobs) for m in range(n_mach)
                if self.is_valid(j, m)]

    def done(self) -> bool:
        return all(self.next_op[j] >= self.num_ops[j] for j in range(len(self.next_op)))

    def _start_on(self, mach: int, ready: int, time: int) -> tuple[int, int]:
        """(start, insertion position) of an op on a machine's timeline."""
        line = self.timelines[mach]
        if self.mode == "append":
            last_end = max((e for _, e in line), default=0)
            return max(ready, last_end), len(line)
        prev_end = 0
        for pos, (s, e) in enumerate(line):
            cand = max(ready, prev_end)
            if cand + time <= s:
                return cand, pos
            prev_end = e
        return max(ready, prev_end), len(line)

    def pair_starts(self) -> np.ndarray:
        """(J, M) start each valid (job, machine) pair would get now; -1 where invalid."""
        n_jobs, _, n_mach = self.eligible.shape
        out = np.full((n_jobs, n_mach), -1, np.int64)
        for j in range(n_jobs):
            for m in range(n_mach):
                if self.is_valid(j, m):
                    time = int(self.times[j, self.next_op[j], m])
                    out[j, m] = self._start_on(m, self.ready[j], time)[0]
        return out

    def step(self, action: int) -> StepRecord | None:
        """Applies one action; returns None (and changes nothing) once done."""
        if self.done():
            return None
        n_mach = self.num_machines
        in_range = 0 <= action < len(self.next_op) * n_mach
        invalid = not (in_range and self.is_valid(*divmod(action, n_mach)))
        if invalid:
            action = self.valid_actions()[0]
        job, mach = divmod(action, n_mach)
        k = self.next_op[job]
        time = int(self.times[job, k, mach])
        ready = self.ready[job]
        start, pos = self._start_on(mach, ready, time)
        if self.mode == "append":
            self.timelines[mach].append((start, start + time))
        else:
            self.timelines[mach].insert(pos, (start, start + time))
        end = start + time
        self.machine[job, k], self.start[job, k], self.end[job, k] = mach, start, end
        self.next_op[job] += 1
        self.ready[job] = end
        before = self.makespan
        self.makespan = max(self.makespan, end)
        record = StepRecord(action, invalid, job, k, mach, start, end, ready,
                            -float(self.makespan - before))
        self.records.append(record)
        return record


def from_instance(instance, mode: str) -> ReferenceFJSP:
    """A reference simulator over the arrays of an `FJSPInstance` (NumPy or JAX)."""
    return ReferenceFJSP(
        np.asarray(instance.processing_times),
        np.asarray(instance.eligible),
        np.asarray(instance.num_ops),
        np.asarray(instance.machine_mask),
        mode,
    )


def random_instance(rng: np.random.Generator, num_jobs: int, num_machines: int,
                    max_ops: int, low: int = 1, high: int = 9,
                    job_shop: bool = False) -> list[list[dict[int, int]]]:
    """Random `jobs[j][k] = {machine: time}` operations (for `FJSPInstance.from_operations`)."""
    jobs = []
    for _ in range(num_jobs):
        n_ops = int(rng.integers(1, max_ops + 1))
        ops = []
        for _ in range(n_ops):
            count = 1 if job_shop else int(rng.integers(1, num_machines + 1))
            machines = rng.choice(num_machines, size=count, replace=False)
            ops.append({int(m): int(rng.integers(low, high + 1)) for m in machines})
        jobs.append(ops)
    return jobs
