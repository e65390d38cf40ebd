#!/usr/bin/env python
"""How much of a pointer training step is the env: step + observe against the update.

On random 10x5 flexible job shops (the pointer trainer's default instances), per batch:

- `step`: the env's own step cost per decision (the `first` valid action, no observation);
- `step+observe`: the same episodes, the policy reading the observation the pointer net
  reads at every decision (pair features, mask: `obs_policy` below), so `observe` runs;
- `step+parts`: the same with the policy reading what the pointer's decoder reads since
  the first layer runs per feature group (`env.feature_parts`, the mask; `parts_policy`);
- `train`: one pointer REINFORCE update of that batch (`make_train_chunk`, AC-SD, D=64),
  i.e. decoding every episode with the actor, the critic, the backward pass and Adam.

Per decision = seconds / (batch x decisions per episode). `env share` = step+observe per
decision / train per decision: the issue-11 goal is under 20 %; `trainer's env share`
uses step+parts, the env work a training step does. Compile times apart, each
timed call ends with `block_until_ready`; medians over repeats (`jaxshop_baselines.bench`).

    python scripts/bench_env_share.py --batch 128,1024 --out results/bench_env_share.json
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
from jaxshop_baselines.bench import int_list, script_main, throughput, train_row, write_report


def obs_policy(env):
    """A valid policy that reads the whole observation: the valid pair of largest first
    feature (so `observe`'s features are computed, not dropped by the compiler)."""

    def act(key, state):
        obs = env.observe(state)
        score = obs.pair_features.sum(-1).reshape(-1)
        return jnp.argmax(jnp.where(obs.action_mask, score, -1e30)).astype(jnp.int32)

    return act


def parts_policy(env):
    """The same from `env.feature_parts` (every group read) and the action mask."""

    def act(key, state):
        parts = env.feature_parts(state)
        score = (parts.pair.sum(-1) + parts.job.sum(-1)[:, None] + parts.machine.sum(-1)[None]
                 + parts.glob.sum()).reshape(-1)
        return jnp.argmax(jnp.where(env.action_mask(state), score, -1e30)).astype(jnp.int32)

    return act


def main(argv: list[str] | None = None) -> int:
    from jaxshop_baselines.pointer.config import PointerConfig
    from jaxshop_baselines.pointer.train import make_sampler

    import jaxshop

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int_list, default=[128, 1024])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--out", default=None, help="JSON report (default: print only)")
    args = p.parse_args(argv)

    config = PointerConfig()
    sample = make_sampler(config)  # the trainer's instance distribution, one at a time
    env = jaxshop.make("fjsp", mode=config.mode, generator=lambda key: jax.tree_util.tree_map(
        lambda x: x[0], sample(key, 1)))
    rows = []
    for batch in args.batch:
        step = throughput(env, batch, "first", repeats=args.repeats,
                          min_seconds=args.min_seconds)
        observed = throughput(env, batch, obs_policy(env), repeats=args.repeats,
                              min_seconds=args.min_seconds)
        parts = throughput(env, batch, parts_policy(env), repeats=args.repeats,
                           min_seconds=args.min_seconds)
        train = train_row(batch, repeats=args.repeats, min_seconds=args.min_seconds)
        # Real decisions (scheduled operations) per episode, as the env rows count them.
        decisions = step["decisions_per_s"] / step["episodes_per_s"]
        per_decision_train = train["seconds_per_call"] / (batch * decisions)
        row = {
            "batch": batch,
            "step_us_per_decision": 1e6 / step["decisions_per_s"],
            "step_observe_us_per_decision": 1e6 / observed["decisions_per_s"],
            "step_parts_us_per_decision": 1e6 / parts["decisions_per_s"],
            "train_us_per_decision": 1e6 * per_decision_train,
            "train_schedules_per_s": batch / train["seconds_per_call"],
            "decisions_per_episode": decisions,
            "compile_s": {"step": step["compile_s"], "step_observe": observed["compile_s"],
                          "step_parts": parts["compile_s"], "train": train["compile_s"]},
        }
        row["observe_us_per_decision"] = (row["step_observe_us_per_decision"]
                                          - row["step_us_per_decision"])
        row["env_share"] = row["step_observe_us_per_decision"] / row["train_us_per_decision"]
        row["trainer_env_share"] = (row["step_parts_us_per_decision"]
                                    / row["train_us_per_decision"])
        rows.append(row)
        print(f"batch {batch}: step {row['step_us_per_decision']:.3f} us, step+observe "
              f"{row['step_observe_us_per_decision']:.3f} us, step+parts "
              f"{row['step_parts_us_per_decision']:.3f} us, train "
              f"{row['train_us_per_decision']:.3f} us per decision -> env share "
              f"{100 * row['env_share']:.1f} %", flush=True)

    print("\n| batch | step µs/dec | +observe µs/dec | +parts µs/dec | train µs/dec "
          "| train sched/s | env share (observe) | trainer's env share (parts) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['batch']} | {r['step_us_per_decision']:.3f} | "
              f"{r['step_observe_us_per_decision']:.3f} | "
              f"{r['step_parts_us_per_decision']:.3f} | {r['train_us_per_decision']:.3f} | "
              f"{r['train_schedules_per_s']:.0f} | {100 * r['env_share']:.1f} % | "
              f"{100 * r['trainer_env_share']:.1f} % |")
    if args.out:
        write_report(args.out, {"load_average": [round(x, 2) for x in os.getloadavg()],
                                "rows": rows})
    return 0


if __name__ == "__main__":
    script_main(main)
