#!/usr/bin/env python
"""Env throughput report: jaxshop's cases (`jaxshop_baselines.bench`), with `--peers` Jumanji's
`JobShop` on the job-shop sizes, written to `runs/results/bench_envs.json` (git-ignored)
unless `--out` names another file: the tracked `results/bench_envs.json` changes only
when `--out` names it.

    python scripts/bench_envs.py --cases jssp_10x10_t6 --batch 1024,4096 --peers
    python scripts/bench_envs.py --cases pfsp --out /tmp/b.json --append --markdown /tmp/b.md

The measurement options are those of `jaxshop bench` (`jaxshop_baselines.bench.add_measure_options`;
the method is described in `baselines/bench.py`). The report adds the load average before
and after, the sha256 of the env sources (`source_sha256`, since envs change), the
jaxshop / Jumanji ratios and the check of the project goal (`GOAL`). Peak RSS is the
process peak so far (`resource.getrusage`), not that of one measurement.

`--peers` runs Jumanji's `JobShop` (when `jumanji` is installed) on each job-shop case's
sizes: `RandomGenerator(num_jobs, num_machines, max_num_ops=num_machines,
max_op_duration)`, a random valid policy (per machine, a uniform choice among its valid
jobs; no-op only when the machine has no valid job, so no episode dies of the "all
machines idle" rule), vmapped steps inside a `lax.while_loop` that runs until every
episode of the batch is done. Only complete schedules count. Jumanji's env is
time-stepped (one step = one time unit, several machines decide per step) and its
RandomGenerator draws 1..max_num_ops operations per job, so its "decisions" are time
steps and its schedules hold fewer operations than a jaxshop job shop of the same size;
the operations/s ratio is reported next to the schedules/s ratio for that reason. The
peer policies match jaxshop's: `random` (one uniform per machine and step, the k-th valid
job), `random-per-action` (one uniform per (machine, job)) and `first` (the lowest valid
job). A peer pair is measured back to back, so both see about the same load.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
from jax import lax
from jaxshop_baselines import bench

import jaxshop
from jaxshop.options import ArgumentParser, UsageError, output_file

DEFAULT_OUT = "runs/results/bench_envs.json"  # git-ignored; tracked figures: --out results/...
GOAL = {
    "description": (
        ">= 30x Jumanji JobShop's complete schedules/s on 10x10 at batch 1024-4096 on a "
        "2-core CPU (Jumanji is said to reach ~2,600 schedules/s there)"
    ),
    "case": "jssp_10x10_t6",
    "batches": [1024, 4096],
    "min_ratio": 30.0,
    "jumanji_reference_schedules_per_s": 2600.0,
}
NOTES = [
    "throughputs are medians over repeats; peak RSS is the process peak so far",
    "jaxshop: one decision schedules one job (PFSP) or one operation (job shops); "
    "Jumanji: one decision is one time step of all machines",
    "Jumanji's RandomGenerator draws 1..max_num_ops ops per job (about half of a "
    "jaxshop job shop's num_jobs * num_machines ops); compare operations/s too",
    "schedules/CPU-s divides by this process's CPU time: less sensitive to other "
    "processes on a shared machine than wall-clock throughput",
]
SOURCES = ("env.py", "rollout.py", "pfsp/env.py", "pfsp/generator.py", "pfsp/makespan.py",
           "fjsp/env.py", "fjsp/generator.py", "bench.py")


# ----------------------------------------------------------------------------- Jumanji


def jumanji_available() -> bool:
    try:
        import jumanji  # noqa: F401
    except ImportError:
        return False
    return True


def jumanji_random_valid_action(key: jax.Array, mask: jax.Array, num_jobs: int) -> jax.Array:
    """(M,) int32 for one Jumanji JobShop state: per machine a uniform valid job, no-op
    (`num_jobs`) only when the machine has no valid job. `mask` is `(M, num_jobs + 1)`.
    One uniform per (machine, job) and an argmax: the `random-per-action` policy."""
    real = mask[:, :num_jobs]
    scores = jax.random.uniform(key, real.shape) + real.astype(jnp.float32)
    choice = jnp.argmax(scores, axis=-1).astype(jnp.int32)
    return jnp.where(real.any(-1), choice, jnp.int32(num_jobs))


def jumanji_kth_random_valid_action(key: jax.Array, mask: jax.Array,
                                    num_jobs: int) -> jax.Array:
    """Like `jumanji_random_valid_action` (same distribution) from one uniform per machine:
    each machine's k-th valid job, `jaxshop.rollout.random_valid_action` on its row (the
    `random` policy)."""
    from jaxshop.rollout import random_valid_action

    real = mask[:, :num_jobs]
    keys = jax.random.split(key, real.shape[0])
    choice = jax.vmap(random_valid_action)(keys, real)
    return jnp.where(real.any(-1), choice, jnp.int32(num_jobs))


def jumanji_first_valid_action(mask: jax.Array, num_jobs: int) -> jax.Array:
    """(M,) int32: per machine its lowest-index valid job, no-op only when it has none."""
    real = mask[:, :num_jobs]
    choice = jnp.argmax(real, axis=-1).astype(jnp.int32)
    return jnp.where(real.any(-1), choice, jnp.int32(num_jobs))


def build_jumanji(generator_kwargs: dict, batch: int, target_decisions: int,
                  policy: str = "random") -> tuple[Callable, dict]:
    """`fn(seed) -> dict of scalars` playing Jumanji's `JobShop` until every episode ends."""
    from jumanji.environments import JobShop
    from jumanji.environments.packing.job_shop.generator import RandomGenerator

    jenv = JobShop(generator=RandomGenerator(**generator_kwargs))
    num_jobs = jenv.num_jobs
    # A loose bound on an episode's time steps: every op run back to back.
    max_t = jenv.num_jobs * jenv.max_num_ops * jenv.max_op_duration + 2
    nominal_steps = jenv.num_jobs * jenv.max_num_ops  # only sizes `rounds`
    rounds = bench.rounds_per_call(batch, nominal_steps, target_decisions)
    if policy == "random-per-action":
        act = jax.vmap(lambda k, m: jumanji_random_valid_action(k, m, num_jobs))
    elif policy == "random":
        act = jax.vmap(lambda k, m: jumanji_kth_random_valid_action(k, m, num_jobs))
    else:
        act = jax.vmap(lambda k, m: jumanji_first_valid_action(m, num_jobs))

    def play(key: jax.Array) -> dict:
        k_reset, k_play = jax.random.split(key)
        state, _ = jax.vmap(jenv.reset)(jax.random.split(k_reset, batch))
        operations = (state.ops_machine_ids >= 0).sum((1, 2), dtype=jnp.int32)
        zeros_b = jnp.zeros(batch, jnp.int32)
        false_b = jnp.zeros(batch, bool)

        def cond(c):
            return ~jnp.all(c["finished"]) & (c["t"] < max_t)

        def body(c):
            key, k = jax.random.split(c["key"])
            action = act(jax.random.split(k, batch), c["state"].action_mask)
            state, ts = jax.vmap(jenv.step)(c["state"], action)
            live = ~c["finished"]
            ended = live & ts.last()
            complete = ended & ~state.ops_mask.any((1, 2)) & (
                state.machines_remaining_times == 0
            ).all(-1)
            return {
                "state": state,
                "key": key,
                "t": c["t"] + 1,
                "finished": c["finished"] | ts.last(),
                "complete": c["complete"] | complete,
                "steps": c["steps"] + live,
                "makespan": jnp.where(complete, state.step_count, c["makespan"]),
            }

        init = {
            "state": state, "key": k_play, "t": jnp.zeros((), jnp.int32),
            "finished": false_b, "complete": false_b, "steps": zeros_b, "makespan": zeros_b,
        }
        c = lax.while_loop(cond, body, init)
        done = c["complete"]
        return {
            "episodes": jnp.asarray(batch, jnp.int32),
            "complete": done.sum(dtype=jnp.int32),
            "steps": c["steps"].sum(dtype=jnp.int32),
            "operations": jnp.where(done, operations, 0).sum(dtype=jnp.int32),
            "makespan_sum": jnp.where(done, c["makespan"], 0).astype(jnp.float32).sum(),
        }

    def fn(seed: jax.Array) -> dict:
        acc = bench.sum_rounds(play, seed, rounds)
        acc["decisions"] = acc["steps"]  # a Jumanji "decision" is one time step
        return acc

    return fn, {"rounds_per_call": rounds, "max_time_steps": max_t,
                "generator": dict(generator_kwargs)}


