"""The `cpsat` method: OR-Tools CP-SAT, the exact reference with a proven lower bound.

One interval model per problem, built from the exact-size instance:

- flexible job shop (the job shop is the case of one eligible machine): per operation a
  start and an end, and per eligible machine an optional interval of that machine's
  duration with a presence literal, exactly one present; operations of a job in order;
  the intervals of a machine never overlap;
- permutation flow shop: per job and machine an interval, machines in order, intervals
  of a machine never overlap, and one order literal per pair of jobs that holds on every
  machine (a permutation schedule);
- the objective is the makespan (the latest end).

`solve_instance` runs CP-SAT for `time_limit` seconds with `workers` search workers and a
seed, optionally hinted with another schedule (a warm start), and returns the schedule,
CP-SAT's proven lower bound, its status ("optimal" or "feasible") and the time used.
The method (`cpsat`, extra `.[cpsat]`) solves a list of instances with up to `workers`
CP-SAT workers in all: each instance gets `min(workers, PORTFOLIO)` workers (CP-SAT's
portfolio, LNS included, needs several: on Brandimarte and Taillard two workers on one
instance beat one worker on each of two at the same time limit) and `workers // that`
instances are solved at a time. Each solve runs in a thread: CP-SAT's search is C++ that
releases the GIL and runs its own worker threads, so threads use the cores as processes
would, without pickling instances and schedules, and one Ctrl-C (`StopSearch` on every
running solver) stops them all at once. Progress after each instance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jaxshop_baselines.methods import Method, ProgressFn, Solution, register_method

from jaxshop import __version__
from jaxshop.instances.types import Instance, PFSPInstance
from jaxshop.schedule import Schedule, permutation_schedule, validate

DEFAULT_TIME_LIMIT = 10.0  # seconds per instance when --time-limit is not given
#: The largest model built: `jobs^2 x machines` (a flow shop's pair constraints) or
#: operations x eligible machines; beyond it the model alone takes minutes to build.
MAX_MODEL_TERMS = 2_000_000


def _cp_model() -> Any:
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        raise ValueError("method 'cpsat' needs OR-Tools: pip install 'jaxshop[cpsat]'"
                         ) from None
    return cp_model


@dataclasses.dataclass(frozen=True)
class CPSATResult:
    """What one CP-SAT run found on one instance (the schedule exact-size)."""

    schedule: Schedule
    makespan: int
    lower_bound: int
    status: str  # "optimal" (proven) or "feasible"
    seconds: float
    permutation: list[int] | None = None  # flow shops


def model_terms(instance: Instance) -> int:
    """The model's size in constraint terms (what `MAX_MODEL_TERMS` bounds)."""
    if isinstance(instance, PFSPInstance):
        n = int(np.asarray(instance.job_mask).sum())
        m = int(np.asarray(instance.machine_mask).sum())
        return n * n * m
    return int(np.asarray(instance.eligible)[np.asarray(instance.op_mask)].sum())


