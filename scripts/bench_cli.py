#!/usr/bin/env python
"""Wall time of one `jaxshop` command as a user runs it: this code cold and warm, against
an earlier commit, in the same run.

- `baseline` runs the command with the earlier commit's packages (`git archive`, first on
  `PYTHONPATH`, as in `bench_train.py`) and no compilation cache (that code had none);
- `cold` runs this code with an empty on-disk compilation cache (`jaxshop.xla_cache`):
  every program is compiled, as on a first run;
- `warm` runs it again on the cache the cold run filled, as on every later run.

Each is a fresh process, timed from start to exit (imports, compiles, solving, output);
`--rounds` repeats the three in turn and the median counts. The answers (`mean_gap_percent`
of `--json`) are compared too.

    python scripts/bench_cli.py --baseline 189d161 \\
        --command "eval --suite lawrence --method pointer --sample 100" \\
        --out results/bench_cli.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jaxshop_baselines.bench import extract

ROOT = Path(__file__).resolve().parents[1]
#: Runs the command line of whichever version is importable (a baseline from before the
#: command line moved to `jaxshop_baselines.cli` has it at `jaxshop.cli`).
LAUNCH = ("import sys\ntry:\n    from jaxshop_baselines.cli import main\n"
          "except ImportError:\n    from jaxshop.cli import main\nsys.exit(main(sys.argv[1:]))")


def run(command: list[str], env: dict, cwd: Path) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", LAUNCH, *command, "--json",
                          "--no-progress"], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{shlex.join(command)} failed ({out.returncode}): {out.stderr[-400:]}")
    answer = json.loads(out.stdout)
    return {"seconds": seconds, "mean_gap_percent": answer.get("mean_gap_percent"),
            "reported_seconds": answer.get("seconds")}


def main(argv: list[str] | None = None) -> int:
    from jaxshop_baselines.bench import write_report

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--command", default="eval --suite lawrence --method pointer --sample 100")
    p.add_argument("--baseline", default=None, help="git commit to compare against")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--out", default=None, help="JSON report (default: print only)")
    args = p.parse_args(argv)
    command = shlex.split(args.command)

    results: dict[str, list[dict]] = {"cold": [], "warm": []}
    if args.baseline:
        results = {"baseline": [], **results}
    load = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shim = extract(args.baseline, tmp / "base", ROOT) if args.baseline else None
        for rnd in range(args.rounds):
            cache = tmp / f"cache{rnd}"
            plain = {k: v for k, v in os.environ.items()
                     if k not in ("PYTHONPATH", "JAX_COMPILATION_CACHE_DIR")}
            runs = {"cold": {**plain, "JAXSHOP_CACHE_DIR": str(cache)},
                    "warm": {**plain, "JAXSHOP_CACHE_DIR": str(cache)}}
            if shim:
                runs = {"baseline": {**plain, "PYTHONPATH": str(shim),
                                     "JAXSHOP_CACHE_DIR": "off"}, **runs}
            for name, env in runs.items():
                load.append(round(os.getloadavg()[0], 2))
                results[name].append(run(command, env, tmp))
                print(f"round {rnd + 1}: {name} {results[name][-1]['seconds']:.1f} s", flush=True)

    med = {name: statistics.median(r["seconds"] for r in rs) for name, rs in results.items()}
    lines = [f"`jaxshop {args.command}`", "", "| run | seconds | mean gap % |" +
             (" speed-up vs baseline |" if args.baseline else ""),
             "|---|---:|---:|" + ("---:|" if args.baseline else "")]
    for name, rs in results.items():
        cell = f" {med['baseline'] / med[name]:.2f}x |" if args.baseline else ""
        lines.append(f"| {name} | {med[name]:.1f} | {rs[0]['mean_gap_percent']} |{cell}")
    print("\n".join(lines))
    if args.out:
        write_report(args.out, {"command": args.command, "baseline": args.baseline,
                                "rounds": args.rounds, "load_average_at_starts": load,
                                "median_seconds": med, "raw": results,
                                "markdown": "\n".join(lines)})
    return 0


if __name__ == "__main__":
    from jaxshop_baselines.bench import script_main

    script_main(main)