def run_jumanji(case: bench.Case, batch: int, policy: str, args) -> dict:
    """Measures Jumanji's JobShop at `case`'s sizes (the `peer` of `bench.run_plan`)."""
    fn, settings = build_jumanji(case.jumanji, batch, args.target_decisions, policy)
    result = bench.summarize(bench.measure(fn, args.repeats, args.min_seconds,
                                           args.max_case_seconds))
    return {"case": case.name, "impl": "jumanji", "policy": policy, "batch": batch,
            **settings, **result, "peak_rss_mb_process_so_far": bench.peak_rss_mb()}


# ----------------------------------------------------------------------------- report


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def load() -> dict:
    """Load average, `uptime` and the time: how busy the machine was."""
    try:
        avg = list(os.getloadavg())
    except OSError:  # pragma: no cover - not on Unix
        avg = None
    return {"loadavg_1_5_15": avg, "uptime": _uptime(), "time": bench.now()}


def source_digests() -> dict:
    """Short sha256 of the jaxshop sources a measurement depends on (envs change often);
    `bench.py` is the harness (`jaxshop_baselines.bench`)."""
    root = Path(jaxshop.__file__).resolve().parent
    out = {}
    for name in SOURCES:
        path = Path(bench.__file__).resolve() if name == "bench.py" else root / name
        if path.exists():
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return out


