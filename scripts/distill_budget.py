#!/usr/bin/env python
"""Distilled vs from-scratch students across training budgets and seeds.

The distillation study compares the students at one budget (1,000 updates x 64 episodes)
and one seed per run. This script asks at which budgets a taught student is better than
the same student trained from scratch by REINFORCE: for each budget (updates x `--batch`
episodes, the same for every objective), seed, student and objective it trains a run
(reused when finished) and scores it on the distillation study's sets: mean gap on
Brandimarte Mk01-10 (to the best-known upper bound, through `jaxshop eval`) and on the
pointer study's 100 held-out random instances per size (to the env's lower bound, every
schedule validated). The summary gives per budget the seed mean of each objective and, per
seed, whether the taught student beats the scratch student of the same seed.

Writes `results/distill_budget{_tag}.{json,md}`; `--merge` adds the rows of this call to
an existing report (e.g. another budget, or runs trained by the study itself):

    python scripts/distill_budget.py --teacher pointer:runs/teacher-d256 --tag d256 \\
        --budgets 100,200,400 --seeds 0,1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

import jax
from jaxshop_baselines.bench import (
    OBJECTIVE_NAMES,
    SIZES,
    add_student_options,
    brandimarte_gap,
    held_out,
    held_out_gaps,
    train_run,
)
from jaxshop_baselines.distill.config import DistillConfig
from jaxshop_baselines.parallel import run_info

ROOT = Path(__file__).resolve().parents[1]
KEY = ("budget", "seed", "student", "objective")


def seed_list(text: str) -> list[int]:
    """`type=` for comma-separated seeds (0 allowed, unlike `jaxshop_baselines.bench.int_list`)."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}"
                                         ) from None