class _Model:
    """The CP-SAT model of one exact-size instance and the variables to read back."""

    def __init__(self, instance: Instance) -> None:
        cp_model = _cp_model()
        self.model = m = cp_model.CpModel()
        self.flow_shop = isinstance(instance, PFSPInstance)
        if self.flow_shop:  # op k of every job on machine k
            p = np.asarray(instance.processing_times, np.int64)
            elig = np.broadcast_to(np.eye(p.shape[1], dtype=bool), (p.shape[0],) + p.shape[1:] * 2)
            times = p[:, :, None] * elig
            num_ops = np.full(p.shape[0], p.shape[1])
        else:
            times = np.asarray(instance.processing_times, np.int64)
            elig = np.asarray(instance.eligible, bool)
            num_ops = np.asarray(instance.num_ops)
        self.shape = elig.shape[:2]
        jobs, _, machines = elig.shape
        horizon = int(sum(times[j, o][elig[j, o]].max() for j in range(jobs)
                          for o in range(num_ops[j])))
        self.start: dict[tuple[int, int], Any] = {}
        self.end: dict[tuple[int, int], Any] = {}
        #: (job, op) -> its machine, or {machine: presence literal} when it has a choice
        self.machine: dict[tuple[int, int], int | dict[int, Any]] = {}
        on_machine: list[list[Any]] = [[] for _ in range(machines)]
        for j in range(jobs):
            for o in range(num_ops[j]):
                s = m.NewIntVar(0, horizon, f"s{j}_{o}")
                e = m.NewIntVar(0, horizon, f"e{j}_{o}")
                self.start[j, o], self.end[j, o] = s, e
                if o > 0:
                    m.Add(s >= self.end[j, o - 1])
                choices = [int(k) for k in np.flatnonzero(elig[j, o])]
                if len(choices) == 1:
                    k = choices[0]
                    on_machine[k].append(m.NewIntervalVar(s, int(times[j, o, k]), e, ""))
                    self.machine[j, o] = k
                    continue
                present = {k: m.NewBoolVar(f"x{j}_{o}_{k}") for k in choices}
                for k, lit in present.items():
                    on_machine[k].append(m.NewOptionalIntervalVar(
                        s, int(times[j, o, k]), e, lit, ""))
                m.AddExactlyOne(present.values())
                self.machine[j, o] = present
        for intervals in on_machine:
            if len(intervals) > 1:
                m.AddNoOverlap(intervals)
        self.order: dict[tuple[int, int], Any] = {}
        if self.flow_shop:  # one order per job pair, the same on every machine
            for a in range(jobs):
                for b in range(a + 1, jobs):
                    first = m.NewBoolVar(f"o{a}_{b}")
                    self.order[a, b] = first
                    for k in range(machines):
                        m.Add(self.end[a, k] <= self.start[b, k]).OnlyEnforceIf(first)
                        m.Add(self.end[b, k] <= self.start[a, k]).OnlyEnforceIf(first.Not())
        self.makespan = m.NewIntVar(0, horizon, "makespan")
        m.AddMaxEquality(self.makespan, [self.end[j, num_ops[j] - 1] for j in range(jobs)
                                         if num_ops[j] > 0])
        m.Minimize(self.makespan)

    def hint(self, schedule: Schedule) -> None:
        """A warm start: every start, machine choice and job order of `schedule`."""
        machine, start = np.asarray(schedule.machine), np.asarray(schedule.start)
        for (j, o), var in self.start.items():
            self.model.AddHint(var, int(start[j, o]))
            self.model.AddHint(self.end[j, o], int(np.asarray(schedule.end)[j, o]))
            if isinstance(choice := self.machine[j, o], dict):
                for k, lit in choice.items():
                    self.model.AddHint(lit, int(machine[j, o] == k))
        for (a, b), lit in self.order.items():
            self.model.AddHint(lit, int(start[a, 0] <= start[b, 0]))

    def schedule(self, solver: Any) -> Schedule:
        machine = np.full(self.shape, -1, np.int32)
        start = np.full(self.shape, -1, np.int32)
        end = np.full(self.shape, -1, np.int32)
        for (j, o), var in self.start.items():
            start[j, o] = solver.Value(var)
            end[j, o] = solver.Value(self.end[j, o])
            choice = self.machine[j, o]
            machine[j, o] = (choice if isinstance(choice, int) else
                             next(k for k, lit in choice.items() if solver.BooleanValue(lit)))
        return Schedule(machine=machine, start=start, end=end)


