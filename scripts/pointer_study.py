"""Pointer actor-critic study: AC-SD vs AC-S vs nine dispatching rules, and training speed.

Solves, through the same `get_method(...).solve` path as the CLI (every schedule is checked
with `jaxshop.validate`):

- Brandimarte Mk01-Mk10: gap to the best-known upper bound;
- 100 held-out random instances per size 10x5, 15x10, 20x10 (Brandimarte-style, as in
  training; fixed seeds disjoint from training and validation): mean makespan, gap to the
  env's makespan lower bound and gap to the best of the nine rules;

with the rules SPT/SRPT/FOPNR x EF/SPT/SPTW and both pointer models, greedy and best of
`--samples` (default 100) samples. Then measures training speed (compile time and
schedules/s of the jitted training step) at several batch sizes, each in a subprocess.

Writes `results/pointer_study.{json,md,png}`.

    python scripts/pointer_study.py                       # shipped models
    python scripts/pointer_study.py --sd runs/a --s runs/b --speed-batches 64,256,1024
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
from jaxshop_baselines.bench import HELD_OUT_SEED, SIZES, held_out, solve
from jaxshop_baselines.pointer.inference import DEFAULT_MODELS

from jaxshop.fjsp import makespan_lower_bound
from jaxshop.instances.bounds import best_known
from jaxshop.instances.registry import suite

RULES = [f"{j}-{m}" for j in ("SPT", "SRPT", "FOPNR") for m in ("EF", "SPT", "SPTW")]
ANCHORS = {  # published Brandimarte mean gaps (%), greedy / sampling
    "DANIEL (Wang et al. 2023)": (13.6, 9.5),
    "HGNN (Song et al. 2022)": (28.5, 18.6),
}


def speed_probe(batch: int, variant: str, updates: int) -> dict:
    """Compile time and training throughput at one batch size (run in a subprocess)."""
    from jaxshop_baselines.pointer import PointerConfig, init_runner, make_train_chunk

    config = PointerConfig(variant=variant, batch_size=batch, updates_per_chunk=1,
                           checkpoint_every=1)
    runner = init_runner(config, jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    chunk = make_train_chunk(config).lower(runner).compile()
    compile_s = time.perf_counter() - t0
    runner, _ = chunk(runner)
    jax.block_until_ready(runner)
    t0 = time.perf_counter()
    for _ in range(updates):
        runner, _ = chunk(runner)
    jax.block_until_ready(runner)
    dt = (time.perf_counter() - t0) / updates
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"batch": batch, "compile_s": round(compile_s, 1), "update_s": round(dt, 3),
            "schedules_per_s": round(batch / dt, 1), "peak_rss_gib": round(peak, 2)}


def markdown(report: dict) -> str:
    lines = ["# Pointer actor-critic study", ""]
    lines += [f"- {k}: {v}" for k, v in report["setup"].items()]
    if report.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {n}" for n in report["notes"]]
    lines += ["", "## Brandimarte Mk01-Mk10: mean gap to best-known upper bound (%)", ""]
    lines += ["| method | mean gap % | " + " | ".join(report["brandimarte"]["names"]) + " |",
              "|---" * (2 + len(report["brandimarte"]["names"])) + "|"]
    for name, r in report["brandimarte"]["methods"].items():
        lines.append(f"| {name} | {r['mean_gap']:.2f} | "
                     + " | ".join(f"{g:.1f}" for g in r["gaps"]) + " |")
    for name, (g, s) in ANCHORS.items():
        lines.append(f"| {name} (published) | {g} greedy / {s} sampling | "
                     + " | " * (len(report["brandimarte"]["names"]) - 1) + " |")
    lines += ["", "## Held-out random instances (100 per size)", "",
              "Mean makespan / mean gap to the lower bound (%) / gap of the mean makespan to "
              "the best of the nine rules (%).", ""]
    sizes = list(report["random"])
    lines += ["| method | " + " | ".join(sizes) + " |", "|---" * (1 + len(sizes)) + "|"]
    names = list(next(iter(report["random"].values()))["methods"])
    for name in names:
        cells = []
        for size in sizes:
            r = report["random"][size]["methods"][name]
            cells.append(f"{r['mean_makespan']:.1f} / {r['mean_gap_lb']:.1f} / "
                         f"{r['vs_best_rule']:+.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Best rule per size: " + ", ".join(
        f"{s}: {report['random'][s]['best_rule']}" for s in sizes)]
    if report.get("speed"):
        lines += ["", "## Training speed (jitted training step, 10x5, this machine)", "",
                  "| variant | batch | compile s | s / update | schedules / s | peak RSS GiB |",
                  "|---|---|---|---|---|---|"]
        for r in report["speed"]:
            if "error" in r:
                lines.append(f"| {r['variant']} | {r['batch']} | {r['error']} | | | |")
            else:
                lines.append(f"| {r['variant']} | {r['batch']} | {r['compile_s']} | "
                             f"{r['update_s']} | {r['schedules_per_s']} | {r['peak_rss_gib']} |")
    if report.get("training_runs"):
        lines += ["", "## Training runs of the evaluated models", "",
                  "| model | updates | schedules | train s | compile s | schedules/s | "
                  "val greedy C/LB | command |", "|---|---|---|---|---|---|---|---|"]
        for name, m in report["training_runs"].items():
            lines.append(
                f"| {name} | {m.get('updates')} | {m.get('schedules')} | "
                f"{m.get('train_seconds')} | {m.get('compile_seconds')} | "
                f"{m.get('schedules_per_second')} | {m.get('final_val_greedy_norm_makespan')} "
                f"| `{m.get('command')}` |"
            )
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ["Brandimarte (gap to UB)"] + [f"{s} (gap to LB)" for s in report["random"]]
    names = list(report["brandimarte"]["methods"])
    fig, ax = plt.subplots(figsize=(13, 5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        vals = [report["brandimarte"]["methods"][name]["mean_gap"]] + [
            report["random"][s]["methods"][name]["mean_gap_lb"] for s in report["random"]
        ]
        color = None if name.startswith("rule") else ("C3" if "AC-SD" in name else "C0")
        ax.bar(np.arange(len(groups)) + i * width, vals, width, label=name, color=color,
               alpha=0.4 if name.startswith("rule") else (1.0 if "best" in name else 0.7),
               edgecolor="k", linewidth=0.3, hatch="//" if "run-1" in name else None)
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2)
    ax.set_xticklabels(groups)
    ax.set_ylabel("mean gap (%)")
    ax.legend(ncol=4, fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Pointer AC-SD / AC-S vs dispatching rules")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sd", default=str(DEFAULT_MODELS["sd"]), help="AC-SD model/run dir")
    p.add_argument("--s", default=str(DEFAULT_MODELS["s"]), help="AC-S model/run dir")
    p.add_argument("--extra", action="append", default=[], metavar="NAME=DIR",
                   help="another model to evaluate greedily (repeatable)")
    p.add_argument("--samples", type=int, default=100, help="samples for best-of-N")
    p.add_argument("--instances", type=int, default=100, help="held-out instances per size")
    p.add_argument("--chunk", type=int, default=25, help="instances per solve call")
    p.add_argument("--speed-batches", default="64,256,1024",
                   help="batch sizes of the training-speed table ('' to skip)")
    p.add_argument("--speed-updates", type=int, default=3, help="timed updates per batch")
    p.add_argument("--speed-timeout", type=int, default=900, help="seconds per batch size")
    p.add_argument("--out", default="runs/results",
                   help="output folder (tracked figures: --out results)")
    p.add_argument("--speed-only", action="store_true",
                   help="keep the evaluations in OUT/pointer_study.json, redo the speed table")
    p.add_argument("--render-only", action="store_true",
                   help="only rewrite the Markdown and PNG from OUT/pointer_study.json")
    p.add_argument("--note", action="append", default=[], help="a note for the report")
    p.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--probe-variant", default="sd", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe is not None:  # subprocess of the speed table
        print(json.dumps(speed_probe(args.probe, args.probe_variant, args.speed_updates)))
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.speed_only or args.render_only:
        report = json.loads((out / "pointer_study.json").read_text())
        if args.speed_only:
            report["speed"] = speed_table(args)
        report["notes"] = report.get("notes", []) + args.note
        return write(report, out)
    models = {"AC-SD": args.sd, "AC-S": args.s}
    methods: dict[str, tuple[str, dict]] = {f"rule:{r}": (f"rule:{r}", {}) for r in RULES}
    for name, path in models.items():
        methods[f"{name} greedy"] = (f"pointer:{path}", {"sample": 0})
        methods[f"{name} best-of-{args.samples}"] = (f"pointer:{path}",
                                                     {"sample": args.samples})
    for item in args.extra:
        name, _, path = item.partition("=")
        methods[f"{name} greedy"] = (f"pointer:{path}", {"sample": 0})
        models[name] = path
    report: dict = {
        "notes": args.note,
        "setup": {
            "models": models,
            "samples": args.samples,
            "held_out_instances_per_size": args.instances,
            "held_out_seed": f"PRNGKey({HELD_OUT_SEED} + size index)",
            "mode": "append",
            "device": f"{jax.devices()[0].device_kind} ({jax.device_count()} device)",
            "jax": jax.__version__,
        },
    }
    train_meta = {}
    for name, path in models.items():
        meta = Path(path) / "meta.json"
        if meta.is_file():
            train_meta[name] = json.loads(meta.read_text())
    report["training_runs"] = train_meta

    # Brandimarte.
    entries = suite("brandimarte")
    names = [e.name for e in entries]
    ubs = np.array([best_known(n)[1] for n in names], float)
    report["brandimarte"] = {"names": names, "upper_bounds": ubs.tolist(), "methods": {}}
    for label, (spec, opts) in methods.items():
        ms, secs = solve(spec, [e.instance for e in entries], 10, seed=0, **opts)
        gaps = 100.0 * (np.array(ms) - ubs) / ubs
        report["brandimarte"]["methods"][label] = {
            "makespans": ms, "gaps": gaps.round(2).tolist(),
            "mean_gap": float(gaps.mean()), "seconds": round(secs, 1)}
        print(f"brandimarte {label:28s} mean gap {gaps.mean():6.2f} %  ({secs:.1f} s)",
              flush=True)

    # Held-out random instances.
    report["random"] = {}
    for index, (jobs, machines) in enumerate(SIZES):
        size = f"{jobs}x{machines}"
        instances = held_out(jobs, machines, args.instances, index)
        lbs = np.array([float(makespan_lower_bound(jax.tree_util.tree_map(np.asarray, x)))
                        for x in instances])
        res = {}
        for label, (spec, opts) in methods.items():
            ms, secs = solve(spec, instances, args.chunk, seed=1 + index, **opts)
            ms = np.array(ms, float)
            res[label] = {"mean_makespan": float(ms.mean()),
                          "mean_gap_lb": float((100 * (ms - lbs) / lbs).mean()),
                          "makespans": ms.astype(int).tolist(), "seconds": round(secs, 1)}
            print(f"{size:6s} {label:28s} mean makespan {ms.mean():7.2f}  ({secs:.1f} s)",
                  flush=True)
        best_rule = min((k for k in res if k.startswith("rule:")),
                        key=lambda k: res[k]["mean_makespan"])
        best = res[best_rule]["mean_makespan"]
        for r in res.values():
            r["vs_best_rule"] = 100.0 * (r["mean_makespan"] - best) / best
        report["random"][size] = {"best_rule": best_rule, "lower_bounds": lbs.tolist(),
                                  "methods": res}

    report["speed"] = speed_table(args)
    return write(report, out)


def speed_table(args: argparse.Namespace) -> list[dict]:
    """Training speed, one subprocess per batch size (an out-of-memory batch cannot kill us)."""
    rows = []
    batches = [int(b) for b in args.speed_batches.split(",") if b.strip()]
    for batch in batches:
        cmd = [sys.executable, __file__, "--probe", str(batch), "--speed-updates",
               str(args.speed_updates)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=args.speed_timeout)
            if proc.returncode == 0:
                row = json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                row = {"batch": batch, "error": f"exit {proc.returncode}"}
        except subprocess.TimeoutExpired:
            row = {"batch": batch, "error": f"> {args.speed_timeout} s"}
        row["variant"] = "AC-SD"
        rows.append(row)
        print("speed", row, flush=True)
    return rows


def write(report: dict, out: Path) -> int:
    (out / "pointer_study.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "pointer_study.md").write_text(markdown(report))
    plot(report, out / "pointer_study.png")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
