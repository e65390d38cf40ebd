"""Kernel-Q swap search vs NEH, swap descent and iterated greedy on Taillard groups.

For each group (10 instances, solved as one batch): ARPD against the best-known upper
bounds and wall time (compile excluded, measured separately) of

- NEH (`jaxshop_baselines.neh.neh_batch`),
- plain steepest-descent swaps from NEH (`kernel_q.search.swap_descent_batch`),
- kernel-Q tabu search from NEH with the shipped model, under a wall-time budget
  (`kernel_q.search.search_timed`),
- the same search with the learned part switched off (`w = 0`, `Q = r`: a tabu search of
  steepest swaps over the same candidate list), same budget: what the regressor adds,
- iterated greedy under the same wall-time budget (`iterated_greedy_timed`, 1 restart).

Writes `results/kernel_q_study.json`, `.md` and `.png`. The machine is a shared 2-core
CPU: the budgets are small and every time is noisy (the JSON records the load average).

    python scripts/kernel_q_study.py [--groups 20x20,50x20,100x20,200x20,500x20] [--budget-ms 2]

`--budget-ms B` gives each group `B * n * m / 2` ms per instance, i.e. `10 x` that for the
batch of ten (`n (m / 2) t` is the literature's IG budget form, with t = 60 ms there).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxshop_baselines.bench import GROUPS, arpd

import jaxshop
from jaxshop.instances.bounds import best_known_for

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, *args):
    """`(result, seconds)` of a second call (the first one compiles)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0, compile_s


def run_group(group: str, budget_ms: float, params: dict, config) -> dict:
    from jaxshop_baselines.iterated_greedy import iterated_greedy_timed
    from jaxshop_baselines.kernel_q.search import search_timed, swap_descent_batch
    from jaxshop_baselines.neh import neh_batch

    names = [f"ta{i:03d}" for i in GROUPS[group]]
    insts = [jaxshop.load(n) for n in names]
    ubs = [best_known_for(i)[1][1] for i in insts]
    batch = jaxshop.stack(insts)
    n, m = insts[0].shape
    budget = budget_ms * n * m / 2 / 1000.0 * len(insts)
    row = {"group": group, "instances": names, "upper_bounds": ubs, "budget_s": budget}

    (_, neh_ms), t, c = timed(neh_batch, batch.processing_times, batch.job_mask)
    row["neh"] = {"makespans": np.asarray(neh_ms).tolist(), "arpd": arpd(neh_ms, ubs),
                  "seconds": t, "compile_s": c}
    (_, sd_ms, moves), t, c = timed(swap_descent_batch, batch)
    row["swap_descent"] = {"makespans": np.asarray(sd_ms).tolist(), "arpd": arpd(sd_ms, ubs),
                           "seconds": t, "compile_s": c,
                           "moves": np.asarray(moves).tolist()}
    keys = jax.random.split(jax.random.PRNGKey(0), len(insts))
    reward_only = dict(params, w=jnp.zeros_like(params["w"]), reward_weight=jnp.float32(1.0))
    for name, p in (("kernel_q", params), ("reward_only", reward_only)):
        state, tim = search_timed(batch, p, config.lam, keys, budget,
                                  candidates=config.candidates)
        kq = np.asarray(state.best_cmax)
        row[name] = {"makespans": kq.tolist(), "arpd": arpd(kq, ubs),
                     "permutations": np.asarray(state.best_perm).tolist(),
                     "seconds": tim["search_s"], "compile_s": tim["compile_s"],
                     "moves": tim["moves"]}
    ig_keys = jax.random.split(jax.random.PRNGKey(0), (len(insts), 1))
    args = (batch.processing_times, batch.job_mask, batch.machine_mask)
    ig_state, tim = iterated_greedy_timed(*args, ig_keys, budget)
    ig = np.asarray(ig_state.best_makespan[:, 0])
    row["ig"] = {"makespans": ig.tolist(), "arpd": arpd(ig, ubs), "seconds": tim["search_s"],
                 "compile_s": tim["compile_s"], "iterations": tim["iterations"]}
    return row


METHODS = (("neh", "NEH"), ("swap_descent", "swap descent from NEH"),
           ("kernel_q", "kernel-Q tabu search"), ("reward_only", "same search, Q = r (w = 0)"),
           ("ig", "IG, same wall time"))


