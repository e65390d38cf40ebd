"""Choose the kernel Q-regressor's lambda, sigma and feature count by validation.

One set of transitions is sampled (`jobs x machines` random flow shops; the sample does not
depend on the kernel), then for every grid point value iteration fits `w` and the learned
search runs a fixed number of moves from NEH on `--val` held-out random instances
(`--val-jobs x machines`, another key). The score is the mean relative deviation of the
best makespan found from NEH's (negative = better). Stage 1 is the grid over lambda,
sigma and the random-feature count (gamma and the ridge penalty at their defaults);
stage 2 varies gamma, the ridge penalty and the sweep bound at the stage-1 winner; stage 3
the sampled actions per state, the candidate list, the walk length and the action
sampling (`candidates`: uniformly among the candidate list, the base; `mixed`: half the
best and half random swaps), which change the sampled data, so it is sampled again.
The reference row `w = 0` is the same search with the learned part switched off
(`Q = r`: a plain tabu search of steepest swaps), so the table shows what the regressor
adds.

Writes `results/kernel_q_select.{json,md}` and the winner as a model directory (`--out`).

    python scripts/kernel_q_select.py [--jobs 50] [--moves 150] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxshop_baselines.bench import search_best

ROOT = Path(__file__).resolve().parents[1]


def evaluate(config, params, batch, neh_cmax, moves: int) -> tuple[float, float]:
    """`(mean % vs NEH, search seconds)` of `moves` learned-search moves on `batch`."""
    best, seconds = search_best(config, params, batch, moves)
    return float(np.mean(100.0 * (best - neh_cmax) / neh_cmax)), seconds


def fit(config, data, key):
    """`(params, sweeps)`: value iteration of `config` on the shared transitions."""
    from jaxshop_baselines.kernel_q.train import _keys, init_params, value_iteration

    params = init_params(config, _keys(key)[0])
    deltas = jnp.full(config.max_iters, jnp.nan, jnp.float32)
    run = jax.jit(lambda d, p, h: value_iteration(config, d, p, 0, config.max_iters, h))
    params, it, _ = run(data, params, deltas)
    if not bool(jnp.isfinite(params["w"]).all()):
        raise ValueError(f"value iteration diverged for {config}")
    return params, int(it)


def main() -> None:
    from jaxshop_baselines.kernel_q.train import (
        CLI_DEFAULTS,
        DEFAULT_CANDIDATES,
        KernelQConfig,
        make_sampler,
    )
    from jaxshop_baselines.neh import neh_batch

    from jaxshop.pfsp.generator import UniformPFSPGenerator

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=50, help="jobs per training instance")
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--instances", type=int, default=32, help="training instances")
    ap.add_argument("--val-jobs", type=int, default=50, help="jobs per validation instance")
    ap.add_argument("--val", type=int, default=10, help="validation instances")
    ap.add_argument("--moves", type=int, default=150, help="search moves per evaluation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="model directory for the winner")
    ap.add_argument("--report", default=str(ROOT / "runs" / "results" / "kernel_q_select"))
    ap.add_argument("--sweeps-only", action="store_true",
                    help="large sizes: keep the shipped kernel settings (lambda, sigma, "
                    "features, gamma, ridge, sampling) and choose only the sweep bound "
                    "(1, 2, 5, 10, 40)")
    args = ap.parse_args()

    base = KernelQConfig(jobs=args.jobs, machines=args.machines, instances=args.instances,
                         residual=True, candidates=DEFAULT_CANDIDATES, sample="candidates")
    key = jax.random.PRNGKey(args.seed)
    t0 = time.perf_counter()
    data = jax.block_until_ready(jax.jit(make_sampler(base))(jax.random.split(key)[1]))
    sample_s = time.perf_counter() - t0
    transitions = int(data[0].shape[0])  # stage 3 samples its own data
    print(f"sampled {transitions} transitions in {sample_s:.1f} s", flush=True)

    gen = UniformPFSPGenerator(args.val_jobs, args.machines)
    val = jax.vmap(gen)(jax.random.split(jax.random.PRNGKey(10_000 + args.seed), args.val))
    _, neh_cmax = neh_batch(val.processing_times, val.job_mask)
    neh_cmax = np.asarray(neh_cmax, float)

    rows = []

    def trial(stage: str, config) -> dict:
        t1 = time.perf_counter()
        params, sweeps = fit(config, data, key)
        fit_s = time.perf_counter() - t1
        score, search_s = evaluate(config, params, val, neh_cmax, args.moves)
        row = {"stage": stage, "lam": config.lam, "sigma": config.sigma, "rff": config.rff,
               "gamma": config.gamma, "alpha": config.alpha, "candidates": config.candidates,
               "walk": config.walk, "actions": config.actions, "sample": config.sample,
               "sweeps": sweeps,
               "vs_neh_pct": score, "fit_s": round(fit_s, 2), "search_s": round(search_s, 2),
               "config": config, "params": params}
        rows.append(row)
        print(f"{stage} lam={config.lam} sigma={config.sigma} rff={config.rff} "
              f"gamma={config.gamma} alpha={config.alpha} K={config.candidates} "
              f"walk={config.walk} actions={config.actions} sample={config.sample}: "
              f"{score:+.3f} % vs NEH "
              f"({sweeps} sweeps)", flush=True)
        return row

    reference = trial("w=0", base)  # params replaced below
    zero = dict(reference["params"], w=jnp.zeros_like(reference["params"]["w"]))
    reference["vs_neh_pct"], reference["search_s"] = evaluate(base, zero, val, neh_cmax,
                                                              args.moves)
    reference.update(lam=None, sigma=None, rff=None, gamma=None, alpha=None, walk=None,
                     actions=None, sample=None, sweeps=0)
    print(f"w=0 (Q = r): {reference['vs_neh_pct']:+.3f} % vs NEH", flush=True)

    if args.sweeps_only:
        shipped = dataclasses.replace(CLI_DEFAULTS, jobs=args.jobs, machines=args.machines,
                                      instances=args.instances, tol=0.0)
        for bound in (1, 2, 5, 10, 40):
            trial("sweeps", dataclasses.replace(shipped, max_iters=bound))
        _finish(args, base, rows, reference, transitions, sample_s, t0)
        return
    for lam, sigma, rff in itertools.product((0.2, 0.5, 0.8), (1.0, 2.0, 4.0), (32, 128, 512)):
        trial("1", dataclasses.replace(base, lam=lam, sigma=sigma, rff=rff))
    best1 = min((r for r in rows if r["stage"] == "1"), key=lambda r: r["vs_neh_pct"])
    for change in ({"gamma": 0.5}, {"gamma": 0.99}, {"alpha": 0.01}, {"alpha": 100.0},
                   {"max_iters": 1}, {"max_iters": 5}):
        trial("2", dataclasses.replace(best1["config"], **change))
    best2 = min((r for r in rows if r["stage"] != "w=0"), key=lambda r: r["vs_neh_pct"])
    for change in ({"actions": 16}, {"candidates": 8}, {"candidates": 32}, {"walk": 32},
                   {"sample": "mixed"}):
        config = dataclasses.replace(best2["config"], **change)
        data = jax.block_until_ready(jax.jit(make_sampler(config))(jax.random.split(key)[1]))
        trial("3", config)
    _finish(args, base, rows, reference, transitions, sample_s, t0)


def _finish(args, base, rows, reference, transitions, sample_s, t0) -> None:
    """Writes the winner (`--out`) and the report."""
    from jaxshop_baselines.kernel_q.train import save_model

    best = min((r for r in rows if r["stage"] != "w=0"), key=lambda r: r["vs_neh_pct"])
    if args.out:
        meta = {"sweeps": best["sweeps"], "seed": args.seed, "selected_by":
                "scripts/kernel_q_select.py", "validation": {
                    "instances": args.val, "jobs": args.val_jobs, "moves": args.moves,
                    "vs_neh_pct": best["vs_neh_pct"],
                    "w0_vs_neh_pct": reference["vs_neh_pct"]}}
        save_model(args.out, best["config"], jax.device_get(best["params"]), meta)
        print(f"wrote {args.out}")
    public = [{k: v for k, v in r.items() if k not in ("config", "params")} for r in rows]
    report = {"training": {"jobs": args.jobs, "machines": args.machines,
                           "instances": args.instances, "transitions": transitions,
                           "sample_s": round(sample_s, 1), "candidates": base.candidates},
              "validation": {"instances": args.val, "jobs": args.val_jobs,
                             "machines": args.machines, "moves": args.moves},
              "rows": public, "best": {k: v for k, v in best.items()
                                       if k not in ("config", "params")},
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "total_s": round(time.perf_counter() - t0, 1)}
    out = Path(args.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# Kernel-Q: lambda, sigma, feature count (and gamma, ridge) by validation", "",
             f"Training: {args.instances} random {args.jobs}x{args.machines} instances, "
             f"{report['training']['transitions']} transitions, candidate list "
             f"{base.candidates} (actions sampled from it), residual Q = r + w . phi. "
             f"Validation: {args.val} held-out "
             f"random {args.val_jobs}x{args.machines} instances, {args.moves} search moves "
             "from NEH; score = mean % of the best makespan vs NEH (lower is better). "
             f"2-core CPU, load average {report['load_average']}.", "",
             "| stage | lambda | sigma | RFF | gamma | ridge | candidates | walk | actions "
             "| sample | sweeps | vs NEH |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in sorted(public, key=lambda r: r["vs_neh_pct"]):
        cells = ["-" if r[k] is None else str(r[k])
                 for k in ("lam", "sigma", "rff", "gamma", "alpha", "candidates", "walk",
                           "actions", "sample", "sweeps")]
        lines.append(f"| {r['stage']} | " + " | ".join(cells) + f" | {r['vs_neh_pct']:+.3f} % |")
    lines += ["", "`w=0` is the search with the learned part switched off (Q = r)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}.json/.md in {report['total_s']} s")


if __name__ == "__main__":
    main()