def train_and_score(args, sets: dict) -> list[dict]:
    """One row per (budget, seed, student, objective): its run and its gaps."""
    base = DistillConfig(teacher=args.teacher, alpha=args.alpha, tau=args.tau,
                         regime=args.regime, batch_size=args.batch)
    students = {"small-pointer": args.sp_dim, "mlp": args.mlp_dim}
    rows = []
    for budget in args.budgets:
        for seed in args.seeds:
            for student, dim in students.items():
                for objective in args.objectives:
                    regime = "student" if objective == "kickstart" else args.regime
                    config = dataclasses.replace(
                        base, student=student, student_dim=dim, objective=objective,
                        regime=regime, num_updates=budget, checkpoint_every=budget)
                    run = train_run(config, args.runs / f"{student}-{dim}-{objective}"
                                    f"-u{budget}-s{seed}", seed)
                    spec = f"{'pointer' if student == 'small-pointer' else 'mlp'}:{run}"
                    gaps = held_out_gaps(spec, sets)
                    row = {"budget": budget, "seed": seed, "student": student, "dim": dim,
                           "objective": objective, "run": str(run), "held_out": gaps,
                           "held_out_mean": round(statistics.mean(gaps.values()), 3),
                           "brandimarte_gap": brandimarte_gap(spec)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per (budget, student, taught objective): seed means against scratch, and the seeds
    on which the taught student beats the scratch student of the same seed."""
    index = {tuple(r[k] for k in KEY): r for r in rows}
    out = []
    for budget, student in sorted({(r["budget"], r["student"]) for r in rows}):
        for objective in ("distill", "kickstart"):
            pairs = [(r, index.get((budget, r["seed"], student, "reinforce")))
                     for r in rows if (r["budget"], r["student"], r["objective"])
                     == (budget, student, objective)]
            pairs = sorted(((t, s) for t, s in pairs if s is not None),
                           key=lambda p: p[0]["seed"])
            if not pairs:
                continue
            entry = {"budget": budget, "student": student, "objective": objective,
                     "seeds": [t["seed"] for t, _ in pairs]}
            for metric in ("brandimarte_gap", "held_out_mean"):
                taught = [t[metric] for t, _ in pairs]
                scratch = [s[metric] for _, s in pairs]
                entry[metric] = {
                    "taught": round(statistics.mean(taught), 3),
                    "scratch": round(statistics.mean(scratch), 3),
                    "wins": sum(a < b for a, b in zip(taught, scratch, strict=True)),
                }
            out.append(entry)
    return out


def markdown(report: dict) -> str:
    lines = [
        "# Distilled vs from-scratch students across budgets", "",
        f"- teacher: `{report['teacher']}`; alpha {report['alpha']}, tau {report['tau']}, "
        f"regime {report['regime']} (kickstarted: regime student, the distillation weight "
        "falling from 1 to 0 over the run); every objective gets the same budget: updates "
        f"x {report['batch']} episodes of random 10x5 FJSP",
        "- gaps: Brandimarte to the best-known upper bound; held-out: mean over the 10x5, "
        "15x10 and 20x10 sets (100 instances each) of the gap to the env's lower bound",
        "- `wins`: seeds on which the taught student's gap is below that of the same "
        "student from scratch with the same seed",
        f"- device: {report['platform']}, jax {report['jax']}", "",
        "| budget (updates) | student | taught by | seeds | Brandimarte taught / scratch % "
        "| wins | held-out taught / scratch % | wins |",
        "|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for e in report["summary"]:
        b, h = e["brandimarte_gap"], e["held_out_mean"]
        n = len(e["seeds"])
        lines.append(
            f"| {e['budget']} | {e['student']} | {OBJECTIVE_NAMES[e['objective']]} | "
            f"{','.join(map(str, e['seeds']))} | {b['taught']:.2f} / {b['scratch']:.2f} | "
            f"{b['wins']}/{n} | {h['taught']:.2f} / {h['scratch']:.2f} | {h['wins']}/{n} |")
    lines += ["", "## Runs", "",
              "| budget | seed | student | objective | Brandimarte % | "
              + " | ".join(report["sizes"]) + " | held-out mean |",
              "|---:|---:|---|---|---:|" + "---:|" * (len(report["sizes"]) + 1)]
    for r in sorted(report["rows"], key=lambda r: tuple(r[k] for k in KEY)):
        lines.append(f"| {r['budget']} | {r['seed']} | {r['student']} | {r['objective']} | "
                     f"{r['brandimarte_gap']:.2f} | "
                     + " | ".join(f"{r['held_out'][s]:.2f}" for s in report["sizes"])
                     + f" | {r['held_out_mean']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from jaxshop_baselines.bench import int_list, write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="pointer")
    p.add_argument("--tag", default="", help="suffix of the report and the runs folder")
    p.add_argument("--runs", type=Path, default=None,
                   help="runs folder (default runs/distill_budget/<tag or default>)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "results")
    p.add_argument("--budgets", type=int_list, default=[100, 200, 400],
                   help="comma-separated updates per run (multiples of 10)")
    p.add_argument("--seeds", type=seed_list, default=[0, 1])
    p.add_argument("--objectives", type=lambda v: tuple(v.split(",")),
                   default=("distill", "reinforce", "kickstart"))
    add_student_options(p)
    p.add_argument("--held-out", type=int, default=100)
    p.add_argument("--merge", action="store_true",
                   help="add these rows to the existing report (same key: replaced)")
    args = p.parse_args(argv)
    if "reinforce" not in args.objectives or set(args.objectives) - set(OBJECTIVE_NAMES):
        p.error(f"--objectives: names from {tuple(OBJECTIVE_NAMES)}, reinforce included")
    if any(b < 10 or b % 10 for b in args.budgets):
        p.error("--budgets: positive multiples of 10")
    tag = f"_{args.tag}" if args.tag else ""
    args.runs = args.runs or ROOT / "runs" / "distill_budget" / (args.tag or "default")
    sets = {f"{j}x{m}": held_out(j, m, args.held_out, i) for i, (j, m) in enumerate(SIZES)}
    rows = train_and_score(args, sets)
    path = args.out / f"distill_budget{tag}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.merge and path.is_file():
        new = {tuple(r[k] for k in KEY) for r in rows}
        rows = [r for r in json.loads(path.read_text())["rows"]
                if tuple(r[k] for k in KEY) not in new] + rows
    report = {"teacher": args.teacher, "alpha": args.alpha, "tau": args.tau,
              "regime": args.regime, "batch": args.batch, "sizes": list(sets),
              "rows": rows, "summary": summarize(rows), "jax": jax.__version__,
              **run_info()}
    write_report(path, report)
    path.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
