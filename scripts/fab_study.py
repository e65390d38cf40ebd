"""Mini-Fab study: DDQN vs the fixed rules d1..d4, the learning-rate calibration, and speed.

    python scripts/fab_study.py [--model DIR] [--seeds 100] [--out results] [--quick]

Writes `fab_study.json` and `fab_study.md` (tables), `fab_oee.png` (daily fab OEE per
policy, mean and spread over seeds, the band [0.8, 0.9] shaded) and
`fab_lr_calibration.png` (mean reward per 10 episodes for LR 0.01 / 0.005 / 0.001).

- Policies: `jaxshop_baselines.evaluation.fab.evaluate_fab` (the loop behind
  `jaxshop eval --suite fab`) over `--seeds` fabs: 10 days after 5 warm-up days with d4.
- Calibration: one jitted call of the DDQN `train` vmapped over the three learning rates,
  gamma 0.95, 600 episodes each (10 parallel fabs, 10 iterations per chunk, so each chunk
  ends exactly 10 episodes); its wall time includes the compile (reported apart too).
- Diagnostic: a one-day lookahead that simulates every action each day and keeps the
  best (it sees the day's outcome; not a policy) shows what daily rule choice can reach.
- Speed: simulated fab-days per second at batch 1, 64 and 1024 (10 days of d4 in one
  jitted scan, `block_until_ready`; the compile is timed apart).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxshop_baselines.bench import compile_and_run, compile_timed, run_timed
from jaxshop_baselines.ddqn import DDQNConfig, make_train
from jaxshop_baselines.evaluation.fab import evaluate_fab
from jaxshop_baselines.methods import get_method

from jaxshop.fab import FIXED_RULES, FabEnv, default_params

LRS = (0.01, 0.005, 0.001)


def speed(batches=(1, 64, 1024), days: int = 10) -> list[dict]:
    env = FabEnv()
    rows = []
    for b in batches:
        keys = jax.random.split(jax.random.PRNGKey(0), b)
        states, _ = jax.jit(jax.vmap(env.reset))(keys, None)
        actions = jnp.full((b,), 3, jnp.int32)

        @jax.jit
        def run(s, actions=actions):
            def body(s, _):
                s, t = jax.vmap(env.step)(s, actions)
                return s, t.reward

            return jax.lax.scan(body, s, None, length=days)

        compiled, compile_s = compile_timed(run, states)
        jax.block_until_ready(compiled(states))  # warm
        _, run_s = run_timed(compiled, states)
        rows.append({"batch": b, "fab_days": b * days, "seconds": round(run_s, 4),
                     "fab_days_per_s": round(b * days / run_s, 1),
                     "compile_s": round(compile_s, 2)})
        print(f"speed: batch {b}: {b * days / run_s:.1f} fab-days/s "
              f"(compile {compile_s:.1f} s)", flush=True)
    return rows


def calibration(episodes: int = 600) -> dict:
    num_envs, chunk = 10, 10
    iterations = episodes * 10 // num_envs  # 10 decisions per episode
    config = DDQNConfig(env="fab", num_envs=num_envs, num_iterations=iterations,
                        iterations_per_chunk=chunk, buffer_size=6000, batch_size=32,
                        learning_starts=10, gamma=0.95, target_update_every=100,
                        checkpoint_every=iterations, eval_size=0)
    train = jax.jit(jax.vmap(make_train(config), in_axes=(None, 0)))
    lrs = jnp.asarray(LRS, jnp.float32)
    key = jax.random.PRNGKey(0)
    (_, metrics), compile_s, run_s = compile_and_run(train, key, lrs)
    per_chunk = np.asarray(metrics["episode_return"]) / 10.0  # mean daily reward
    print(f"calibration: {episodes} episodes x {len(LRS)} LRs in {run_s:.1f} s "
          f"(+ compile {compile_s:.1f} s)", flush=True)
    return {"episodes": episodes, "learning_rates": list(LRS), "gamma": 0.95,
            "episodes_per_point": num_envs * chunk // 10,
            "mean_daily_reward": per_chunk.round(4).tolist(),
            "run_seconds": round(run_s, 2), "compile_seconds": round(compile_s, 2)}


def policies(model: str | None, seeds: int, env: FabEnv,
             learned: bool = True) -> tuple[list[dict], dict]:
    specs = [f"fab-rule:{r}" for r in FIXED_RULES]
    if learned:
        specs += [f"ddqn:{model}"] if model else ["ddqn"]
    rows, series = [], {}
    for spec in specs:
        method = get_method(spec)
        out = evaluate_fab(method.policy.act, seeds=seeds, env=env)
        oee = np.array([r["oee"] for r in out["daily"]]).reshape(seeds, out["days"])
        series[spec] = oee
        band = ((oee >= 0.8) & (oee <= 0.9)).sum(axis=1)
        rows.append({
            "policy": spec,
            "days_in_band": out["days_in_band"], "days_in_band_std": out["days_in_band_std"],
            "days_in_band_min": int(band.min()), "days_in_band_max": int(band.max()),
            "seeds_with_10_of_10": int((band == out["days"]).sum()),
            "mean_abs_deviation": out["mean_abs_deviation"],
            "daily_output": out["daily_output"], "daily_output_std": out["daily_output_std"],
            "mean_cycle_time": out["mean_cycle_time"], "mean_oee": out["mean_oee"],
            "mean_reward": out["mean_reward"], "seconds": out["seconds"],
        })
        print(f"{spec}: {out['days_in_band']:.2f} days in band, output "
              f"{out['daily_output']:.2f}", flush=True)
    return rows, series


def lookahead(seeds: int, env: FabEnv) -> tuple[dict, np.ndarray]:
    """Diagnostic, not a method: each day, simulate every action from the true state and
    play the one with the best day reward (it sees the future day's outcome). It bounds what
    a daily rule choice can reach in this model."""

    def episode(key):
        state, _ = env.reset(key)

        def day(s, _):
            rewards = jax.vmap(lambda a: env.day_reward(env._step(s, a, jnp.bool_(True))))(
                jnp.arange(env.num_actions(env.params), dtype=jnp.int32))
            s, t = env.step(s, jnp.argmax(rewards).astype(jnp.int32))
            return s, (t.extras["fab_oee"], t.extras["completed"])

        return jax.lax.scan(day, state, None, length=env.days)[1]

    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    oee, completed = (np.asarray(x) for x in jax.jit(jax.vmap(episode))(keys))
    band = ((oee >= 0.8) & (oee <= 0.9)).sum(axis=1)
    row = {"policy": "one-day lookahead (diagnostic)",
           "days_in_band": round(float(band.mean()), 4),
           "days_in_band_std": round(float(band.std()), 4),
           "days_in_band_min": int(band.min()), "days_in_band_max": int(band.max()),
           "seeds_with_10_of_10": int((band == env.days).sum()),
           "mean_abs_deviation": round(float(np.abs(oee - 0.85).mean()), 6),
           "daily_output": round(float(completed.mean()), 4),
           "daily_output_std": round(float(completed.mean(axis=1).std()), 4),
           "mean_cycle_time": None, "mean_oee": round(float(oee.mean()), 6),
           "mean_reward": None, "seconds": None}
    print(f"lookahead: {row['days_in_band']:.2f} days in band", flush=True)
    return row, oee


def plot_oee(series: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.axhspan(0.8, 0.9, color="tab:green", alpha=0.15, label="band [0.8, 0.9]")
    for spec, oee in series.items():
        days = np.arange(1, oee.shape[1] + 1)
        mean, std = oee.mean(axis=0), oee.std(axis=0)
        ax.plot(days, mean, marker="o", label=spec)
        ax.fill_between(days, mean - std, mean + std, alpha=0.1)
    ax.set_xlabel("day after warm-up")
    ax.set_ylabel("fab OEE (mean over seeds, ±1 std)")
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("Mini-Fab: daily OEE per policy")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_calibration(cal: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    per_point = cal["episodes_per_point"]
    for lr, curve in zip(cal["learning_rates"], cal["mean_daily_reward"], strict=True):
        x = np.arange(1, len(curve) + 1) * per_point
        ax.plot(x, curve, label=f"LR {lr}")
    ax.set_xlabel("episodes")
    ax.set_ylabel(f"mean daily reward (per {per_point} episodes)")
    ax.set_title("DDQN learning-rate calibration (gamma 0.95, one jitted call)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(result: dict) -> str:
    lines = ["# Mini-Fab study", "",
             f"Machine: {result['machine']}. {result['seeds']} seeds, 10 days after 5 warm-up "
             f"days (d4); Pa and Pb releases per day uniform in {result['release_pa_pb']}, "
             "TW 0..1. Band [0.8, 0.9] around OEE_best = 0.85.", "",
             "| policy | days in band (mean ± std) | min..max | seeds 10/10 | "
             "mean abs dev | daily output | mean cycle time (min) | mean OEE |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["policies"]:
        lines.append(
            f"| {r['policy']} | {r['days_in_band']:.2f} ± {r['days_in_band_std']:.2f} | "
            f"{r['days_in_band_min']}..{r['days_in_band_max']} | {r['seeds_with_10_of_10']} | "
            f"{r['mean_abs_deviation']:.4f} | {r['daily_output']:.2f} ± "
            f"{r['daily_output_std']:.2f} | "
            f"{'-' if r['mean_cycle_time'] is None else round(r['mean_cycle_time'])} | "
            f"{r['mean_oee']:.3f} |")
    cal = result.get("calibration")
    if cal:
        lines += ["", f"LR calibration: {cal['episodes']} episodes per LR, 3 LRs in one "
                  f"jitted call: {cal['run_seconds']} s (+ compile {cal['compile_seconds']} s)."]
        for lr, curve in zip(cal["learning_rates"], cal["mean_daily_reward"], strict=True):
            lines.append(f"- LR {lr}: mean daily reward first 10 points "
                         f"{np.mean(curve[:10]):.3f}, last 10 {np.mean(curve[-10:]):.3f}")
    lines += ["", "| batch | fab-days/s | compile s |", "|---|---|---|"]
    for r in result.get("speed", []):
        lines.append(f"| {r['batch']} | {r['fab_days_per_s']} | {r['compile_s']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="ddqn model/run folder (default: shipped)")
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--out", type=Path, default=Path("runs/results"))
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--release", default=None, metavar="LO,HI",
                   help="fab variant: Pa and Pb lots per day uniform in [LO, HI] (default "
                   "8,12); results go to fab_study_release_LO_HI.*")
    p.add_argument("--skip", default="", help="comma list of parts to skip: "
                   "speed,calibration,policies")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = 4 if args.quick else args.seeds
    stem = "fab_study"
    env = FabEnv()
    if args.release:
        lo, hi = (int(x) for x in args.release.split(","))
        env = FabEnv(default_params(release=(lo, hi)))
        stem = f"fab_study_release_{lo}_{hi}"
        skip |= {"calibration", "speed"}
    result = {"machine": f"{platform.machine()} {platform.processor() or ''} "
              f"{jax.devices()[0].platform} x{len(jax.devices())}".strip(),
              "seeds": seeds, "jax": jax.__version__,
              "release_pa_pb": [int(env.params.release_low[0]), int(env.params.release_high[0])]}
    if "policies" not in skip:
        # the shipped DDQN is trained on the default fab: a variant needs --model
        learned = not args.release or args.model is not None
        result["policies"], series = policies(args.model, seeds, env, learned)
        row, series["one-day lookahead"] = lookahead(seeds, env)
        result["policies"].append(row)
        plot_oee(series, args.out / f"{stem.replace('study', 'oee')}.png")
    if "calibration" not in skip:
        result["calibration"] = calibration(60 if args.quick else 600)
        plot_calibration(result["calibration"], args.out / "fab_lr_calibration.png")
    if "speed" not in skip:
        result["speed"] = speed((1, 8) if args.quick else (1, 64, 1024))
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    if "policies" not in skip:
        (args.out / f"{stem}.md").write_text(markdown(result))
    print(f"written: {args.out}/{stem}.json")


if __name__ == "__main__":
    main()
