#!/usr/bin/env python
"""Large instances: wall time of solving one 10,000-operation instance, validate included.

Each case runs in a fresh process (so "cold" includes every compile of that process):
one random instance from `jaxshop.instances.generated` (seed 0), solved twice by a method
(`Method.solve`): `cold_s` is the first call (compile + run), `warm_s` the second; then
`jaxshop.validate` on the schedule (`validate_s`). `total_s` = cold + validate, the time
a user waits. With `--previous DIR` (a folder holding `jaxshop/` and `jaxshop_baselines/`
of an earlier version, e.g. from `git worktree add`), every case also runs on that code
in the same session; a case that passes `--timeout` seconds is reported as cut.

    python scripts/bench_large.py --out results/bench_large.json \\
        --previous /tmp/oldpath --timeout 300 [--sampled]

`--sampled` runs, instead of the cases above, best-of-100 pointer sampling on Lawrence
la01-la40, one call per size group (cold: every compile included), with its mean gap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: (instance spec, method, mode)
DEFAULT_CASES = (
    ("jssp:100x20:1", "rule:MWKR-EF", "insert"),
    ("jssp:200x50:1", "rule:MWKR-EF", "append"),
    ("jssp:200x50:1", "rule:MWKR-EF", "insert"),
    ("jssp:200x50:1", "pointer", "append"),
    ("fjsp:200x50:1", "rule:MWKR-EF", "append"),
    ("fjsp:200x50:1", "rule:MWKR-EF", "insert"),
)

CHILD = r"""
import json, sys, time
import jax, numpy as np
from jaxshop.instances.generated import parse_generated
from jaxshop.schedule import validate
from jaxshop_baselines.methods import get_method
spec, method, mode = sys.argv[1:4]
suite = parse_generated(spec)
instance = jax.tree_util.tree_map(np.asarray, suite.generator()(jax.random.PRNGKey(0)))
m = get_method(method, mode=mode)
times = []
for _ in range(2):
    t0 = time.perf_counter()
    sol = m.solve([instance], jax.random.PRNGKey(1))[0]
    times.append(time.perf_counter() - t0)
t0 = time.perf_counter()
check = validate(instance, sol.schedule)
validate_s = time.perf_counter() - t0
print("RESULT " + json.dumps({
    "operations": int(np.asarray(instance.num_ops).sum()), "makespan": int(sol.makespan),
    "feasible": bool(check), "cold_s": times[0], "warm_s": times[1],
    "validate_s": validate_s, "total_s": times[0] + validate_s}))
"""


#: Best of 100 pointer schedules on Lawrence, one `Method.solve` per size group.
SAMPLED_CHILD = r"""
import json, time
import jax
from jaxshop.instances.registry import suite
from jaxshop_baselines.methods import get_method
entries = suite("lawrence")
method = get_method("pointer", sample=100)
groups = {}
for e in entries:
    groups.setdefault(e.group, []).append(e)
t0, key, gaps = time.perf_counter(), jax.random.PRNGKey(0), []
for members in groups.values():
    key, sub = jax.random.split(key)
    for e, sol in zip(members, method.solve([e.instance for e in members], sub)):
        gaps.append(100 * (sol.makespan / e.bounds[1] - 1))
print("RESULT " + json.dumps({"instances": len(gaps), "cold_s": time.perf_counter() - t0,
                              "mean_gap_percent": sum(gaps) / len(gaps)}))
"""


def run_case(spec: str, method: str, mode: str, code: str | None, timeout: float,
             child: str = CHILD) -> dict:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = code + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", child, spec, method, mode], env=env,
                              capture_output=True, text=True, timeout=timeout,
                              cwd="/" if code is not None else None)
    except subprocess.TimeoutExpired:
        return {"cut_after_s": timeout}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return {**json.loads(line[len("RESULT "):]),
            "process_s": time.perf_counter() - t0}


def _cell(r: dict, key: str) -> str:
    if "cut_after_s" in r:
        return f"> {r['cut_after_s']:.0f}"
    if "error" in r:
        return "error"
    return f"{r[key]:.2f}" if key in r else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--previous", default=None, metavar="DIR",
                   help="folder with jaxshop/ and jaxshop_baselines/ of the code to compare")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    p.add_argument("--out", default=None, help="JSON report")
    p.add_argument("--sampled", action="store_true",
                   help="instead: best of 100 pointer schedules on Lawrence, per size group")
    args = p.parse_args(argv)
    rows = []
    if args.sampled:
        row = {"instance": "lawrence (40, per group)", "method": "pointer sample=100",
               "mode": "append",
               "current": run_case("", "", "", None, args.timeout, SAMPLED_CHILD)}
        if args.previous:
            row["previous"] = run_case("", "", "", args.previous, args.timeout, SAMPLED_CHILD)
        rows.append(row)
        print(json.dumps(row), flush=True)
    for spec, method, mode in () if args.sampled else DEFAULT_CASES:
        row = {"instance": spec, "method": method, "mode": mode,
               "current": run_case(spec, method, mode, None, args.timeout)}
        if args.previous:
            row["previous"] = run_case(spec, method, mode, args.previous, args.timeout)
        rows.append(row)
        print(json.dumps(row), flush=True)
    head = "| instance | method | mode | ops | makespan | cold s | warm s | validate s |"
    if args.previous:
        head += " previous cold s | previous warm s |"
    print("\n" + head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        c = r["current"]
        line = (f"| {r['instance']} | {r['method']} | {r['mode']} | {c.get('operations', '')} "
                f"| {c.get('makespan', '')} | {_cell(c, 'cold_s')} | {_cell(c, 'warm_s')} | "
                f"{_cell(c, 'validate_s')} |")
        if args.previous:
            line += f" {_cell(r['previous'], 'cold_s')} | {_cell(r['previous'], 'warm_s')} |"
        print(line)
    if args.out:
        report = {"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "load_average": [round(x, 2) for x in os.getloadavg()],
                  "cpus": os.cpu_count(), "timeout_s": args.timeout,
                  "previous": args.previous, "rows": rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
