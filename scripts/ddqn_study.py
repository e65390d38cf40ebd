"""Double-DQN rule selection vs every single rule it chooses from, measured in one run.

Through the same `get_method(...).solve` path as the CLI (every schedule is checked with
`jaxshop.validate`):

- Brandimarte Mk01-Mk10: gap to the best-known upper bound, per instance and mean;
- held-out random instances (Brandimarte-style, fixed seeds disjoint from training, which
  draws its instances from runtime keys): mean makespan per size.

Methods: `ddqn:MODEL` (greedy), `rule:R` for each rule of the model's config, and
`random` rule selection as a floor is left out (the rules are the baseline that matters).
Writes `results/ddqn_study.{json,md}`.

    python scripts/ddqn_study.py                          # the shipped model
    python scripts/ddqn_study.py --model runs/ddqn-x --count 100 --sizes 10x5,20x10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from jaxshop_baselines.ddqn import DEFAULT_MODEL, load_ddqn
from jaxshop_baselines.ddqn.envs import fjsp_generator
from jaxshop_baselines.methods import get_method

from jaxshop.instances.registry import suite
from jaxshop.schedule import validate

HELD_OUT_SEED = 31_000_000  # + size index


def held_out(jobs: int, machines: int, count: int, index: int) -> list:
    gen = fjsp_generator(jobs, machines)
    keys = jax.random.split(jax.random.PRNGKey(HELD_OUT_SEED + index), count)
    batch = jax.device_get(jax.vmap(gen)(keys))
    return [jax.tree_util.tree_map(lambda x, i=i: np.asarray(x[i]), batch) for i in range(count)]


def solve(spec: str, instances: list) -> tuple[list[int], float]:
    method = get_method(spec, mode="append")
    t0 = time.perf_counter()
    out = []
    for inst, sol in zip(instances, method.solve(instances), strict=True):
        check = validate(inst, sol.schedule)
        if not check:
            raise RuntimeError(f"{spec}: infeasible schedule: {check.reason}")
        out.append(int(sol.makespan))
    return out, time.perf_counter() - t0


def seed_spread(config, seeds: int, instances: list, ubs) -> dict:
    """Brandimarte mean gap of `config` retrained with seeds 0..seeds-1 (one vmapped call;
    `init(PRNGKey(seed))` as `jaxshop train ddqn --seed` does)."""
    from jaxshop_baselines.ddqn import make_train, rule_selection_solver

    from jaxshop.instances.types import stack, unstack

    keys = jax.numpy.stack([jax.random.PRNGKey(s) for s in range(seeds)])
    t0 = time.perf_counter()
    state, _ = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))(
        keys, config.learning_rate)
    train_s = time.perf_counter() - t0
    batch = stack(instances)
    num_jobs, num_ops, _ = unstack(batch)[0].shape
    _, solver = rule_selection_solver(config.rules, "append", num_jobs * num_ops)
    gaps = []
    for s in range(seeds):
        params = jax.tree_util.tree_map(lambda x, s=s: x[s], state.params)
        finals = solver(params, batch)
        ms = np.asarray(finals.makespan, float)
        gaps.append(round(float((100.0 * (ms - ubs) / ubs).mean()), 2))
        print(f"seed {s}: brandimarte mean gap {gaps[-1]:.2f} %", flush=True)
    return {"seeds": list(range(seeds)), "mean_gaps": gaps, "train_seconds": round(train_s, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(DEFAULT_MODEL.relative_to(Path.cwd()))
                   if DEFAULT_MODEL.is_relative_to(Path.cwd()) else str(DEFAULT_MODEL))
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--sizes", default="10x5,20x10")
    p.add_argument("--out", default="runs/results/ddqn_study")
    p.add_argument("--seed-spread", type=int, default=0,
                   help="also retrain the model's config with seeds 0..N-1 in one vmapped "
                   "call and report each seed's Brandimarte gap")
    args = p.parse_args()
    config, _ = load_ddqn(args.model)
    methods = {"ddqn": f"ddqn:{args.model}", **{f"rule:{r}": f"rule:{r}" for r in config.rules}}
    meta = json.loads((Path(args.model) / "meta.json").read_text()) \
        if (Path(args.model) / "meta.json").is_file() else {}
    report: dict = {"model": args.model, "config": config.to_dict(), "model_meta": meta,
                    "jax": jax.__version__}

    entries = suite("brandimarte")
    names = [e.name for e in entries]
    ubs = np.array([e.best_known[1] for e in entries], float)
    bra: dict = {"names": names, "upper_bounds": ubs.tolist(), "methods": {}}
    for label, spec in methods.items():
        ms, secs = solve(spec, [e.instance for e in entries])
        gaps = 100.0 * (np.array(ms) - ubs) / ubs
        bra["methods"][label] = {"makespans": ms, "gaps": gaps.round(2).tolist(),
                                 "mean_gap": round(float(gaps.mean()), 2),
                                 "seconds": round(secs, 1)}
        print(f"brandimarte {label:16s} mean gap {gaps.mean():6.2f} %", flush=True)
    report["brandimarte"] = bra

    if args.seed_spread:
        report["seed_spread"] = seed_spread(config, args.seed_spread,
                                            [e.instance for e in entries], ubs)

    report["held_out"] = {}
    for index, size in enumerate(args.sizes.split(",")):
        jobs, machines = (int(x) for x in size.split("x"))
        insts = held_out(jobs, machines, args.count, index)
        rows = {}
        for label, spec in methods.items():
            ms, secs = solve(spec, insts)
            rows[label] = {"mean_makespan": round(float(np.mean(ms)), 2),
                           "makespans": ms, "seconds": round(secs, 1)}
            print(f"{size} {label:16s} mean makespan {np.mean(ms):8.2f}", flush=True)
        report["held_out"][size] = rows

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    rules = [k for k in methods if k != "ddqn"]
    best_rule = min(rules, key=lambda k: bra["methods"][k]["mean_gap"])
    lines = ["# Double-DQN rule selection vs single rules (measured in one run)", "",
             f"Model `{args.model}` (trained {meta.get('iterations', '?')} iterations, "
             f"{meta.get('transitions', '?')} transitions on random "
             f"{config.num_jobs}x{config.num_machines} FJSP, "
             f"{meta.get('train_seconds', '?')} s). Greedy decoding, append mode.", "",
             "## Brandimarte Mk01-Mk10: gap to best-known UB (%)", "",
             "| method | mean | " + " | ".join(names) + " |",
             "|---" * (2 + len(names)) + "|"]
    for label, r in bra["methods"].items():
        lines.append(f"| {label} | **{r['mean_gap']:.2f}** | "
                     + " | ".join(f"{g:.1f}" for g in r["gaps"]) + " |")
    d = bra["methods"]["ddqn"]["mean_gap"] - bra["methods"][best_rule]["mean_gap"]
    lines += ["", f"Best single rule: {best_rule} ({bra['methods'][best_rule]['mean_gap']:.2f} %);"
              f" DDQN minus best rule: {d:+.2f} points.", ""]
    if "seed_spread" in report:
        g = report["seed_spread"]["mean_gaps"]
        lines += [f"Seed spread (same config retrained with seeds 0..{len(g) - 1}, one "
                  f"vmapped call, {report['seed_spread']['train_seconds']} s): Brandimarte "
                  f"mean gaps {', '.join(f'{x:.2f}' for x in g)} % (mean {np.mean(g):.2f}, "
                  f"best rule {bra['methods'][best_rule]['mean_gap']:.2f}).", ""]
    for size, rows in report["held_out"].items():
        lines += [f"## Held-out random {size} ({args.count} instances): mean makespan", "",
                  "| method | mean makespan |", "|---|---:|"]
        lines += [f"| {k} | {v['mean_makespan']:.2f} |" for k, v in rows.items()]
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
