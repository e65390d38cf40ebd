"""Imitating CP-SAT: a student trained on CP-SAT's schedules of random 10x5 flexible job
shops against the shipped pointer net (AC-SD, trained by RL) at the same training cost.

1. `jaxshop distill --teacher cpsat:SECONDS --dataset-size N --dim 64 --time-budget B`:
   the student has the shipped model's architecture (a pointer net of width 64, AC-SD's
   features); B is the shipped model's training time (its `meta.json`), and it pays for
   the solved set's CP-SAT time and the student's training alike (compile apart, as for
   the shipped model).
2. Both models on Brandimarte (gap to the best-known bounds) and on held-out random sets
   of the training distribution (10x5) and of a larger one (20x10), drawn from a key of
   their own, with CP-SAT's bounds at `--bound-seconds` per instance (cached by content):
   greedy and best of `--samples` (the greedy schedule and samples).

Writes `--out` (default `runs/results/cpsat_student/`): the solved set, the held-out
instance files, each eval's JSON, the student's run, and `summary.json` / `summary.md`; a
step whose output exists is not run again, so the script resumes.

    python scripts/cpsat_student.py --seconds 3 --size 384 --out results/cpsat_student
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "results" / "cpsat_student"  # the measured study: results/cpsat_student
HELDOUT_KEY = 97_531  # neither the solved set's key nor the trainers' validation key
HELDOUT = {"heldout-10x5": (10, 5, 100), "heldout-20x10": (20, 10, 30)}


def cli(*argv: str) -> None:
    from jaxshop_baselines.cli import main

    code = main(list(argv))
    if code != 0:
        raise SystemExit(f"cpsat_student: jaxshop {' '.join(argv)} exited {code}")


def heldout_folder(name: str, out: Path = OUT) -> Path:
    """The held-out instances as .fjs files (written once)."""
    import jax
    import numpy as np
    from jaxshop_baselines.pointer.config import PointerConfig
    from jaxshop_baselines.pointer.train import make_sampler

    from jaxshop.instances.formats import write_fjs
    from jaxshop.instances.types import FJSPInstance

    folder = out / name
    jobs, machines, count = HELDOUT[name]
    if folder.is_dir() and len(list(folder.glob("*.fjs"))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sampler = make_sampler(PointerConfig(num_jobs=jobs, num_machines=machines))
    batch = jax.tree_util.tree_map(np.asarray, sampler(jax.random.PRNGKey(HELDOUT_KEY), count))
    for i in range(count):
        inst = FJSPInstance(*(getattr(batch, f)[i] for f in
                              ("processing_times", "eligible", "num_ops", "machine_mask")))
        (folder / f"{name}-{i:03d}.fjs").write_text(write_fjs(inst))
    return folder


def evaluate(method: str, label: str, suite: str, samples: int, bound_seconds: float,
             workers: int, folder: Path = OUT) -> dict:
    """One eval's JSON (run once)."""
    out = folder / f"eval-{label}-{Path(suite).name}-{'greedy' if samples <= 1 else samples}.json"
    if not out.is_file():
        extra = ["--sample", str(samples)] if samples > 1 else []
        if suite != "brandimarte":
            extra += ["--bounds", f"cpsat:{bound_seconds:g}", "--workers", str(workers)]
        cli("eval", "--suite", suite, "--method", method, *extra, "--out", str(out), "--quiet")
    return json.loads(out.read_text())