class _Stops:
    """The solvers running now, so that Ctrl-C stops every search at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.solvers: set[Any] = set()
        self.stopped = False

    def stop_all(self) -> None:
        with self.lock:
            self.stopped = True
            for solver in self.solvers:
                solver.StopSearch()


def solve_instance(instance: Instance, time_limit: float = DEFAULT_TIME_LIMIT,
                   workers: int = 1, seed: int = 0, hint: Schedule | None = None,
                   source: str = "instance", _stops: _Stops | None = None) -> CPSATResult:
    """CP-SAT on one exact-size instance; ValueError when it finds no schedule in time."""
    cp_model = _cp_model()
    terms = model_terms(instance)
    if terms > MAX_MODEL_TERMS:
        raise ValueError(f"cpsat: {source} is too large for the model ({terms:,} terms > "
                         f"{MAX_MODEL_TERMS:,})")
    t0 = time.perf_counter()
    built = _Model(instance)
    if hint is not None:
        built.hint(hint)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed) % (2**31)
    # Ctrl-C is ours (`solve_many` stops every search and raises): CP-SAT's own handler
    # would swallow it, ending one instance early and going on with the next
    solver.parameters.catch_sigint_signal = False
    if _stops is not None:
        with _stops.lock:
            if _stops.stopped:
                raise KeyboardInterrupt
            _stops.solvers.add(solver)
    try:
        code = solver.Solve(built.model)
    finally:
        if _stops is not None:
            with _stops.lock:
                _stops.solvers.discard(solver)
    seconds = time.perf_counter() - t0
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if _stops is not None and _stops.stopped:
            raise KeyboardInterrupt
        raise ValueError(f"cpsat found no schedule for {source} in {time_limit:g} s "
                         f"(status {solver.StatusName(code)}); give a longer --time-limit "
                         "or a --warm-start")
    schedule = built.schedule(solver)
    permutation = None
    if built.flow_shop:  # the same order on every machine: the permutation's schedule
        permutation = [int(j) for j in np.argsort(schedule.start[:, 0], kind="stable")]
        schedule = permutation_schedule(instance, permutation)
    check = validate(instance, schedule)
    if not check:
        raise AssertionError(f"cpsat: an infeasible schedule for {source}: {check.reason}")
    status = "optimal" if code == cp_model.OPTIMAL else "feasible"
    bound = int(np.ceil(solver.BestObjectiveBound() - 1e-6))
    makespan = int(check.makespan)
    return CPSATResult(schedule, makespan, min(bound, makespan), status,
                       round(seconds, 3), permutation)


#: CP-SAT workers one instance gets at most by default (its portfolio, LNS included)
PORTFOLIO = 8


def instance_split(count: int, workers: int | None, per_instance: int | None = None
                   ) -> tuple[int, int]:
    """`(instances at a time, workers each)` for `count` instances and `workers` in all
    (None: the CPU count)."""
    workers = workers or os.cpu_count() or 1
    each = max(1, min(workers, per_instance or PORTFOLIO))
    return max(1, min(count, workers // each)), each


def solve_many(instances: Sequence[Instance], time_limit: float = DEFAULT_TIME_LIMIT,
               workers: int | None = None, seed: int = 0,
               hints: Sequence[Schedule | None] | None = None,
               progress: ProgressFn | None = None, per_instance: int | None = None
               ) -> list[CPSATResult]:
    """`solve_instance` on every instance with up to `workers` CP-SAT workers in all
    (default: the CPU count), `per_instance` each (default `min(workers, PORTFOLIO)`;
    `instance_split`); `progress(fraction done)` after each; Ctrl-C stops every search."""
    parallel, each = instance_split(len(instances), workers, per_instance)
    hints = hints or [None] * len(instances)
    stops = _Stops()
    results: list[CPSATResult | None] = [None] * len(instances)
    pool = ThreadPoolExecutor(max_workers=parallel)
    try:
        pending = {pool.submit(solve_instance, inst, time_limit, each, seed, hints[i],
                               f"instance {i}", stops): i
                   for i, inst in enumerate(instances)}
        done = 0
        while pending:
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                results[pending.pop(future)] = future.result()
                done += 1
                if progress is not None:
                    progress(done / len(instances))
    except BaseException:
        stops.stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results  # type: ignore[return-value]


def bounds_dir() -> Path | None:
    """Where CP-SAT bounds are cached: `cpsat-bounds` beside the compile cache
    (`jaxshop.xla_cache.cache_dir`; None when that cache is turned off)."""
    from jaxshop.xla_cache import cache_dir

    base = cache_dir()
    return None if base is None else base.parent / "cpsat-bounds"


def instance_digest(instance: Instance) -> str:
    """A digest of an instance's content (its arrays and problem), the cache key."""
    h = hashlib.sha256(type(instance).__name__.encode())
    for leaf in jax.tree_util.tree_leaves(instance):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


