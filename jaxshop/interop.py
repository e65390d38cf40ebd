"""Instances and schedules to and from PyJobShop and job-shop-lib (optional extra `.[interop]`).

- PyJobShop (`pyjobshop.ProblemData` / `pyjobshop.Solution`): `to_pyjobshop(instance,
  schedule=None)` gives the problem data (one machine resource per machine, one task per
  operation with one mode per eligible machine, the job's operations chained by
  end-before-start constraints; a flow shop adds same-sequence constraints between
  consecutive machines), and with a schedule also the solution; `from_pyjobshop(data,
  solution=None)` reads such data back (a flow shop when every job visits machines
  0..m-1 in order under same-sequence constraints, else a (flexible) job shop), and the
  schedule of a solution.
- job-shop-lib (`JobShopInstance` / `Schedule`): `to_job_shop_lib(instance,
  schedule=None)` and `from_job_shop_lib(instance_or_schedule)`. Its operations have one
  duration for all their machines, so a flexible job shop whose times depend on the
  machine, and a flow shop (its permutation constraint), are refused with a ValueError.

A round trip keeps the operations, their machines and times, and a schedule's starts, so
the makespan is the same (`tests/instances/test_interop.py`, every shipped suite).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxshop.instances.types import FJSPInstance, Instance, PFSPInstance
from jaxshop.schedule import Schedule, validate


def _need(module: str, extra: str = "interop") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"{module.split('.')[0]} is not installed: pip install "
                         f"'jaxshop[{extra}]'") from None


def _operations(instance: Instance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(times (J, O, M), eligible (J, O, M), num_ops (J,))` of the real jobs, ops and
    machines (a flow shop's op `k` on machine `k`)."""
    if isinstance(instance, PFSPInstance):
        p = np.asarray(instance.processing_times)
        n, m = int(np.asarray(instance.job_mask).sum()), int(np.asarray(
            instance.machine_mask).sum())
        eligible = np.broadcast_to(np.eye(m, dtype=bool), (n, m, m))
        return p[:n, :m, None] * eligible, eligible, np.full(n, m)
    ops = np.asarray(instance.num_ops)
    jobs, machines = int((ops > 0).sum()), int(np.asarray(instance.machine_mask).sum())
    width = int(ops[:jobs].max()) if jobs else 0
    return (np.asarray(instance.processing_times)[:jobs, :width, :machines],
            np.asarray(instance.eligible)[:jobs, :width, :machines], ops[:jobs])


def _checked(instance: Instance, schedule: Schedule) -> Schedule:
    check = validate(instance, schedule)
    if not check:
        raise ValueError(f"the schedule is not feasible for the instance: {check.reason}")
    return schedule


# ----------------------------------------------------------------------------- PyJobShop


def to_pyjobshop(instance: Instance, schedule: Schedule | None = None) -> Any:
    """PyJobShop's `ProblemData` of `instance`; `(data, Solution)` with a schedule."""
    pj = _need("pyjobshop")
    times, eligible, num_ops = _operations(instance)
    machines = [pj.Machine(name=f"machine {k}") for k in range(eligible.shape[-1])]
    tasks, modes, jobs, chain = [], [], [], []
    task_of: dict[tuple[int, int], int] = {}
    mode_of: dict[tuple[int, int], int] = {}  # (task, machine) -> mode
    for j, count in enumerate(num_ops):
        ids = []
        for o in range(int(count)):
            task_of[j, o] = len(tasks)
            ids.append(len(tasks))
            tasks.append(pj.Task(job=j, name=f"job {j} op {o}"))
            for k in map(int, np.flatnonzero(eligible[j, o])):
                mode_of[task_of[j, o], k] = len(modes)
                modes.append(pj.Mode(task_of[j, o], [k], int(times[j, o, k])))
        chain += [pj.EndBeforeStart(a, b) for a, b in zip(ids, ids[1:], strict=False)]
        jobs.append(pj.Job(tasks=ids, name=f"job {j}"))
    same = []
    if isinstance(instance, PFSPInstance):  # one job order on every machine
        n, m = len(num_ops), eligible.shape[-1]
        same = [pj.SameSequence(k, k + 1, [task_of[j, k] for j in range(n)],
                                [task_of[j, k + 1] for j in range(n)]) for k in range(m - 1)]
    data = pj.ProblemData(jobs, machines, tasks, modes, pj.Constraints(
        end_before_start=chain, same_sequence=same))
    if schedule is None:
        return data
    _checked(instance, schedule)
    machine, start, end = (np.asarray(a) for a in (schedule.machine, schedule.start,
                                                    schedule.end))
    scheduled = []
    for (j, o), t in sorted(task_of.items(), key=lambda kv: kv[1]):
        k = int(machine[j, o])
        scheduled.append(pj.ScheduledTask(mode_of[t, k], [k], int(start[j, o]),
                                          int(end[j, o])))
    return data, pj.Solution(data, scheduled)


