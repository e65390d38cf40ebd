"""Replay check: every schedule of NEH, IG, a dispatching rule and CP-SAT on every shipped
instance, replayed as env actions (`jaxshop.replay`), against its own makespan.

Flow shops replay in the `pfsp` env, job shops in the insert-mode `fjsp` env. A replayed
makespan is never larger (`jaxshop.replay`); the table counts equal and smaller ones per
suite and method (and the instances a method gave no schedule for: CP-SAT on models too
large, or with none found in time) into `--out` (default `runs/results/replay_check.json`,
row by row: a rerun goes on where a stopped one ended). CP-SAT
schedules come from `results/cpsat/SUITE-*s.json` (`scripts/cpsat_table.py`, which keeps
them) where present; CP-SAT solves the other instances at `--cpsat-seconds` each.

    python scripts/replay_check.py --cpsat-seconds 2 --out results/replay_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: suite -> the methods whose schedules are replayed
METHODS = {"taillard-pfsp": ("neh", "ig", "cpsat"),
           "ft": ("rule:MWKR-EF", "cpsat"), "lawrence": ("rule:MWKR-EF", "cpsat"),
           "brandimarte": ("rule:MWKR-EF", "cpsat"), "taillard-jssp": ("rule:MWKR-EF", "cpsat")}


def _schedules(suite: str, spec: str, entries: list, cpsat_seconds: float,
               ig_iterations: int) -> list:
    """The method's schedules on the suite's instances, in order."""
    import jax
    from jaxshop_baselines.methods import get_method

    from jaxshop.schedule import Schedule

    saved: dict = {}
    if spec == "cpsat":  # any time limit's schedule; the missing ones are solved here
        for path in sorted((ROOT / "results" / "cpsat").glob(f"{suite}-*s.json")):
            for r in json.loads(path.read_text())["instances"]:
                if "schedule" in r:
                    saved.setdefault(r["instance"], r["schedule"])
        # warm-started: without a hint CP-SAT finds no flow-shop schedule of 50+ jobs in 2 s
        options = {"time_limit": cpsat_seconds,
                   "warm_start": "neh" if suite == "taillard-pfsp" else "rule:MWKR-EF"}
    else:
        options = {"iterations": ig_iterations} if spec == "ig" else {}
    method = get_method(spec, **options)
    out: list[Schedule | None] = []
    for e in entries:  # one at a time: each instance at its own shape
        if e.name in saved:
            out.append(saved[e.name])
            continue
        try:
            out.append(method.solve([e.instance], jax.random.PRNGKey(0))[0].schedule)
        except ValueError as err:  # CP-SAT: too large a model, or no schedule in time
            print(f"{e.name} {spec}: no schedule ({err})", file=sys.stderr, flush=True)
            out.append(None)
    return out


def main(argv: list[str] | None = None) -> int:
    import jaxshop
    from jaxshop.instances.registry import suite as load_suite
    from jaxshop.instances.types import PFSPInstance
    from jaxshop.schedule import Schedule, validate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpsat-seconds", type=float, default=2.0)
    p.add_argument("--ig-iterations", type=int, default=20)
    p.add_argument("--only", default=None, help="comma-separated suites (default all)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "results" / "replay_check.json",
                   help="the JSON written (default runs/results/replay_check.json; the "
                   "measured one: results/replay_check.json)")
    args = p.parse_args(argv)
    suites = args.only.split(",") if args.only else list(METHODS)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    # rows already measured (a rerun goes on where a stopped one ended)
    report = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["suite"], r["method"]) for r in report}
    for name in suites:
        entries = load_suite(name)
        for spec in METHODS[name]:
            if (name, spec) in done:
                continue
            equal = smaller = unsolved = 0
            for e, schedule in zip(entries, _schedules(name, spec, entries, args.cpsat_seconds,
                                                       args.ig_iterations), strict=True):
                if schedule is None:
                    unsolved += 1
                    continue
                inst = e.instance
                flow = isinstance(inst, PFSPInstance)
                env = jaxshop.cached_make("pfsp") if flow else jaxshop.cached_make(
                    "fjsp", mode="insert")
                if not isinstance(schedule, Schedule):
                    shape = (inst.shape[0], inst.shape[-1] if flow else inst.shape[1])
                    schedule = Schedule.from_records(schedule, shape)
                own = validate(inst, schedule).makespan
                replayed = jaxshop.replay_makespan(env, inst, jaxshop.replay(env, inst, schedule))
                if replayed > own:
                    raise SystemExit(f"{e.name} {spec}: replayed {replayed} > {own}")
                equal += replayed == own
                smaller += replayed < own
            row = {"suite": name, "method": spec, "instances": len(entries), "equal": equal,
                   "smaller": smaller, "no_schedule": unsolved}
            print(json.dumps(row), flush=True)
            report.append(row)
            out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