def cached_bounds(instances: Sequence[Instance], seconds: float, workers: int | None = None,
                  progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """`{lower_bound, upper_bound, status, seconds}` of CP-SAT at `seconds` per instance
    for each instance, read from the disk cache by instance content and time limit when
    there, else solved (`solve_many`) and written there."""
    folder = bounds_dir()
    keys = [f"{instance_digest(inst)}-{seconds:g}s" for inst in instances]
    found: dict[int, dict[str, Any]] = {}
    for i, key in enumerate(keys):
        path = None if folder is None else folder / f"{key}.json"
        if path is not None and path.is_file():
            try:
                found[i] = json.loads(path.read_text())
            except ValueError:  # a damaged entry is solved again
                pass
    todo = [i for i in range(len(instances)) if i not in found]
    if todo:
        done = solve_many([instances[i] for i in todo], seconds, workers, progress=progress)
        for i, r in zip(todo, done, strict=True):
            found[i] = {"lower_bound": r.lower_bound, "upper_bound": r.makespan,
                        "status": r.status, "seconds": r.seconds}
            if folder is not None:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / f"{keys[i]}.json").write_text(json.dumps(found[i]) + "\n")
                except OSError:  # an unwritable cache only costs the next run time
                    pass
    elif progress is not None:
        progress(1.0)
    return [found[i] for i in range(len(instances))]


def _warm_start(spec: str | None, instances: list[Instance], seed: int
                ) -> list[Schedule | None]:
    """The schedules of method `spec` on `instances` (CP-SAT's hints); none without one."""
    if spec is None:
        return [None] * len(instances)
    from jaxshop_baselines.methods import get_method

    if spec.partition(":")[0] == "cpsat":
        raise ValueError("cpsat: --warm-start names another method, not cpsat")
    return [s.schedule for s in get_method(spec).solve(instances, jax.random.PRNGKey(seed))]


def estimate_cpsat(instances: Sequence[Instance], options: dict[str, Any]) -> Any:
    """Wall time: the time limit per instance, `instance_split` of them at a time. No
    device call: every search stops on Ctrl-C, so only the total is bounded."""
    from jaxshop_baselines.limits import Estimate

    limit = float(options.get("time_limit") or DEFAULT_TIME_LIMIT)
    rounds = -(-len(instances) // instance_split(len(instances), options.get("workers"))[0])
    return Estimate(rounds * limit, 0.0, f"{len(instances)} instance(s) x {limit:g} s")


@register_method(
    "cpsat", f"OR-Tools CP-SAT with a proven lower bound (extra .[cpsat]); --time-limit "
    f"seconds per instance (default {DEFAULT_TIME_LIMIT:g}), --workers in all, "
    "--warm-start METHOD", options=("seed", "time_limit", "workers", "warm_start"),
    problems=("pfsp", "jssp", "fjsp"), estimate=estimate_cpsat,
)
def _cpsat_method(arg: str | None = None, seed: int = 0, time_limit: float | None = None,
                  workers: int | None = None, warm_start: str | None = None) -> Method:
    _cp_model()  # the extra is missing: say so before any instance is read

    def solve(instances: list[Instance], key: Any, progress: ProgressFn | None = None
              ) -> list[Solution]:
        hints = _warm_start(warm_start, instances, seed)
        found = solve_many(instances, time_limit or DEFAULT_TIME_LIMIT, workers, seed, hints,
                           progress)
        return [Solution(r.makespan, r.schedule, r.permutation, lower_bound=r.lower_bound,
                         status=r.status, seconds=r.seconds) for r in found]

    from ortools import __version__ as ortools_version

    return Method("cpsat", ("pfsp", "jssp", "fjsp"), solve,
                  version=f"{__version__} ortools {ortools_version}")


__all__: list[str] = ["CPSATResult", "DEFAULT_TIME_LIMIT", "cached_bounds", "model_terms",
                      "solve_instance", "solve_many"]
