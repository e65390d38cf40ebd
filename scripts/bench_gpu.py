#!/usr/bin/env python
"""GPU throughput benchmark: env decisions/s at large batches, pointer training schedules/s.

    bash scripts/bench_gpu.sh                                 # a GPU machine, < 5 minutes
    bash scripts/bench_gpu.sh --quick --out /tmp/quick.json   # CPU smoke test, tiny sizes
    python scripts/bench_gpu.py --env-batches 1024,131072 --train-batches 512 --out x.json

Env: `jaxshop_baselines.bench.throughput` (instances generated inside the jitted call, every episode
played to its end, `block_until_ready`, medians over repeats) on the 10x10 job shop
(`jssp_10x10_t99`) and the 10x5 flexible job shop (`fjsp_10x5`) at batch 2^10..2^17 under
the `random` and `first` policies. Training: pointer REINFORCE updates
(`jaxshop_baselines.pointer.train.make_train_chunk`, AC-SD, random 10x5 FJSP instances,
`--train-updates` updates per jitted call) at batch 512..4096; schedules/s counts the
sampled training schedules. Compile times are measured apart and never in a throughput.

Measurements run by priority (random-policy env, training, first-policy env) and none
starts once `--time-cap` seconds have passed, so the whole run stays under about 5
minutes; the skipped ones are listed. The report goes to `runs/results/bench_gpu.json`
(git-ignored) unless `--out` names another file (`--out results/bench_gpu.json` updates the
repository's report); `--quick` writes only to `--out`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from jaxshop_baselines import bench
from jaxshop_baselines.bench import train_row as pointer_train_row

from jaxshop.options import ArgumentParser, float_in, int_in, output_file

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "runs" / "results" / "bench_gpu.json"
ENV_CASES = ("jssp_10x10_t99", "fjsp_10x5")
ENV_BATCHES = tuple(2**k for k in range(10, 18))
TRAIN_BATCHES = (512, 1024, 2048, 4096)
TARGET = {"case": "jssp_10x10_t99", "decisions_per_s": 1e8,
          "description": ">= 1e8 env decisions/s for 10x10 job shops on an H100-class GPU"}
QUICK = {  # tiny sizes: a smoke test on a CPU in seconds
    "env_batches": [2, 8], "train_batches": [4], "train_updates": 1, "repeats": 1,
    "min_seconds": 0.0, "target_decisions": 1
}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="bench_gpu.py", description=__doc__.splitlines()[0])
    p.add_argument("--env-batches", type=bench.int_list, default=None,
                   help="env batch sizes (default 2^10..2^17: "
                        f"{','.join(map(str, ENV_BATCHES))})")
    p.add_argument("--train-batches", type=_batches_or_none, default=None,
                   help="pointer training batch sizes, or 'none' (default "
                        f"{','.join(map(str, TRAIN_BATCHES))})")
    p.add_argument("--envs", type=bench.case_list, default=list(ENV_CASES),
                   help=f"env cases (default {','.join(ENV_CASES)})")
    p.add_argument("--policies", type=bench.policy_list, default=["random", "first"],
                   help="env policies (default random,first)")
    p.add_argument("--train-updates", type=int_in(1, 1000), default=None,
                   help="training updates per jitted call (default 4)")
    p.add_argument("--repeats", type=int_in(1, 100), default=None,
                   help="timed repeats per measurement, median shown (default 3)")
    p.add_argument("--min-seconds", type=float_in(0.0, 60.0), default=None,
                   help="minimum wall time of one repeat (default 0.2)")
    p.add_argument("--target-decisions", type=int_in(1, 2**30), default=None,
                   help="env decisions per jitted call; small batches play several rounds "
                        "(default 2^22)")
    p.add_argument("--time-cap", type=float_in(0.0, 86400.0, low_open=True), default=240.0,
                   help="start no measurement after this many seconds (default 240)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes for a CPU smoke test (env batches 2,8, training batch 4, "
                        "1 update, 1 repeat); explicit options still win")
    p.add_argument("--out", type=output_file((".json",)), default=None,
                   help="the JSON report (default results/bench_gpu.json in the repository; "
                        "with --quick, none)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _batches_or_none(text: str) -> list[int]:
    return [] if text.strip().lower() == "none" else bench.int_list(text)


def _settings(args) -> dict:
    """The run's sizes: explicit options, else the quick ones with --quick, else defaults."""
    defaults = {"env_batches": list(ENV_BATCHES), "train_batches": list(TRAIN_BATCHES),
                "train_updates": 4, "repeats": 3, "min_seconds": 0.2,
                "target_decisions": 2**22}
    if args.quick:
        defaults.update(QUICK)
    chosen = {k: getattr(args, k) for k in defaults}
    return {k: defaults[k] if chosen[k] is None else chosen[k] for k in defaults} | {
        "envs": args.envs, "policies": args.policies, "time_cap_s": args.time_cap,
        "quick": args.quick,
    }


def env_row(case: str, batch: int, policy: str, s: dict) -> dict:
    r = bench.throughput(bench.CASES[case].make_env(), batch, policy, repeats=s["repeats"],
                         min_seconds=s["min_seconds"], target_decisions=s["target_decisions"],
                         max_seconds=10.0)
    return {
        "case": case, "policy": policy, "batch": batch,
        "decisions_per_s": r["decisions_per_s"], "schedules_per_s": r["schedules_per_s"],
        "seconds_per_call": r["seconds_per_call_median"], "compile_s": r["compile_s"],
        "warmup_s": r["warmup_s"], "rounds_per_call": r["rounds_per_call"],
        "steps_per_episode": r["steps_per_episode"], "complete_fraction": r["complete_fraction"],
        "mean_makespan": r["mean_makespan"], "repeats": len(r["repeats"]),
    }


