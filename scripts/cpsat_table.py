"""CP-SAT's table: gap to the best-known bound, gap to its own proven bound and time, per
suite and size group at each time limit, beside the published CP-SAT figures.

Each (suite, size group, time limit) is one `jaxshop eval --suite S --groups G --method
cpsat --time-limit T --out results/cpsat/S-G-Ts.json` run (FT and Brandimarte, whose groups
are single instances, one run per suite); a run whose JSON is complete is not run again, so
the table fills over several sessions (`--only suite[:group],...` picks runs). Each JSON
records the machine's load average before and after its run (CP-SAT's limit is wall time:
a loaded machine gives it less search). `--print` only prints the table.

    python scripts/cpsat_table.py --limits 10,60 --workers 2 --out results/cpsat
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "results" / "cpsat"  # the measured table: --out results/cpsat
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


WHOLE = ("ft", "brandimarte")  # one run per suite (their groups are single instances)


def runs(suites: list[str]) -> list[tuple[str, str | None]]:
    """`(suite, group or None)` of every run, `suite` or `suite:group` items."""
    from jaxshop.instances.registry import suite as load

    out: list[tuple[str, str | None]] = []
    for item in suites:
        name, _, group = item.partition(":")
        if group or name in WHOLE:
            out.append((name, group or None))
            continue
        extra = SUITES[name][0]
        wanted = extra[extra.index("--groups") + 1].split(",") if "--groups" in extra else None
        groups = dict.fromkeys(e.group for e in load(name))
        out += [(name, g) for g in groups if wanted is None or g in wanted]
    return out


def out_path(suite: str, group: str | None, limit: float, folder: Path = OUT) -> Path:
    return folder / (f"{suite}-{limit:g}s.json" if group is None else
                     f"{suite}-{group}-{limit:g}s.json")


#: --warm-start: CP-SAT starts from this method's schedule (a hint)
WARM = {"taillard-pfsp": "neh"}
WARM_DEFAULT = "rule:MWKR-EF"


def run(suite: str, group: str | None, limit: float, workers: int, folder: Path = OUT,
        warm: bool = False) -> Path:
    """The eval JSON of CP-SAT on `suite` (one size group) at `limit` seconds per instance
    (run once)."""
    from jaxshop_baselines.cli import main
    from jaxshop_baselines.cpsat import instance_split

    out = out_path(suite, group, limit, folder)
    if out.is_file() and json.loads(out.read_text()).get("complete"):
        return out
    before = os.getloadavg()
    code = main(["eval", "--suite", suite, *(["--groups", group] if group else []),
                 "--method", "cpsat", "--time-limit", f"{limit:g}", "--workers", str(workers),
                 *(["--warm-start", WARM.get(suite, WARM_DEFAULT)] if warm else []),
                 "--schedules", "--out", str(out), "--quiet"])
    if code != 0:
        raise SystemExit(f"cpsat_table: eval of {suite} {group or ''} at {limit:g} s "
                         f"exited {code}")
    record = json.loads(out.read_text())
    record["machine"] = {"cpus": os.cpu_count(), "loadavg_before": before,
                         "loadavg_after": os.getloadavg()}
    record["workers_each"] = instance_split(len(record["instances"]), workers)[1]
    out.write_text(json.dumps(record, indent=1))
    return out


def table(limits: list[float], folder: Path = OUT) -> str:
    """The markdown table of every JSON present."""
    lines = ["| suite | group | limit s | warm start | workers each | instances | optimal | "
             "gap to best known % | gap to own bound % | mean s per instance | "
             "published CP-SAT % |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for suite, (_, published, source) in SUITES.items():
        for limit in limits:
            paths = [out_path(s, g, limit, folder) for s, g in runs([suite])]
            records = [json.loads(path.read_text()) for path in paths if path.is_file()]
            rows = [r for record in records for r in record["instances"]]
            warm = {str(r["options"].get("warm_start") or "-") for r in records}
            each = {str(r.get("workers_each", "1")) for r in records}
            if not rows:
                continue
            groups: dict[str, list[dict]] = {}
            for r in rows:
                groups.setdefault(r["group"], []).append(r)
            present = sum(path.is_file() for path in paths)
            whole = "all" if present == len(paths) else f"{present} of {len(paths)} runs"
            for group, members in [*groups.items(), (whole, rows)]:
                if group == whole and len(groups) == 1:
                    continue
                gaps = [r["gap_percent"] for r in members if r["gap_percent"] is not None]
                own = [r["gap_to_lower_bound_percent"] for r in members]
                seconds = [r["solver_seconds"] for r in members]
                ref = published.get(group)
                lines.append(
                    f"| {suite} | {group} | {limit:g} | {'/'.join(sorted(warm))} | "
                    f"{'/'.join(sorted(each))} | {len(members)} | "
                    f"{sum(r['status'] == 'optimal' for r in members)} | "
                    f"{sum(gaps) / len(gaps):.2f} | {sum(own) / len(own):.2f} | "
                    f"{sum(seconds) / len(seconds):.1f} | "
                    f"{'' if ref is None else f'{ref:.2f} ({source})'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limits", default="10,60", help="seconds per instance, comma-separated")
    p.add_argument("--workers", type=int, default=2, help="CP-SAT workers in all")
    p.add_argument("--only", default=None,
                   help="comma-separated suite or suite:group items (default all suites)")
    p.add_argument("--print", action="store_true", help="only print the table")
    p.add_argument("--warm-start", action="store_true", help="CP-SAT starts from the "
                   "schedule of NEH (flow shops) or MWKR-EF (job shops)")
    p.add_argument("--out", type=Path, default=OUT, help="folder of the JSON files "
                   "(default runs/results/cpsat; the measured table: results/cpsat)")
    args = p.parse_args(argv)
    limits = [float(x) for x in args.limits.split(",")]
    suites = args.only.split(",") if args.only else list(SUITES)
    if not args.print:
        args.out.mkdir(parents=True, exist_ok=True)
        for limit in limits:
            for suite, group in runs(suites):
                print(f"cpsat_table: {suite} {group or ''} at {limit:g} s ...", flush=True)
                run(suite, group, limit, args.workers, args.out, args.warm_start)
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(limits, args.out)
    print(text)
    (args.out / "table.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
