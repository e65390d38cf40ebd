"""Kernel-Q learning curves: ARPD and solve time against value-iteration sweeps and against
the number of training instances, for Taillard 100x20 and 200x20.

Per size, one set of transitions is sampled from `--instances` random `n x 20` flow shops
with the shipped model's kernel settings (lambda, sigma, features, gamma, ridge, candidate
list). Curve 1: value iteration on all of them, the search evaluated after 0 (`w = 0`,
`Q = r`), 1, 2, 5, 10, 20 and 40 sweeps. Curve 2: the full sweep budget on the first
k instances' transitions only. Every evaluation is `--moves` search moves from NEH on the
Taillard group of that size (10 instances as one batch, compile excluded).

Writes `results/kernel_q_curves.{json,md,png}`.

    python scripts/kernel_q_curves.py [--sizes 100,200] [--instances 64]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxshop_baselines.bench import GROUPS, arpd, search_best

ROOT = Path(__file__).resolve().parents[1]

SWEEPS = (0, 1, 2, 5, 10, 20, 40)
MOVES = {100: 100, 200: 50}


def run_size(n: int, shipped, instances: int, counts: list[int], key,
             save_dir: Path | None = None) -> dict:
    """Both curves for the Taillard group `n x 20`; with `save_dir`, the model of the full
    sweep budget on all instances is written to `save_dir / "{n}x20"`."""
    from jaxshop_baselines.kernel_q.train import (
        _keys,
        init_params,
        make_sampler,
        save_model,
        value_iteration,
    )
    from jaxshop_baselines.neh import neh_batch

    import jaxshop
    from jaxshop.instances.bounds import best_known_for

    group = f"{n}x20"
    insts = [jaxshop.load(f"ta{i:03d}") for i in GROUPS[group]]
    ubs = [best_known_for(i)[1][1] for i in insts]
    batch = jaxshop.stack(insts)
    _, neh_cmax = neh_batch(batch.processing_times, batch.job_mask)
    moves = MOVES.get(n, 50)
    config = dataclasses.replace(shipped, jobs=n, machines=20, instances=instances,
                                 max_iters=max(SWEEPS), tol=0.0)
    t1 = time.perf_counter()
    data = jax.block_until_ready(jax.jit(make_sampler(config))(jax.random.split(key)[1]))
    sample_s = time.perf_counter() - t1
    print(f"{group}: sampled {data[0].shape[0]} transitions in {sample_s:.1f} s", flush=True)
    per_instance = data[0].shape[0] // instances

    def score(params, label):
        best, seconds = search_best(config, params, batch, moves)
        value = arpd(best, ubs)
        print(f"  {label}: ARPD {value:.2f} % ({seconds:.1f} s for {moves} moves)", flush=True)
        return {"arpd": value, "makespans": best.tolist(), "solve_s": seconds}

    chunk = jax.jit(lambda d, p, i0, i1, h: value_iteration(config, d, p, i0, i1, h))
    nan_deltas = jnp.full(config.max_iters, jnp.nan, jnp.float32)
    sweeps_rows = []
    params, deltas, done = init_params(config, _keys(key)[0]), nan_deltas, 0
    for target in SWEEPS:
        if target > done:
            params, it, deltas = chunk(data, params, done, target, deltas)
            done = int(it)
        sweeps_rows.append({"sweeps": target, **score(params, f"{target} sweeps")})
    if save_dir is not None:
        save_model(save_dir / group, config, jax.device_get(params),
                   {"sweeps": done, "seed": 0, "trained_by": "scripts/kernel_q_curves.py",
                    "taillard_arpd": sweeps_rows[-1]["arpd"], "taillard_moves": moves})
    count_rows = []
    for count in counts:
        sub = jax.tree_util.tree_map(lambda a, c=count: a[:c * per_instance], data)
        fitted, _, _ = chunk(sub, init_params(config, _keys(key)[0]), 0, config.max_iters,
                             nan_deltas)
        count_rows.append({"instances": count, **score(fitted, f"{count} training instances")})
    return {"group": group, "moves": moves, "neh_arpd": arpd(np.asarray(neh_cmax), ubs),
            "sample_s": round(sample_s, 1), "transitions_per_instance": per_instance,
            "sweeps": max(SWEEPS), "by_sweeps": sweeps_rows, "by_instances": count_rows}


def main() -> None:
    from jaxshop_baselines.kernel_q import DEFAULT_MODEL, load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,200")
    ap.add_argument("--instances", type=int, default=64)
    ap.add_argument("--counts", default="4,8,16,32,64", help="training-instance counts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "runs" / "results" / "kernel_q_curves"))
    ap.add_argument("--save-dir", default=None,
                    help="write each size's full-budget model to DIR/<n>x20")
    args = ap.parse_args()
    shipped, _ = load_model(DEFAULT_MODEL)
    counts = [int(c) for c in args.counts.split(",") if int(c) <= args.instances]
    key = jax.random.PRNGKey(args.seed)
    report = {"model_settings": dataclasses.asdict(shipped), "sizes": []}
    t0 = time.perf_counter()
    for n in (int(s) for s in args.sizes.split(",")):
        report["sizes"].append(run_size(n, shipped, args.instances, counts, key,
                                        Path(args.save_dir) if args.save_dir else None))
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["total_s"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# Kernel-Q learning curves (Taillard 100x20 and 200x20)", "",
             "Search from NEH with a fixed move budget, batch of the 10 instances (solve time "
             "of the batch, compile excluded). Kernel settings of the shipped model; "
             "training instances are random n x 20 flow shops of the group's size. 0 sweeps "
             "is `w = 0` (`Q = r`). 2-core CPU, load average "
             f"{report['load_average']}.", ""]
    for size in report["sizes"]:
        lines += [f"## {size['group']} ({size['moves']} moves; NEH {size['neh_arpd']:.2f} %)",
                  "", "| sweeps | ARPD | solve s |", "|---:|---:|---:|"]
        lines += [f"| {r['sweeps']} | {r['arpd']:.2f} % | {r['solve_s']:.1f} |"
                  for r in size["by_sweeps"]]
        lines += ["", f"| training instances ({size['sweeps']} sweeps) | ARPD | solve s |",
                  "|---:|---:|---:|"]
        lines += [f"| {r['instances']} | {r['arpd']:.2f} % | {r['solve_s']:.1f} |"
                  for r in size["by_instances"]]
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for size in report["sizes"]:
        axes[0].plot([r["sweeps"] for r in size["by_sweeps"]],
                     [r["arpd"] for r in size["by_sweeps"]], "o-", label=size["group"])
        axes[1].plot([r["instances"] for r in size["by_instances"]],
                     [r["arpd"] for r in size["by_instances"]], "o-", label=size["group"])
    axes[0].set_xlabel("value-iteration sweeps")
    axes[1].set_xlabel("training instances")
    axes[1].set_xscale("log", base=2)
    for ax in axes:
        ax.set_ylabel("ARPD (%)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(f"wrote {out}.json/.md/.png in {report['total_s']} s")


if __name__ == "__main__":
    main()
