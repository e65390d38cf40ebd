#!/usr/bin/env python3
"""NEH and iterated greedy on the 120 Taillard flow-shop instances (ta001-ta120).

Each size group (10 instances of one size) runs as one vmapped batch. Compile time (ahead
of time, `lower().compile()`) is reported apart from run time (`block_until_ready`).
Machines are padded to 20 (zero times, masked; results unchanged) so that the groups with
the same number of jobs share one compilation (`--exact-shapes` compiles every group).
Quality is the average relative percent deviation (ARPD) from the best-known upper bounds
in `jaxshop.instances.bounds`: `100 * (Cmax - UB) / UB`, averaged over instances (and, for
IG, over restarts).

IG budget: `--ig-iters N` iterations per run (default), or `--ig-ms-factor F` for Ruiz &
Stützle's time limit of `n * (m / 2) * F` ms of CPU time per instance. As the 10 instances
of a group share one vmapped call, a group gets `10 * n * (m / 2) * F` ms of wall time (the
same CPU time per instance as running them one after another; restarts share it).

Usage: python scripts/pfsp_heuristics.py [--ig-iters 5] [--ig-ms-factor F]
       [--ig-restarts R] [--groups 20x5,50x10] [--no-ig] [--exact-shapes]
       [--out results/pfsp_heuristics.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxshop_baselines.bench import compile_and_run
from jaxshop_baselines.iterated_greedy import compile_ig_batch, iterated_greedy_timed
from jaxshop_baselines.neh import neh_batch

import jaxshop
from jaxshop.instances import bounds, taillard

GROUPS = [
    "20x5", "20x10", "20x20", "50x5", "50x10", "50x20",
    "100x5", "100x10", "100x20", "200x10", "200x20", "500x20",
]  # fmt: skip


def taillard_groups(selected: list[str]) -> dict[str, list[str]]:
    """Instance names per size group, in Taillard's order."""
    groups: dict[str, list[str]] = defaultdict(list)
    for k in range(1, 121):
        group = taillard.pfsp_group(k)
        if group in selected:
            groups[group].append(taillard.pfsp_name(k))
    return {g: groups[g] for g in selected}


