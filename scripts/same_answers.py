"""Same answers across two revisions: per-instance makespans of every shipped method.

A refactor must not change what any method answers. This script runs `jaxshop eval` at
two revisions of the repository (each from its own copy of the files, with the console
entry point that revision declares) and compares, case by case:

- Brandimarte, Lawrence and FT: pointer greedy and best of 16, student, PPO, DDQN and
  rule:MWKR-EF (per-instance makespans);
- Taillard PFSP: NEH on every group, kernel-Q on 20x20 (per-instance makespans);
- the fab (`--suite fab`, 20 seeds): d1-d4 and DDQN (every metric both revisions report,
  timings aside; a field only one of them reports is listed in the JSON, not compared).

    python scripts/same_answers.py --base de17815            # base vs the working tree
    python scripts/same_answers.py --base de17815 --head HEAD --quick

It prints one row per case and writes JSON (`--out`, default
`runs/results/same_answers.json`); exit code 1 when any case differs or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
JOB_SHOP_METHODS = ("pointer", "pointer --sample 16", "student", "ppo", "ddqn", "rule:MWKR-EF")
FAB_METHODS = ("fab-rule:d1", "fab-rule:d2", "fab-rule:d3", "fab-rule:d4", "ddqn")
# Fields of a fab evaluation that measure the run, not the answer.
RUN_FIELDS = {"seconds", "devices", "processes", "device_kind", "options"}


def cases(quick: bool) -> list[tuple[str, list[str]]]:
    """`(name, eval arguments)` for every compared case (`quick`: one instance each)."""
    out = []
    limit = ["--limit", "1"] if quick else []
    for suite in ("brandimarte", "lawrence", "ft"):
        for method in JOB_SHOP_METHODS:
            out.append((f"{suite} · {method}",
                        ["--suite", suite, "--method", *method.split(), *limit]))
    out.append(("taillard-pfsp · neh",
                ["--suite", "taillard-pfsp", "--method", "neh",
                 *(["--groups", "20x5"] if quick else []), *limit]))
    out.append(("taillard-pfsp 20x20 · kernel-q",
                ["--suite", "taillard-pfsp", "--groups", "20x20", "--method", "kernel-q",
                 *limit]))
    seeds = ["--seeds", "2", "--days", "2"] if quick else ["--seeds", "20"]
    for method in FAB_METHODS:
        out.append((f"fab · {method}", ["--suite", "fab", "--method", method, *seeds]))
    return out


def checkout(rev: str | None, into: Path) -> Path:
    """A folder where `jaxshop` and `jaxshop_baselines` of `rev` import from (None: the
    working tree). Returns the path to put first on PYTHONPATH."""
    src = ROOT
    if rev is not None:
        src = into / "tree"
        src.mkdir(parents=True)
        data = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                              capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(data)) as tar:
            tar.extractall(src, filter="data")
    shim = into / "path"
    shim.mkdir(parents=True)
    (shim / "jaxshop").symlink_to(src / "jaxshop")
    (shim / "jaxshop_baselines").symlink_to(src / "baselines")
    return shim


def entry_point(tree: Path) -> str:
    """The `module:function` behind the `jaxshop` console command at that revision."""
    with open(tree / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["scripts"]["jaxshop"]


def answers(result: dict) -> dict:
    """What must not change: makespans per instance, or the fab's metrics."""
    if "instances" in result:
        return {row["instance"]: row["makespan"] for row in result["instances"]}
    return {k: v for k, v in result.items() if k not in RUN_FIELDS}


WORKER = """
import contextlib, io, json, sys, time
from {module} import {func} as main
results = []
for args in json.loads(sys.argv[1]):
    out = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out):
            code = main(["eval", *args, "--json", "--quiet"])
        error = "" if code == 0 else f"exit {{code}}"
    except SystemExit as e:
        code, error = e.code, f"exit {{e.code}}"
    except Exception as e:  # a crash is a failed case, not a failed comparison
        code, error = 1, f"{{type(e).__name__}}: {{e}}"
    lines = out.getvalue().strip().splitlines()
    result = json.loads(lines[-1]) if code == 0 and lines else None
    results.append([result, error, time.perf_counter() - t0])
with open(sys.argv[2], "w") as f:
    json.dump(results, f)
"""


def run_side(shim: Path, entry: str, all_args: list[list[str]], into: Path) -> list:
    """Runs every case at one revision in one process (imports and compiles shared):
    `[result or None, error, seconds]` per case."""
    module, func = entry.split(":")
    env = dict(os.environ, PYTHONPATH=str(shim), JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    subprocess.run([sys.executable, "-c", WORKER.format(module=module, func=func),
                    json.dumps(all_args), str(into)], check=True, env=env, cwd=shim.parent)
    return json.loads(into.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="de17815", help="the earlier revision (default de17815)")
    p.add_argument("--head", default=None, help="the later revision (default: the working tree)")
    p.add_argument("--quick", action="store_true", help="one instance / 2 fab seeds per case")
    p.add_argument("--only", default=None, help="run only cases whose name contains this")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "results" / "same_answers.json")
    args = p.parse_args(argv)
    chosen = [c for c in cases(args.quick) if args.only is None or args.only in c[0]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        got = {}
        for label, rev in (("base", args.base), ("head", args.head)):
            shim = checkout(rev, Path(tmp) / label)
            entry = entry_point((shim / "jaxshop").resolve().parent)
            print(f"{label}: {rev or 'working tree'} ({entry})", flush=True)
            got[label] = run_side(shim, entry, [c[1] for c in chosen],
                                  Path(tmp) / f"{label}.json")
        for i, (name, eval_args) in enumerate(chosen):
            (base, base_err, base_s), (head, head_err, head_s) = got["base"][i], got["head"][i]
            if base is None or head is None:
                status, count = f"FAILED: {base_err or head_err}", 0
            else:
                a, b = answers(base), answers(head)
                shared = a.keys() & b.keys()  # a field one side does not report is no answer
                count = len(shared)
                status = "same" if all(a[k] == b[k] for k in shared) else "DIFFERENT"
            rows.append({"case": name, "args": eval_args, "status": status, "answers": count,
                         "base_seconds": round(base_s, 1), "head_seconds": round(head_s, 1),
                         "base": None if base is None else answers(base),
                         "head": None if head is None else answers(head)})
            print(f"{name:40s} {status:10s} {count:4d} answers  "
                  f"base {base_s:6.1f} s  head {head_s:6.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base": args.base, "head": args.head or "working tree",
                                    "quick": args.quick, "cases": rows}, indent=1))
    same = sum(r["status"] == "same" for r in rows)
    print(f"{same}/{len(rows)} cases give the same answers; written {args.out}")
    return 0 if same == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