def _mean_gap_to_cpsat(record: dict) -> float | None:
    """Mean gap of the rows' makespans to CP-SAT's own makespan (`--bounds`), in %."""
    gaps = [100.0 * (r["makespan"] - r["cpsat_upper_bound"]) / r["cpsat_upper_bound"]
            for r in record["instances"] if r.get("cpsat_upper_bound")]
    return round(sum(gaps) / len(gaps), 4) if gaps else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="CP-SAT seconds per instance")
    p.add_argument("--size", type=int, default=384, help="instances in the solved set")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of solving + training (default: the shipped model's)")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--bound-seconds", type=float, default=2.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", type=Path, default=OUT, help="the study's folder (default "
                   "runs/results/cpsat_student; the measured one: results/cpsat_student)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from jaxshop_baselines.pointer.inference import DEFAULT_MODELS

    shipped = json.loads((DEFAULT_MODELS["sd"] / "meta.json").read_text())  # `pointer`
    budget = args.budget or float(shipped["train_seconds"])
    run = args.out / f"student-cpsat{args.seconds:g}-n{args.size}"
    if not (run / "meta.json").is_file():
        cli("distill", "--teacher", f"cpsat:{args.seconds:g}",
            "--dataset", str(args.out / f"set-cpsat{args.seconds:g}-n{args.size}.npz"),
            "--dataset-size", str(args.size), "--solver-workers", str(args.workers),
            "--dim", "64", "--batch", str(args.batch), "--steps", "100000", "--chunk", "10",
            "--checkpoint-every", "100", "--time-budget", f"{budget:g}", "--out", str(run),
            "--no-progress", *(["--resume"] if (run / "run.json").is_file() else []))
    student = json.loads((run / "meta.json").read_text())
    models = {"shipped pointer (RL)": ("pointer", "shipped"),
              "CP-SAT student": (f"pointer:{run}", "student")}
    rows = []
    for suite in ("brandimarte", *(str(heldout_folder(n, args.out)) for n in HELDOUT)):
        for name, (method, label) in models.items():
            for samples in (1, args.samples):
                r = evaluate(method, label, suite, samples, args.bound_seconds, args.workers,
                             args.out)
                rows.append({
                    "suite": Path(suite).name, "model": name,
                    "decoding": "greedy" if samples <= 1 else f"best of {samples}",
                    "instances": r["solved"],
                    "mean_makespan": sum(x["makespan"] for x in r["instances"]) / r["solved"],
                    "gap_to_best_known_percent": r.get("mean_gap_percent"),
                    "gap_to_cpsat_lower_bound_percent":
                        r.get("mean_gap_to_cpsat_lower_bound_percent"),
                    "gap_to_cpsat_makespan_percent": _mean_gap_to_cpsat(r),
                    "cpsat_optimal": r.get("cpsat_optimal"), "seconds": r["seconds"]})
    cost = {
        "shipped pointer (RL)": {"train_seconds": shipped["train_seconds"],
                                 "compile_seconds": shipped["compile_seconds"],
                                 "schedules": shipped["schedules"],
                                 "num_params": shipped["num_params"], "device": shipped["device"]},
        "CP-SAT student": {
            "train_seconds": student["train_seconds"],
            "solve_seconds": student["dataset_solve_seconds"],
            "compile_seconds": student["compile_seconds"],
            "schedules": student["schedules"], "updates": student["updates"],
            "num_params": student["num_params"], "device": student["device"],
            "dataset": {k: v for k, v in student.items() if k.startswith("dataset")}},
    }
    record = {"seconds_per_instance": args.seconds, "size": args.size, "budget": budget,
              "rows": rows, "cost": cost}
    (args.out / "summary.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = ["| set | model | decoding | instances | mean makespan | gap to best known % | "
             f"gap to CP-SAT {args.bound_seconds:g} s bound % | gap to CP-SAT "
             f"{args.bound_seconds:g} s makespan % | seconds |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda x: "" if x is None else f"{x:.2f}"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['suite']} | {r['model']} | {r['decoding']} | {r['instances']} | "
                     f"{fmt(r['mean_makespan'])} | {fmt(r['gap_to_best_known_percent'])} | "
                     f"{fmt(r['gap_to_cpsat_lower_bound_percent'])} | "
                     f"{fmt(r['gap_to_cpsat_makespan_percent'])} | {r['seconds']:.1f} |")
    lines += ["", "| model | solve s | train s | compile s | schedules | params |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, c in cost.items():
        lines.append(f"| {name} | {c.get('solve_seconds', 0):.0f} | {c['train_seconds']:.0f} | "
                     f"{c['compile_seconds']:.0f} | {c['schedules']} | {c['num_params']} |")
    text = "\n".join(lines)
    (args.out / "summary.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