def machine_info() -> dict:
    """`jaxshop_baselines.bench.machine_info` and the Jumanji version (None when not installed)."""
    info = bench.machine_info()
    try:
        import jumanji

        info["jumanji"] = jumanji.__version__
    except ImportError:
        info["jumanji"] = None
    return info


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def peer_ratios(results: list[dict]) -> list[dict]:
    """jaxshop / Jumanji throughput ratios for each (case, policy, batch) measured by both."""
    by = {(r["case"], r["policy"], r["batch"], r["impl"]): r for r in results}
    rows = []
    for (case, policy, batch, impl), ours in by.items():
        peer = by.get((case, policy, batch, "jumanji"))
        if impl != "jaxshop" or peer is None:
            continue
        rows.append({
            "case": case,
            "policy": policy,
            "batch": batch,
            "jaxshop_schedules_per_s": ours["schedules_per_s"],
            "jumanji_schedules_per_s": peer["schedules_per_s"],
            "schedules_ratio": _ratio(ours["schedules_per_s"], peer["schedules_per_s"]),
            "schedules_per_cpu_s_ratio": _ratio(
                ours["schedules_per_cpu_s"], peer["schedules_per_cpu_s"]
            ),
            "operations_ratio": _ratio(ours["operations_per_s"], peer["operations_per_s"]),
            "jumanji_complete_fraction": peer["complete_fraction"],
        })
    return rows


def goal_check(ratios: list[dict]) -> dict:
    """The project goal (`GOAL`) against the measured random-policy ratios."""
    rows = [
        r for r in ratios
        if r["case"] == GOAL["case"] and r["policy"] == "random" and r["batch"] in GOAL["batches"]
    ]
    check = {**GOAL, "measured": rows}
    if not rows:
        check["met"] = None
        check["summary"] = (f"Goal: not evaluated (needs {GOAL['case']} with the random policy "
                            f"at batch {GOAL['batches']} and --peers).")
        return check
    worst = min(r["schedules_ratio"] or 0.0 for r in rows)
    best_ours = max(r["jaxshop_schedules_per_s"] for r in rows)
    check["met"] = worst >= GOAL["min_ratio"]
    check["summary"] = (
        f"Goal ({GOAL['description']}): measured ratio "
        + ", ".join(
            f"{r['schedules_ratio']:.2f}x at batch {r['batch']} "
            f"({r['schedules_per_cpu_s_ratio']:.2f}x per CPU-second)"
            for r in rows
        )
        + f" -> {'met' if check['met'] else 'NOT met'}"
        + ("" if check["met"] else f" (short by {GOAL['min_ratio'] / max(worst, 1e-9):.1f}x)")
        + f". jaxshop's best here: {best_ours:,.0f} schedules/s = "
        f"{best_ours / GOAL['jumanji_reference_schedules_per_s']:.1f}x the quoted ~2,600."
    )
    return check


def _loadavg(state: dict) -> str:
    values = state.get("loadavg_1_5_15")
    return "n/a" if not values else "/".join(f"{v:.2f}" for v in values)