def train_row(batch: int, s: dict) -> dict:
    """Pointer training throughput at `batch` (`bench_train.train_row`: compile timed
    alone, then calls of `train_updates` updates)."""
    return pointer_train_row(batch, s["train_updates"], s["repeats"], s["min_seconds"])


def plan(s: dict) -> list[tuple]:
    """The measurements by priority: random-policy envs, training, the other policies."""
    first = s["policies"][:1]
    steps = [("env", c, b, p) for p in first for c in s["envs"] for b in s["env_batches"]]
    steps += [("train", b) for b in s["train_batches"]]
    steps += [("env", c, b, p) for p in s["policies"][1:] for c in s["envs"]
              for b in s["env_batches"]]
    return steps


def target_check(env_rows: list[dict], machine: dict) -> dict:
    rows = [r for r in env_rows if r["case"] == TARGET["case"]]
    best = max((r["decisions_per_s"] for r in rows), default=None)
    gpu = machine["backend"] == "gpu"
    met = None if best is None or not gpu else best >= TARGET["decisions_per_s"]
    verdict = ("not measured" if best is None
               else f"best {best:.3g} decisions/s on {machine['device_kind']} -> "
               + ("met" if met else "NOT met" if met is False else "n/a (not a GPU)"))
    return {**TARGET, "best_decisions_per_s": best, "met": met,
            "summary": f"Target ({TARGET['description']}): {verdict}"}


def render(report: dict) -> str:
    m = report["machine"]
    lines = [f"# jaxshop GPU benchmark: {m['device_kind']} ({m['backend']}, "
             f"{m['num_devices']} device(s)), jax {m['jax']}, {m['cpu_count']} CPUs"
             + (" [--quick smoke sizes]" if report["settings"]["quick"] else ""), "",
             "## Env throughput (compile time apart)", "",
             "| case | policy | batch | decisions/s | schedules/s | s/call | compile s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    order = sorted(report["env"], key=lambda r: (r["case"], r["policy"], r["batch"]))
    lines += [f"| {r['case']} | {r['policy']} | {r['batch']} | {bench.fmt(r['decisions_per_s'])} "
              f"| {bench.fmt(r['schedules_per_s'])} | {r['seconds_per_call']:.3g} "
              f"| {r['compile_s']:.2f} |" for r in order]
    lines += ["", "## Pointer training (REINFORCE + critic, compile time apart)", "",
              "| case | batch | updates/call | updates/s | schedules/s | s/call | compile s |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['batch']} | {r['updates_per_call']} "
              f"| {bench.fmt(r['updates_per_s'])} | {bench.fmt(r['schedules_per_s'])} "
              f"| {r['seconds_per_call']:.3g} | {r['compile_s']:.2f} |" for r in report["train"]]
    c = report["compile_s"]
    lines += ["", f"Compile: env {c['env']:.1f} s, training {c['train']:.1f} s in all; run "
              f"{report['total_seconds']:.1f} s wall.", report["target"]["summary"]]
    if report["skipped"]:
        lines.append(f"Skipped after the {report['settings']['time_cap_s']:g} s cap: "
                     + ", ".join(" ".join(map(str, s)) for s in report["skipped"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    s = _settings(args)
    if args.quick:  # XLA level 0 for the training step: compiles in a fraction of the time
        os.environ.setdefault("JAXSHOP_POINTER_FAST_COMPILE", "1")
    s["pointer_fast_compile"] = os.environ.get("JAXSHOP_POINTER_FAST_COMPILE", "") == "1"
    out = args.out if args.out is not None or args.quick else DEFAULT_OUT
    started = time.perf_counter()
    steps, env_rows, train_rows, skipped = plan(s), [], [], []
    for i, step in enumerate(steps, 1):
        if time.perf_counter() - started > args.time_cap:
            skipped.append(step)
            continue
        if not args.quiet:
            print(f"[{i}/{len(steps)}] {' '.join(map(str, step))} ...", file=sys.stderr,
                  end="", flush=True)
        if step[0] == "env":
            row = env_row(step[1], step[2], step[3], s)
            env_rows.append(row)
            rate = f"{row['decisions_per_s']:.3g} decisions/s"
        else:
            row = train_row(step[1], s)
            train_rows.append(row)
            rate = f"{row['schedules_per_s']:.3g} schedules/s"
        if not args.quiet:
            print(f" {rate}, compile {row['compile_s']:.2f} s", file=sys.stderr)
    machine = bench.machine_info()
    report = {
        "benchmark": "jaxshop GPU throughput: env decisions/s, pointer training schedules/s",
        "created": bench.now(),
        "argv": argv,
        "machine": machine,
        "settings": s,
        "env": env_rows,
        "train": train_rows,
        "compile_s": {"env": sum(r["compile_s"] for r in env_rows),
                      "train": sum(r["compile_s"] for r in train_rows)},
        "skipped": [list(step) for step in skipped],
        "target": target_check(env_rows, machine),
        "total_seconds": time.perf_counter() - started,
    }
    print(render(report))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
        if not args.quiet:
            print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    bench.script_main(main)
