"""Evaluation of a benchmark suite (or a folder of instance files) against its bounds.

`evaluate_suite(method, entries, key)` solves the entries one size group per call (each
group one `Method.solve`, padded to its own size, with its own key split from `key`),
validates every schedule and returns the rows of `jaxshop eval --suite` with their gaps to
the best-known upper bounds. A Ctrl-C keeps the rows solved so far (`complete` False).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
from jaxshop_baselines.methods import Method

from jaxshop.instances.types import problem_of
from jaxshop.schedule import validate

#: Columns of the CSV written beside an eval's JSON.
CSV_COLUMNS = (
    "instance", "group", "problem", "makespan", "best_known_upper_bound", "gap_percent",
    "group_seconds", "lower_bound", "status", "gap_to_lower_bound_percent",
    "cpsat_lower_bound", "cpsat_upper_bound", "cpsat_status", "gap_to_cpsat_lower_bound_percent",
)
#: `progress(instances done, may be fractional within a group; instances solved)`.
SuiteProgress = Callable[[float, int], None]


def gap_percent(makespan: int, ub: int | None) -> float | None:
    """The relative gap to the best-known upper bound in percent (the one gap formula)."""
    return None if ub is None else round(100.0 * (makespan - ub) / ub, 4)


def mean_gap(rows: Sequence[dict[str, Any]], column: str = "gap_percent") -> float | None:
    """The mean `column` of the rows that have one (None: none has)."""
    gaps = [r[column] for r in rows if r.get(column) is not None]
    return round(sum(gaps) / len(gaps), 4) if gaps else None


def bound_fields(solution: Any) -> dict[str, Any]:
    """What an exact method (`cpsat`) adds to a solve or eval record: its proven lower
    bound, the gap to it, its status and time (nothing for the other methods)."""
    if solution.lower_bound is None:
        return {}
    return {"lower_bound": solution.lower_bound, "status": solution.status,
            "gap_to_lower_bound_percent": gap_percent(solution.makespan,
                                                      max(1, solution.lower_bound)),
            "solver_seconds": solution.seconds}


def group_entries(entries: Sequence[Any]) -> dict[str, list[Any]]:
    """Suite entries by size group, in the suite's order (each group is one solve)."""
    groups: dict[str, list[Any]] = {}
    for e in entries:
        groups.setdefault(e.group, []).append(e)
    return groups


@dataclasses.dataclass
class SuiteResult:
    """The rows solved (all of them unless `interrupted`), with wall and validation time."""

    rows: list[dict[str, Any]]
    total: int
    interrupted: bool
    seconds: float
    validate_seconds: float

    def by_group(self) -> dict[str, float | None]:
        """Mean gap per solved group, in the suite's order."""
        solved = dict.fromkeys(r["group"] for r in self.rows)
        return {g: mean_gap([r for r in self.rows if r["group"] == g]) for g in solved}

    def record(self, num_params: int | None, options: dict[str, Any]) -> dict[str, Any]:
        """The eval JSON's fields after `suite`, `method`, `mode`: the rows, their mean gaps,
        the counts, the times, `options` (how the run was made) and the devices."""
        from jaxshop_baselines.parallel import run_info

        own = mean_gap(self.rows, "gap_to_lower_bound_percent")
        return {"instances": self.rows, "group_mean_gap_percent": self.by_group(),
                "mean_gap_percent": mean_gap(self.rows), "num_params": num_params,
                **({} if own is None else {
                    "mean_gap_to_lower_bound_percent": own,
                    "optimal": sum(r.get("status") == "optimal" for r in self.rows)}),
                "solved": len(self.rows), "total": self.total,
                "complete": not self.interrupted, "seconds": round(self.seconds, 3),
                "validate_seconds": round(self.validate_seconds, 3), "options": options,
                **run_info()}


def evaluate_suite(method: Method, entries: Sequence[Any], key: jax.Array, spec: str,
                   schedules: bool = False,
                   progress: SuiteProgress | None = None) -> SuiteResult:
    """Solves `entries` (`jaxshop.instances.registry.suite`) with `method` (named `spec`
    in messages), one group per call; every schedule validated (an infeasible one is a
    bug: RuntimeError). `schedules`: rows carry each schedule's records."""
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    validate_seconds = 0.0
    interrupted = False
    report = progress or (lambda done, solved: None)
    try:  # Ctrl-C keeps every instance solved so far
        for group, members in group_entries(entries).items():
            key, sub = jax.random.split(key)
            t0 = time.perf_counter()
            before, size = len(rows), len(members)  # progress moves within a group
            solutions = method.solve([m.instance for m in members], sub,
                                     progress=lambda f, a=before, n=size:
                                     report(a + f * n, a))
            seconds = time.perf_counter() - t0
            for m, sol in zip(members, solutions, strict=True):
                t1 = time.perf_counter()
                check = validate(m.instance, sol.schedule)
                validate_seconds += time.perf_counter() - t1
                if not check:
                    raise RuntimeError(f"{m.name}: infeasible schedule from {spec}: "
                                       f"{check.reason}")
                ub = None if m.bounds is None else m.bounds[1]
                row = {
                    "instance": m.name,
                    "group": group,
                    "problem": problem_of(m.instance),
                    "makespan": sol.makespan,
                    "best_known_upper_bound": ub,
                    "gap_percent": gap_percent(sol.makespan, ub),
                    "group_seconds": round(seconds, 4),
                    "permutation": sol.permutation,
                    **bound_fields(sol),
                }
                if schedules:
                    row["schedule"] = sol.schedule.to_records()
                rows.append(row)
            report(len(rows), len(rows))
    except KeyboardInterrupt:
        interrupted = True
    return SuiteResult(rows, len(entries), interrupted, time.perf_counter() - started,
                       validate_seconds)


def attach_bounds(rows: list[dict[str, Any]], entries: Sequence[Any], seconds: float,
                  workers: int | None = None, progress: Any = None) -> dict[str, Any]:
    """Adds CP-SAT's bounds at `seconds` per instance (`cpsat.cached_bounds`) to every row
    (`cpsat_lower_bound`, `cpsat_upper_bound`, `cpsat_status`, and the gap of the row's
    makespan to that lower bound); returns the record's summary fields."""
    from jaxshop_baselines.cpsat import cached_bounds

    by_name = {e.name: e.instance for e in entries}
    bounds = cached_bounds([by_name[r["instance"]] for r in rows], seconds, workers,
                           progress)
    for row, b in zip(rows, bounds, strict=True):
        row.update(cpsat_lower_bound=b["lower_bound"], cpsat_upper_bound=b["upper_bound"],
                   cpsat_status=b["status"],
                   gap_to_cpsat_lower_bound_percent=gap_percent(row["makespan"],
                                                                max(1, b["lower_bound"])))
    return {"bounds": f"cpsat:{seconds:g}",
            "mean_gap_to_cpsat_lower_bound_percent":
                mean_gap(rows, "gap_to_cpsat_lower_bound_percent"),
            "cpsat_optimal": sum(r["cpsat_status"] == "optimal" for r in rows)}


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """The rows as CSV (`CSV_COLUMNS`)."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
