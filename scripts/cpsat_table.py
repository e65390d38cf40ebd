"""CP-SAT's table: gap to the best-known bound, gap to its own proven bound and time, per
suite and size group at each time limit, beside the published CP-SAT figures.

Each (suite, time limit) is one `jaxshop eval --suite S --method cpsat --time-limit T
--out results/cpsat/S-Ts.json` run; a run whose JSON is complete is not run again, so the
table can be filled over several sessions (`--only` picks runs). `--print` only prints the
table of the JSON files there.

    python scripts/cpsat_table.py --limits 10,60 --workers 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "cpsat"
#: suite -> (eval options, published CP-SAT mean gap per group and overall, its source)
SUITES = {
    "ft": ([], {}, ""),
    "brandimarte": ([], {"all": 1.65}, "DANIEL's runs, 1800 s"),
    "lawrence": ([], {}, ""),
    "taillard-jssp": ([], {"15x15": 0.01, "20x15": 0.26, "20x20": 0.71, "30x15": 2.07,
                           "30x20": 2.89, "50x15": 0.00, "50x20": 2.83, "100x20": 3.95,
                           "all": 1.59}, "SPN's runs, 3600 s"),
    "taillard-pfsp": (["--groups", "20x5,20x10,20x20"], {}, ""),
}


def run(suite: str, limit: float, workers: int) -> Path:
    """The eval JSON of CP-SAT on `suite` at `limit` seconds per instance (run once)."""
    from jaxshop_baselines.cli import main

    out = OUT / f"{suite}-{limit:g}s.json"
    if out.is_file() and json.loads(out.read_text()).get("complete"):
        return out
    extra, _, _ = SUITES[suite]
    code = main(["eval", "--suite", suite, *extra, "--method", "cpsat", "--time-limit",
                 f"{limit:g}", "--workers", str(workers), "--schedules", "--out", str(out),
                 "--quiet"])
    if code != 0:
        raise SystemExit(f"cpsat_table: eval of {suite} at {limit:g} s exited {code}")
    return out


def table(limits: list[float]) -> str:
    """The markdown table of every JSON present."""
    lines = ["| suite | group | limit s | instances | optimal | gap to best known % | "
             "gap to own bound % | mean s per instance | published CP-SAT % |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for suite, (_, published, source) in SUITES.items():
        for limit in limits:
            path = OUT / f"{suite}-{limit:g}s.json"
            if not path.is_file():
                continue
            rows = json.loads(path.read_text())["instances"]
            groups: dict[str, list[dict]] = {}
            for r in rows:
                groups.setdefault(r["group"], []).append(r)
            for group, members in [*groups.items(), ("all", rows)]:
                if group == "all" and len(groups) == 1:
                    continue
                gaps = [r["gap_percent"] for r in members if r["gap_percent"] is not None]
                own = [r["gap_to_lower_bound_percent"] for r in members]
                seconds = [r["solver_seconds"] for r in members]
                ref = published.get(group)
                lines.append(
                    f"| {suite} | {group} | {limit:g} | {len(members)} | "
                    f"{sum(r['status'] == 'optimal' for r in members)} | "
                    f"{sum(gaps) / len(gaps):.2f} | {sum(own) / len(own):.2f} | "
                    f"{sum(seconds) / len(seconds):.1f} | "
                    f"{'' if ref is None else f'{ref:.2f} ({source})'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limits", default="10,60", help="seconds per instance, comma-separated")
    p.add_argument("--workers", type=int, default=2, help="CP-SAT workers in all")
    p.add_argument("--only", default=None, help="comma-separated suites (default all)")
    p.add_argument("--print", action="store_true", help="only print the table")
    args = p.parse_args(argv)
    limits = [float(x) for x in args.limits.split(",")]
    suites = args.only.split(",") if args.only else list(SUITES)
    if not args.print:
        OUT.mkdir(parents=True, exist_ok=True)
        for limit in limits:
            for suite in suites:
                print(f"cpsat_table: {suite} at {limit:g} s ...", flush=True)
                run(suite, limit, args.workers)
    text = table(limits)
    print(text)
    (OUT / "table.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