def from_pyjobshop(data: Any, solution: Any = None) -> Instance | tuple[Instance, Schedule]:
    """The instance of a PyJobShop job-shop `ProblemData` (tasks in job chains, one
    machine per mode); `(instance, schedule)` with a `Solution`. ValueError for data
    that is not a (flexible) job shop or flow shop with a makespan objective."""
    pj = _need("pyjobshop")
    if any(not isinstance(r, pj.Machine) for r in data.resources):
        raise ValueError("from_pyjobshop: only machine resources are supported")
    machines = len(data.resources)
    jobs = [list(job.tasks) for job in data.jobs]
    if sorted(t for ts in jobs for t in ts) != list(range(len(data.tasks))):
        raise ValueError("from_pyjobshop: every task must belong to exactly one job")
    chained = {(c.task1, c.task2) for c in data.constraints.end_before_start}
    for ts in jobs:
        if any((a, b) not in chained for a, b in zip(ts, ts[1:], strict=False)):
            raise ValueError("from_pyjobshop: each job's tasks must be chained by "
                             "end-before-start constraints")
    width = max((len(ts) for ts in jobs), default=0)
    times = np.zeros((len(jobs), width, machines), np.int32)
    place = {t: (j, o) for j, ts in enumerate(jobs) for o, t in enumerate(ts)}
    for mode in data.modes:
        if len(mode.resources) != 1:
            raise ValueError("from_pyjobshop: a mode must use exactly one machine")
        j, o = place[mode.task]
        times[j, o, mode.resources[0]] = mode.duration
    eligible = np.zeros(times.shape, bool)
    for mode in data.modes:
        j, o = place[mode.task]
        eligible[j, o, mode.resources[0]] = True
    num_ops = np.array([len(ts) for ts in jobs], np.int32)
    flow = (len(data.constraints.same_sequence) == machines - 1 and machines > 0
            and all(n == machines for n in num_ops)
            and (eligible == np.eye(machines, dtype=bool)[None]).all())
    instance: Instance
    if flow:
        instance = PFSPInstance.from_array(times.sum(-1))
    else:
        instance = FJSPInstance(processing_times=times, eligible=eligible, num_ops=num_ops,
                                machine_mask=np.ones(machines, bool))
    if solution is None:
        return instance
    machine = np.full(times.shape[:2], -1, np.int32)
    start, end = machine.copy(), machine.copy()
    for t, task in enumerate(solution.tasks):
        j, o = place[t]
        machine[j, o] = task.resources[0]
        start[j, o], end[j, o] = task.start, task.end
    return instance, _checked(instance, Schedule(machine=machine, start=start, end=end))


# --------------------------------------------------------------------------- job-shop-lib


def to_job_shop_lib(instance: Instance, schedule: Schedule | None = None,
                    name: str = "jaxshop") -> Any:
    """job-shop-lib's `JobShopInstance`; its `Schedule` when a schedule is given."""
    jsl = _need("job_shop_lib")
    if isinstance(instance, PFSPInstance):
        raise ValueError("to_job_shop_lib: job-shop-lib has no permutation flow shop (its "
                         "job shops lose the same-order constraint)")
    times, eligible, num_ops = _operations(instance)
    jobs = []
    for j, count in enumerate(num_ops):
        ops = []
        for o in range(int(count)):
            ks = [int(k) for k in np.flatnonzero(eligible[j, o])]
            durations = {int(times[j, o, k]) for k in ks}
            if len(durations) > 1:
                raise ValueError(f"to_job_shop_lib: job {j} op {o} takes different times on "
                                 "its machines; job-shop-lib's operations have one duration")
            ops.append(jsl.Operation(ks[0] if len(ks) == 1 else ks, durations.pop()))
        jobs.append(ops)
    lib_instance = jsl.JobShopInstance(jobs, name=name)
    if schedule is None:
        return lib_instance
    _checked(instance, schedule)
    machine, start = np.asarray(schedule.machine), np.asarray(schedule.start)
    per_machine: list[list[Any]] = [[] for _ in range(eligible.shape[-1])]
    for j, ops in enumerate(lib_instance.jobs):
        for o, op in enumerate(ops):
            per_machine[int(machine[j, o])].append(
                jsl.ScheduledOperation(op, int(start[j, o]), int(machine[j, o])))
    for row in per_machine:
        row.sort(key=lambda s: s.start_time)
    return jsl.Schedule(lib_instance, per_machine)


def from_job_shop_lib(obj: Any) -> Instance | tuple[Instance, Schedule]:
    """The instance of a `JobShopInstance`; `(instance, schedule)` of a `Schedule`."""
    jsl = _need("job_shop_lib")
    lib_instance = obj.instance if isinstance(obj, jsl.Schedule) else obj
    jobs = lib_instance.jobs
    machines = int(lib_instance.num_machines)
    width = max((len(ops) for ops in jobs), default=0)
    times = np.zeros((len(jobs), width, machines), np.int32)
    eligible = np.zeros(times.shape, bool)
    for j, ops in enumerate(jobs):
        for o, op in enumerate(ops):
            for k in op.machines:
                times[j, o, k], eligible[j, o, k] = op.duration, True
    instance = FJSPInstance(processing_times=times, eligible=eligible,
                            num_ops=np.array([len(ops) for ops in jobs], np.int32),
                            machine_mask=np.ones(machines, bool))
    if not isinstance(obj, jsl.Schedule):
        return instance
    machine = np.full(times.shape[:2], -1, np.int32)
    start, end = machine.copy(), machine.copy()
    for row in obj.schedule:
        for s in row:
            j, o = s.operation.job_id, s.operation.position_in_job
            machine[j, o], start[j, o] = s.machine_id, s.start_time
            end[j, o] = s.start_time + s.operation.duration
    return instance, _checked(instance, Schedule(machine=machine, start=start, end=end))


__all__ = ["from_job_shop_lib", "from_pyjobshop", "to_job_shop_lib", "to_pyjobshop"]