def markdown(report: dict) -> str:
    """The throughput table, the load line and the Jumanji ratios (if any) as Markdown."""
    loads = "; ".join(
        f"run {i}: {_loadavg(inv['load_before'])} before, {_loadavg(inv['load_after'])} after"
        for i, inv in enumerate(report.get("invocations", [report]))
    )
    lines = [
        bench.table(report["results"]),
        "",
        "Medians over repeats; peak RSS is the process peak so far (within one run it only "
        f"grows down the table). Load average (1/5/15 min) on "
        f"{report['machine']['cpu_count']} CPUs: {loads}.",
    ]
    if report["peer_ratios"]:
        lines += [
            "",
            "| case | policy | batch | jaxshop schedules/s | Jumanji schedules/s | ratio "
            "| ratio per CPU-s | ops/s ratio |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for p in report["peer_ratios"]:
            lines.append(
                f"| {p['case']} | {p['policy']} | {p['batch']} "
                f"| {bench.fmt(p['jaxshop_schedules_per_s'])} "
                f"| {bench.fmt(p['jumanji_schedules_per_s'])} "
                f"| {bench.fmt(p['schedules_ratio'])}x "
                f"| {bench.fmt(p['schedules_per_cpu_s_ratio'])}x "
                f"| {bench.fmt(p['operations_ratio'])}x |"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="bench_envs.py", description=__doc__.splitlines()[0])
    bench.add_measure_options(p)
    p.add_argument("--peers", action="store_true",
                   help="also measure Jumanji's JobShop on the job-shop cases (needs jumanji)")
    p.add_argument("--out", type=output_file((".json",)), default=None,
                   help=f"the JSON report (default {DEFAULT_OUT})")
    p.add_argument("--append", action="store_true",
                   help="add this run's results to the report already in --out (the Markdown "
                        "then covers all of them)")
    p.add_argument("--markdown", type=output_file((".md",)), default=None, metavar="FILE.md",
                   help="also write the Markdown table(s) to this file")
    return p


def _previous_report(path: Path) -> dict | None:
    """The report in `path` to extend with `--append` (None when there is none)."""
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    if "invocations" not in report or "results" not in report:
        raise UsageError(f"{path} is not a report of bench_envs.py; cannot --append to it")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = Path(DEFAULT_OUT)
        args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = _previous_report(Path(args.out)) if args.append else None
    peers = args.peers and any(bench.CASES[c].jumanji for c in args.cases)
    notes = []
    if peers and not jumanji_available():
        notes.append("--peers: jumanji is not installed (pip install 'jaxshop[bench]'); "
                     "Jumanji was not measured")
        print(f"bench_envs.py: {notes[-1]}", file=sys.stderr)
        peers = False
    plan = []
    for name in args.cases:
        impls = ["jaxshop"] + (["jumanji"] if peers and bench.CASES[name].jumanji else [])
        plan += [(name, impl, pol, b) for pol in args.policies for b in args.batch
                 for impl in impls]

    load_before = load()
    digests = source_digests()  # before the envs are built (their modules are imported)
    started = time.perf_counter()
    results = bench.run_plan(args, plan, peer=run_jumanji)
    invocation = {
        "finished": bench.now(),
        "argv": argv,
        "source_sha256": digests,
        "load_before": load_before,
        "load_after": load(),
        "total_seconds": time.perf_counter() - started,
        "settings": {**bench.settings_of(args), "peers": peers},
    }
    invocations = (previous["invocations"] if previous else []) + [invocation]
    for r in results:
        r["invocation"] = len(invocations) - 1
    results = (previous["results"] if previous else []) + results
    descriptions = dict(previous["case_descriptions"]) if previous else {}
    descriptions.update({n: bench.CASES[n].description for n in args.cases})
    report = {
        "benchmark": "jaxshop env throughput (jit + vmap in lax.scan), Jumanji JobShop peer",
        "created": invocations[0].get("finished"),
        "machine": machine_info(),
        "load_before": invocations[0]["load_before"],
        "load_after": invocation["load_after"],
        "invocations": invocations,
        "case_descriptions": descriptions,
        "notes": list(dict.fromkeys((previous["notes"] if previous else []) + notes + NOTES)),
        "results": results,
        "peer_ratios": peer_ratios(results),
    }
    report["goal"] = goal_check(report["peer_ratios"]) if report["peer_ratios"] else None
    text = markdown(report)
    if report["goal"]:
        text += "\n\n" + report["goal"]["summary"]
    print(text)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    bench.script_main(main)