def write_markdown(report: dict, path: Path) -> None:
    lines = ["# Kernel-Q swap search on Taillard groups", "",
             f"Model: `{report['model']}` ({report['model_config']['instances']} "
             f"{report['model_config']['jobs']}x{report['model_config']['machines']} "
             f"training instances, {report['model_meta'].get('sweeps')} value-iteration "
             f"sweeps, candidate list {report['model_config']['candidates']}). "
             f"Budget per group: {report['budget_ms']} ms x n x m / 2 per instance, the batch "
             "of 10 solved together (wall time of the batch). Shared 2-core CPU, load "
             f"average {report['load_average']}; compile times excluded.", "",
             "| group | " + " | ".join(label for _, label in METHODS) + " |",
             "|---|" + "---:|" * len(METHODS)]
    for row in report["groups"]:
        cells = [f"{row[k]['arpd']:.2f} % ({row[k]['seconds']:.1f} s)" for k, _ in METHODS]
        lines.append(f"| {row['group']} | " + " | ".join(cells) + " |")
    lines += ["", "ARPD against the best-known upper bounds (time of the whole batch in "
              "parentheses). Kernel-Q moves per instance and IG iterations in the JSON.", ""]
    for row in report["groups"]:
        if row["model"] != report["model"]:
            meta_path = ROOT / row["model"] / "meta.json"
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
            script = meta.get("selected_by") or meta.get("trained_by") or "?"
            lines.append(f"- {row['group']}: kernel-Q model `{row['model']}` (trained on "
                         "random instances of the size in its name, "
                         f"{meta.get('sweeps', '?')} sweeps, by `{script}`).")
    for rerun in report.get("reruns", []):
        lines.append(f"- {', '.join(rerun['groups'])}: rerun after a model change "
                     f"(`--merge`), load average {rerun['load_average']}.")
    for row in report["groups"]:
        lines.append(f"- {row['group']}: kernel-Q {row['kernel_q']['moves']} moves, Q = r "
                     f"{row['reward_only']['moves']} moves, IG "
                     f"{row['ig']['iterations']} iterations, swap descent "
                     f"{np.mean(row['swap_descent']['moves']):.1f} moves on average, budget "
                     f"{row['budget_s']:.1f} s.")
    path.write_text("\n".join(lines) + "\n")


def write_png(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [r["group"] for r in report["groups"]]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(METHODS)
    for i, (key, label) in enumerate(METHODS):
        vals = [r[key]["arpd"] for r in report["groups"]]
        ax.bar(np.arange(len(groups)) + i * width, vals, width, label=label)
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups)
    ax.set_ylabel("ARPD (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    from jaxshop_baselines.kernel_q import DEFAULT_MODEL, load_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--budget-ms", type=float, default=2.0)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--models", default="",
                    help="per-group models, e.g. 100x20=DIR,200x20=DIR (others: --model)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "results" / "kernel_q_study"))
    ap.add_argument("--merge", action="store_true",
                    help="replace only the --groups rows of the existing report at --out "
                    "(after changing one group's model)")
    args = ap.parse_args()
    config, params = load_model(args.model)
    per_group = dict(item.split("=", 1) for item in args.models.split(",") if item)
    meta_path = Path(args.model) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta.pop("deltas", None)
    report = {"model": os.path.relpath(args.model, ROOT), "model_config": vars(config) if
              hasattr(config, "__dict__") else {}, "model_meta": meta,
              "budget_ms": args.budget_ms, "jax": jax.__version__, "groups": []}
    import dataclasses

    report["model_config"] = dataclasses.asdict(config)
    t0 = time.perf_counter()
    for group in args.groups.split(","):
        model_dir = per_group.get(group, args.model)
        group_config, group_params = load_model(model_dir)
        row = run_group(group, args.budget_ms, group_params, group_config)
        row["model"] = os.path.relpath(model_dir, ROOT)
        report["groups"].append(row)
        print(group, {k: round(row[k]["arpd"], 2) for k, _ in METHODS}, flush=True)
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["total_s"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and out.with_suffix(".json").is_file():
        fresh = {row["group"]: row for row in report["groups"]}
        old = json.loads(out.with_suffix(".json").read_text())
        old["groups"] = [fresh.pop(row["group"], row) for row in old["groups"]]
        old["groups"] += list(fresh.values())
        old.setdefault("reruns", []).append(
            {"groups": args.groups.split(","), "load_average": report["load_average"],
             "total_s": report["total_s"]})
        report = old
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    write_markdown(report, out.with_suffix(".md"))
    write_png(report, out.with_suffix(".png"))
    print(f"wrote {out}.json/.md/.png in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    jnp.zeros(1)
    main()
