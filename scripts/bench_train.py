#!/usr/bin/env python
"""Pointer training throughput: this code against an earlier commit, in the same run.

One pointer REINFORCE update (`make_train_chunk`, AC-SD, D = 64, random 10x5 flexible job
shops: the trainer's defaults) per call, at each batch size. Each code version runs in its
own worker process; the earlier commit is extracted with `git archive` and put first on
`PYTHONPATH` (the worker records which files it imported). Rounds alternate the versions
(current, baseline, current, ...) so load drifts hit both alike; the figure per version and
batch is the best round's median. Compile time is reported apart; every timed call ends
with `block_until_ready`. `schedules/CPU-s` divides by the process CPU time (both cores).

    python scripts/bench_train.py --baseline 189d161 --batch 128,512,1024,4096 \\
        --out results/bench_train.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from jaxshop_baselines.bench import extract, train_row

ROOT = Path(__file__).resolve().parents[1]


def worker(args) -> int:
    """Measures every batch with whatever `jaxshop_baselines` is importable; JSON to stdout."""
    import jaxshop_baselines.pointer.model as model

    rows = [train_row(b, repeats=args.repeats, min_seconds=args.min_seconds,
                      max_seconds=args.max_seconds) for b in args.batch]
    print(json.dumps({"model_file": model.__file__, "rows": rows}))
    return 0


def run_worker(args, pythonpath: str | None, cwd: Path) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    # Each version is measured by its own copy of this script (a baseline's is in its tree).
    script = (Path(pythonpath).parent / "tree" / "scripts" / Path(__file__).name
              if pythonpath else Path(__file__).resolve())
    cmd = [sys.executable, str(script), "--worker",
           "--batch", ",".join(map(str, args.batch)), "--repeats", str(args.repeats),
           "--min-seconds", str(args.min_seconds), "--max-seconds", str(args.max_seconds)]
    out = subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(rounds: list[dict], batch: int, key: str) -> float:
    return max(r[key] for rnd in rounds for r in rnd["rows"] if r["batch"] == batch)


def main(argv: list[str] | None = None) -> int:
    from jaxshop_baselines.bench import int_list

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int_list, default=[128, 512, 1024, 4096])
    p.add_argument("--baseline", default=None,
                   help="git commit to compare against in the same run (default: none)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per version")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--max-seconds", type=float, default=10.0)
    p.add_argument("--out", default=None, help="JSON report (default: print only)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # may run on the baseline's package: import only what it has
        return worker(args)
    from jaxshop_baselines.bench import write_report

    versions = {"current": None}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            versions[args.baseline] = str(extract(args.baseline, Path(tmp), ROOT))
        results: dict[str, list[dict]] = {name: [] for name in versions}
        load = []
        for rnd in range(args.rounds):
            for name, path in versions.items():
                print(f"round {rnd + 1}/{args.rounds}: {name} ...", flush=True)
                load.append(round(os.getloadavg()[0], 2))
                # Run outside the repo so the working tree is not on sys.path by accident.
                results[name].append(run_worker(args, path, Path(tmp)))

    header = "| batch | " + " | ".join(
        f"{n} sched/s | {n} sched/CPU-s | {n} compile s" for n in versions)
    lines = [header + (" | speed-up (CPU-s) |" if args.baseline else ""),
             "|" + "---:|" * (1 + 3 * len(versions) + bool(args.baseline))]
    table = []
    for b in args.batch:
        row = {"batch": b}
        cells = []
        for name in versions:
            row[name] = {
                "schedules_per_s": best(results[name], b, "schedules_per_s"),
                "schedules_per_cpu_s": best(results[name], b, "schedules_per_cpu_s"),
                "compile_s": min(r["compile_s"] for rnd in results[name]
                                 for r in rnd["rows"] if r["batch"] == b),
            }
            cells += [f"{row[name]['schedules_per_s']:.0f}",
                      f"{row[name]['schedules_per_cpu_s']:.0f}", f"{row[name]['compile_s']:.1f}"]
        if args.baseline:
            row["speedup_wall"] = (row["current"]["schedules_per_s"]
                                   / row[args.baseline]["schedules_per_s"])
            row["speedup_cpu"] = (row["current"]["schedules_per_cpu_s"]
                                  / row[args.baseline]["schedules_per_cpu_s"])
            cells.append(f"{row['speedup_wall']:.2f}x ({row['speedup_cpu']:.2f}x)")
        table.append(row)
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if args.out:
        write_report(args.out, {"load_average_at_starts": load, "baseline": args.baseline,
                                "rounds": args.rounds, "table": table, "raw": results,
                                "markdown": "\n".join(lines)})
    return 0


if __name__ == "__main__":
    from jaxshop_baselines.bench import script_main

    script_main(main)