def load_group(
    names: list[str], max_machines: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stacked `(B, n, M)` times, job and machine masks, and best-known upper bounds.

    With `max_machines`, machines are padded (zero times, masked) to that count, so groups
    with the same number of jobs share one compiled shape; results do not change.
    """
    instances = [jaxshop.load(name) for name in names]
    sizes = {} if max_machines is None else {"max_machines": max_machines}
    batch = jaxshop.stack(instances, **sizes)
    ubs = np.array([bounds.best_known(name)[1] for name in names], np.int64)
    return (
        np.asarray(batch.processing_times),
        np.asarray(batch.job_mask),
        np.asarray(batch.machine_mask),
        ubs,
    )


def rpd(makespans: np.ndarray, ubs: np.ndarray) -> np.ndarray:
    """Relative percent deviation from the upper bounds (broadcast over trailing axes)."""
    ubs = ubs.reshape(ubs.shape + (1,) * (makespans.ndim - 1))
    return 100.0 * (makespans - ubs) / ubs


def run_neh(names: list[str], times, job_mask, ubs) -> dict:
    """NEH on one group: compile and run times, makespans and ARPD.

    Compile time is 0 (a cache hit) when an earlier group had the same padded shape.
    """
    (perms, spans), compile_s, run_s = compile_and_run(neh_batch, times, job_mask)
    spans = np.asarray(spans)
    check = np.asarray(jax.vmap(jaxshop.pfsp.makespan)(times, perms))
    if not np.array_equal(check, spans):
        raise AssertionError("NEH makespan differs from the makespan of its permutation")
    r = rpd(spans, ubs)
    return {
        "arpd": float(r.mean()),
        "compile_s": compile_s,
        "run_s": run_s,
        "instances": {
            name: {"makespan": int(c), "ub": int(u), "rpd": float(x)}
            for name, c, u, x in zip(names, spans, ubs, r, strict=True)
        },
    }


def run_ig(names, times, job_mask, machine_mask, ubs, keys, args) -> dict:
    """IG on one group (iteration or time budget): timings, makespans and ARPD."""
    n, m = int(job_mask[0].sum()), int(machine_mask[0].sum())  # real sizes, not padded
    if args.ig_ms_factor is not None:
        budget_s = len(names) * n * (m / 2) * args.ig_ms_factor / 1000.0
        state, timing = iterated_greedy_timed(times, job_mask, machine_mask, keys, budget_s)
        compile_s, run_s, iters = timing["compile_s"], timing["search_s"], timing["iterations"]
    else:
        budget_s = None
        compiled = compile_ig_batch(times, job_mask, machine_mask, keys)
        compile_s = compiled.compile_s
        t0 = time.perf_counter()
        state = compiled.init(times, job_mask, machine_mask, keys)
        state = compiled.run(state, times, job_mask, machine_mask, jnp.int32(args.ig_iters))
        jax.block_until_ready(state)
        run_s, iters = time.perf_counter() - t0, args.ig_iters
    spans = np.asarray(state.best_makespan)  # (B, R)
    check = np.asarray(
        jax.vmap(jax.vmap(jaxshop.pfsp.makespan, in_axes=(None, 0)))(times, state.best_sequence)
    )
    if not np.array_equal(check, spans):
        raise AssertionError("IG makespan differs from the makespan of its permutation")
    r = rpd(spans, ubs)
    return {
        "arpd": float(r.mean()),
        "arpd_best_of_restarts": float(rpd(spans.min(axis=1), ubs).mean()),
        "iterations": int(iters),
        "wall_budget_s": budget_s,
        "compile_s": compile_s,
        "run_s": run_s,
        "instances": {
            name: {"makespans": [int(c) for c in row], "ub": int(u)}
            for name, row, u in zip(names, spans, ubs, strict=True)
        },
    }


def markdown(results: dict, with_ig: bool) -> str:
    """One row per group plus the overall row."""
    head = "| group | NEH ARPD % | NEH compile s | NEH run s |"
    rule = "|---|---:|---:|---:|"
    if with_ig:
        head += " IG ARPD % | IG iters | IG compile s | IG run s |"
        rule += "---:|---:|---:|---:|"
    lines = [head, rule]
    for group, row in results["groups"].items():
        neh = row["neh"]
        line = f"| {group} | {neh['arpd']:.2f} | {neh['compile_s']:.2f} | {neh['run_s']:.3f} |"
        if with_ig:
            ig = row["ig"]
            line += (
                f" {ig['arpd']:.2f} | {ig['iterations']} | {ig['compile_s']:.2f} |"
                f" {ig['run_s']:.2f} |"
            )
        lines.append(line)
    tot = results["overall"]
    line = (
        f"| **all** | **{tot['neh_arpd']:.2f}** | {tot['neh_compile_s']:.2f} |"
        f" {tot['neh_run_s']:.3f} |"
    )
    if with_ig:
        line += f" **{tot['ig_arpd']:.2f}** | | {tot['ig_compile_s']:.2f} | {tot['ig_run_s']:.2f} |"
    lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ig-iters", type=int, default=5, help="IG iterations per run (default 5)")
    ap.add_argument(
        "--ig-ms-factor",
        type=float,
        default=None,
        help="time budget n*(m/2)*F ms per instance instead of --ig-iters",
    )
    ap.add_argument("--ig-restarts", type=int, default=1, help="independent IG runs per instance")
    ap.add_argument("--seed", type=int, default=0, help="PRNG seed of the IG runs")
    ap.add_argument("--groups", default=",".join(GROUPS), help="comma-separated size groups")
    ap.add_argument("--no-ig", action="store_true", help="run NEH only")
    ap.add_argument(
        "--exact-shapes",
        action="store_true",
        help="compile each group at its exact size (default: pad machines to 20, so groups "
        "with the same number of jobs share one compilation)",
    )
    ap.add_argument("--out", default="runs/results/pfsp_heuristics.json", help="JSON output path")
    args = ap.parse_args(argv)
    selected = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = sorted(set(selected) - set(GROUPS))
    if unknown:
        ap.error(f"unknown groups {unknown}; choose from {','.join(GROUPS)}")
    if args.ig_iters < 0 or args.ig_restarts < 1:
        ap.error("--ig-iters must be >= 0 and --ig-restarts >= 1")
    with_ig = not args.no_ig

    results: dict = {
        "benchmark": "Taillard PFSP (Fm|prmu|Cmax), ARPD from best-known upper bounds",
        "platform": {
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "device": str(jax.devices()[0]),
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
        "ig_settings": None,
        "groups": {},
    }
    if with_ig:
        results["ig_settings"] = {
            "d": 4,
            "t_factor": 0.4,
            "restarts": args.ig_restarts,
            "seed": args.seed,
            "budget": (
                {"iterations": args.ig_iters}
                if args.ig_ms_factor is None
                else {"ms_factor": args.ig_ms_factor, "per_instance_ms": "n*(m/2)*F"}
            ),
        }
    max_machines = None if args.exact_shapes else 20
    results["padded_machines"] = max_machines
    key = jax.random.key(args.seed)
    for gi, (group, names) in enumerate(taillard_groups(selected).items()):
        times, job_mask, machine_mask, ubs = load_group(names, max_machines)
        row = {"neh": run_neh(names, times, job_mask, ubs)}
        msg = f"{group}: NEH ARPD {row['neh']['arpd']:.2f}%"
        if with_ig:
            keys = jax.random.split(jax.random.fold_in(key, gi), (len(names), args.ig_restarts))
            row["ig"] = run_ig(names, times, job_mask, machine_mask, ubs, keys, args)
            msg += f", IG ARPD {row['ig']['arpd']:.2f}% ({row['ig']['run_s']:.1f} s)"
        print(msg, file=sys.stderr, flush=True)
        results["groups"][group] = row

    rows = list(results["groups"].values())
    all_neh = [v["rpd"] for r in rows for v in r["neh"]["instances"].values()]
    overall = {
        "instances": len(all_neh),
        "neh_arpd": float(np.mean(all_neh)),
        "neh_compile_s": sum(r["neh"]["compile_s"] for r in rows),
        "neh_run_s": sum(r["neh"]["run_s"] for r in rows),
    }
    if "ta001" in results["groups"].get("20x5", {}).get("neh", {}).get("instances", {}):
        overall["neh_ta001"] = results["groups"]["20x5"]["neh"]["instances"]["ta001"]["makespan"]
    if with_ig:
        overall["ig_arpd"] = float(np.mean([r["ig"]["arpd"] for r in rows]))  # equal group sizes
        overall["ig_arpd_best_of_restarts"] = float(
            np.mean([r["ig"]["arpd_best_of_restarts"] for r in rows])
        )
        overall["ig_compile_s"] = sum(r["ig"]["compile_s"] for r in rows)
        overall["ig_run_s"] = sum(r["ig"]["run_s"] for r in rows)
    results["overall"] = overall

    table = markdown(results, with_ig)
    results["markdown"] = table
    print(table)
    if "neh_ta001" in overall:
        print(f"\nNEH ta001 makespan: {overall['neh_ta001']}")
    if with_ig:
        budget = results["ig_settings"]["budget"]
        print(f"IG budget: {budget}, restarts {args.ig_restarts}, seed {args.seed}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
