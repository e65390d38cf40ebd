"""Distillation study: teacher vs distilled students vs the same students from scratch.

For the teacher (the shipped AC-SD pointer net unless `--teacher`) and each student (a
small pointer net of `--sp-dim` and a per-pair MLP scorer of `--mlp-dim`), each trained
by distillation and from scratch (REINFORCE, batch-mean baseline) at the same budget
(`--updates` x `--batch` episodes):

- parameters of the acting network, XLA's FLOP count of one decision on a 10x5 state;
- inference schedules/s of greedy decoding at batch 1 and 1024 (random 10x5 instances,
  compile apart, `block_until_ready`), all in this run;
- mean gap on Brandimarte Mk01-10 (to the best-known upper bound, through `jaxshop eval`)
  and on the pointer study's 100 held-out random instances per size (to the env's lower
  bound; every schedule validated);
- optionally (`--objectives distill,reinforce,kickstart`) each student kickstarted:
  REINFORCE plus the distillation loss with a weight annealed from 1 to 0;
- an ablation over alpha, tau and the data regime (one vmapped, jitted `make_train`, a
  smaller budget), plus a DDQN teacher, scored by greedy makespan / lower bound on the
  trainer's fixed validation set.

Writes `results/distill_study.{json,md,png}`; trained runs go to `--runs` (reused when
already finished, so the study can be rerun).

    python scripts/distill_study.py
    python scripts/distill_study.py --teacher pointer:/tmp/teacher_d128 --tag d128
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxshop_baselines.bench import (
    OBJECTIVE_NAMES,
    SIZES,
    add_student_options,
    brandimarte_gap,
    held_out,
    held_out_gaps,
    train_run,
)
from jaxshop_baselines.distill import MLPPolicy, PointerPolicy, load_mlp, mlp_solver
from jaxshop_baselines.distill import train as T
from jaxshop_baselines.distill.config import DistillConfig
from jaxshop_baselines.distill.policies import policy_num_params
from jaxshop_baselines.parallel import run_info
from jaxshop_baselines.pointer.inference import PointerAgent, greedy_decode
from jaxshop_baselines.pointer.train import make_sampler

import jaxshop

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"size_ratio_max": 0.10, "speedup_min": 3.0, "gap_within_pp": 1.0}
#: the students the goals are checked for (each against the same student from scratch)
TAUGHT = ("distilled", "kickstarted")


# ------------------------------------------------------------------------------ models


def load_policy(run: Path | None, teacher: str) -> tuple[object, dict, str]:
    """`(policy, params, method spec)` of a student folder, or of the teacher (`run=None`)."""
    if run is None:
        t = T.load_teacher(teacher)
        spec = teacher
        return t.policy, t.params, spec
    if (run / "config.json").is_file() and "hidden" in json.loads((run / "config.json")
                                                                    .read_text()):
        config, params = load_mlp(run)
        return MLPPolicy(config), params, f"mlp:{run}"
    agent = PointerAgent.load(run)
    return PointerPolicy(agent.config), agent.params, f"pointer:{run}"


def flops_per_decision(policy, params, instance) -> float:
    """XLA's FLOP estimate of one decision (`policy.logits`) on the reset state."""
    env = jaxshop.make("fjsp")
    state, ts = env.reset(jax.random.PRNGKey(0), instance)
    fn = jax.jit(lambda p, s, o: policy.logits(p, policy.init_carry(), s, o)[0])
    cost = fn.lower(params, state, ts.observation).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", float("nan")))


def greedy_fn(policy, params):
    """A jitted `batch -> final states` greedy decoder (the one each method uses)."""
    if isinstance(policy, MLPPolicy):
        _, solve_fn = mlp_solver(policy.config, "append")
        return lambda batch: solve_fn(params, batch)
    agent = PointerAgent(policy.config, params)
    return lambda batch: greedy_decode(agent, batch, "append")[0]


def throughput(fn, instances, batch: int, seconds: float) -> dict:
    """Schedules/s of `fn` at `batch` (first call timed apart as compile + run)."""
    part = jax.tree_util.tree_map(lambda x: x[:batch], instances)
    t0 = time.perf_counter()
    jax.block_until_ready(fn(part))
    first = time.perf_counter() - t0
    reps, t0 = 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - t0 < seconds:
        jax.block_until_ready(fn(part))
        reps += 1
    dt = (time.perf_counter() - t0) / reps
    return {"schedules_per_s": round(batch / dt, 1), "first_call_s": round(first, 2)}


# ------------------------------------------------------------------------------ training


def ablation(args, teacher: str) -> list[dict]:
    """Greedy validation C/LB after a short run per (alpha, tau, regime): one compile."""
    from jaxshop_baselines.distill.config import REGIMES

    grid = [(a, t) for a, t in ((0.0, 1.0), (1.0, 1.0), (1.0, 2.0), (1.0, 4.0), (4.0, 2.0))]
    settings = [(a, t, r) for r in REGIMES for a, t in grid]
    config = DistillConfig(teacher=teacher, student_dim=args.sp_dim,
                           num_updates=args.ablation_updates, batch_size=args.ablation_batch,
                           updates_per_chunk=args.ablation_updates,
                           checkpoint_every=args.ablation_updates)
    evaluate = T.make_validation(config)
    rows = []
    t0 = time.perf_counter()
    train = jax.jit(jax.vmap(T.make_train(config)))
    runners, _ = train(jax.random.split(jax.random.PRNGKey(args.seed), len(settings)),
                       jnp.asarray([s[0] for s in settings]),
                       jnp.asarray([s[1] for s in settings]),
                       jnp.asarray([REGIMES[s[2]] for s in settings]))
    jax.block_until_ready(runners)
    seconds = time.perf_counter() - t0  # compile included
    for i, (a, t, r) in enumerate(settings):
        params = jax.tree_util.tree_map(lambda x, i=i: x[i], runners.params)
        rows.append({"teacher": teacher, "alpha": a, "tau": t, "regime": r,
                     "val_norm_makespan": round(float(evaluate(params)), 5)})
    print(f"ablation: {len(settings)} runs in {seconds:.0f} s (compile included)", flush=True)
    # The DDQN Q-network as teacher, one run per regime (its own compile).
    q_config = dataclasses.replace(config, teacher="ddqn")
    q_train = jax.jit(jax.vmap(T.make_train(q_config)))
    regimes = list(REGIMES)
    q_runners, _ = q_train(jax.random.split(jax.random.PRNGKey(args.seed), len(regimes)),
                           jnp.ones(len(regimes)), jnp.full(len(regimes), 2.0),
                           jnp.asarray([REGIMES[r] for r in regimes]))
    for i, r in enumerate(regimes):
        params = jax.tree_util.tree_map(lambda x, i=i: x[i], q_runners.params)
        rows.append({"teacher": "ddqn", "alpha": 1.0, "tau": 2.0, "regime": r,
                     "val_norm_makespan": round(float(evaluate(params)), 5)})
    return rows


# ------------------------------------------------------------------------------ report


def _floor_lines(report: dict) -> list[str]:
    floor, teacher = report["features_only"], report["models"][0]
    return [f"Env + pair features alone (no network, every feature read): {floor['b1']} "
            f"sched/s at b=1, {floor['b1024']} at b=1024, so any student that reads the "
            f"features is at most {floor['b1'] / teacher['b1']['schedules_per_s']:.2f}x / "
            f"{floor['b1024'] / teacher['b1024']['schedules_per_s']:.2f}x as fast as the "
            "teacher here.", ""]


def markdown(report: dict) -> str:
    lines = [
        "# Distillation study", "",
        f"- teacher: `{report['teacher']}`; budget per student: {report['updates']} updates x "
        f"{report['batch']} episodes (distilled and from scratch alike); instances: random "
        "10x5 FJSP (Brandimarte-style), as the teacher trained on",
        f"- distillation: alpha {report['alpha']}, tau {report['tau']}, regime "
        f"{report['regime']}; from scratch: REINFORCE with the batch-mean baseline",
        *([f"- teacher with search: a teacher-driven episode replays the best (lowest "
           f"makespan) of the teacher's greedy rollout and {report['teacher_samples']} "
           "rollouts sampled from its policy, and the CE target is that rollout's action "
           "(distilled students only; the teacher's rollouts are not counted in the "
           "students' budget)"] if report.get("teacher_samples") else []),
        *(["- kickstarted: REINFORCE on the episodes the student drives (regime student) "
           "plus the distillation loss (same alpha, tau), its weight falling linearly from "
           "1 to 0 over the run"] if any(m["name"].endswith("kickstarted")
                                         for m in report["models"]) else []),
        "- one seed per run: the pointer study saw 0.5 pp between two runs of one command on "
        "Brandimarte, so differences below about 1 pp are within run-to-run noise; the "
        "teacher was trained with a critic on 1000 x 128 episodes, twice the students' "
        "budget",
        f"- device: {report['device']}, jax {report['jax']}; throughput ratios measured in "
        "the same run are the figure to read, not absolute rates",
        f"- {report.get('speed_note', 'speed: one timing window per model and batch')}",
        "- gaps: Brandimarte to the best-known upper bound (through `jaxshop eval`); held-out "
        "random sets (the pointer study's, 100 per size) to the env's lower bound",
        "", "## Models", "",
        *(_floor_lines(report) if "features_only" in report else []),
        "| model | params | share of teacher | FLOPs / decision | sched/s b=1 | sched/s "
        "b=1024 | speed-up b=1 / b=1024 | Brandimarte gap % | " +
        " | ".join(f"{s} gap %" for s in report["sizes"]) + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(report["sizes"]),
    ]
    for m in report["models"]:
        lines.append(
            f"| {m['name']} | {m['num_params']} | {m['param_share']:.3f} | "
            f"{m['flops_per_decision']:.0f} | {m['b1']['schedules_per_s']} | "
            f"{m['b1024']['schedules_per_s']} | {m['speedup_b1']:.2f}x / "
            f"{m['speedup_b1024']:.2f}x | {m['brandimarte_gap']:.2f} | " +
            " | ".join(f"{m['held_out'][s]:.2f}" for s in report["sizes"]) + " |")
    lines += ["", "## Goals (each distilled or kickstarted student)", "",
              "| student | <= 10 % params | >= 3x throughput (b=1 / b=1024) | within 1 pp of "
              "the teacher (Brandimarte / held-out mean) | better than from scratch "
              "(Brandimarte / held-out mean) |", "|---|---|---|---|---|"]
    for g in report["goals"]:
        yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
        lines.append(
            f"| {g['student']} | {yes(g['size'])} ({g['share']:.3f}) | "
            f"{yes(g['speed_b1'])} / {yes(g['speed_b1024'])} ({g['speedup_b1']:.2f}x / "
            f"{g['speedup_b1024']:.2f}x) | {yes(g['gap_brandimarte'])} / "
            f"{yes(g['gap_held_out'])} ({g['d_brandimarte']:+.2f} / {g['d_held_out']:+.2f} "
            f"pp) | {yes(g['beats_scratch_brandimarte'])} / {yes(g['beats_scratch_held_out'])} |")
    if not report["ablation"]:
        lines += ["", "No ablation in this report (`--skip-ablation`).", ""]
        return "\n".join(lines)
    lines += ["", "## Ablation (small pointer, greedy makespan / lower bound on the 128 "
              f"validation instances; {report['ablation_budget']})", "",
              f"Teacher on the same set: {report['teacher_val']:.4f}.", "",
              "| teacher | alpha | tau | regime | val C/LB |", "|---|---|---|---|---|"]
    for r in report["ablation"]:
        lines.append(f"| {r['teacher']} | {r['alpha']} | {r['tau']} | {r['regime']} | "
                     f"{r['val_norm_makespan']:.4f} |")
    lines += ["", "Regimes: `teacher` = the teacher drives every episode (greedy), "
              "`student` = the student drives by sampling its own policy and the teacher "
              "labels the states it visits (DAgger-style), `mix` = half each. alpha = 0 is "
              "pure imitation of the teacher's argmax (CE only).", ""]
    return "\n".join(lines)


def plot(report: dict, runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, run in runs.items():
        rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
        head = rows[0]
        upd, val = head.index("update"), head.index("validation")
        pts = [(int(r[upd]), float(r[val])) for r in rows[1:] if r[val]]
        ax1.plot(*zip(*pts, strict=True), "o-", ms=3, label=name)
    ax1.axhline(report["teacher_val"], color="k", ls="--", label="teacher")
    ax1.set_xlabel("update")
    ax1.set_ylabel("greedy makespan / lower bound (validation)")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    models = report["models"]
    x = np.arange(len(models))
    ax2.bar(x - 0.2, [m["speedup_b1024"] for m in models], 0.4, label="speed-up b=1024")
    ax2.bar(x + 0.2, [m["brandimarte_gap"] / 10 for m in models], 0.4,
            label="Brandimarte gap % / 10")
    ax2.set_xticks(x, [m["name"] for m in models], rotation=20, fontsize=8)
    ax2.axhline(3.0, color="C0", ls=":", lw=1)
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def score(models: list[dict]) -> list[dict]:
    """Adds ratios to the teacher (models[0]) to every model; the goal checks per student."""
    teacher = models[0]
    for m in models:
        m["param_share"] = m["num_params"] / teacher["num_params"]
        m["speedup_b1"] = m["b1"]["schedules_per_s"] / teacher["b1"]["schedules_per_s"]
        m["speedup_b1024"] = m["b1024"]["schedules_per_s"] / teacher["b1024"]["schedules_per_s"]
    by_name = {m["name"]: m for m in models}
    goals = []
    taught = [n.rsplit(" ", 1) for n in by_name if n.endswith(TAUGHT)]
    for label, how in taught:
        d, s = by_name[f"{label} {how}"], by_name[f"{label} from scratch"]
        db = d["brandimarte_gap"] - teacher["brandimarte_gap"]
        dh = d["held_out_mean"] - teacher["held_out_mean"]
        goals.append({
            "student": label if how == "distilled" else f"{label} {how}",
            "share": d["param_share"],
            "size": d["param_share"] <= GOALS["size_ratio_max"],
            "speedup_b1": d["speedup_b1"], "speedup_b1024": d["speedup_b1024"],
            "speed_b1": d["speedup_b1"] >= GOALS["speedup_min"],
            "speed_b1024": d["speedup_b1024"] >= GOALS["speedup_min"],
            "d_brandimarte": db, "d_held_out": dh,
            "gap_brandimarte": db <= GOALS["gap_within_pp"],
            "gap_held_out": dh <= GOALS["gap_within_pp"],
            "beats_scratch_brandimarte": d["brandimarte_gap"] < s["brandimarte_gap"],
            "beats_scratch_held_out": d["held_out_mean"] < s["held_out_mean"],
        })
    return goals


@dataclasses.dataclass(frozen=True)
class FeatureSum:
    """No network: scores each pair by the sum of its features. It reads every feature the
    students read, so its speed is the ceiling any student can reach in this env."""

    def init_carry(self):
        return ()

    def logits(self, params, carry, state, obs, tau=1.0):
        from jaxshop.rollout import masked_logits

        return masked_logits(obs.pair_features.sum(-1).reshape(-1), obs.action_mask), ()

    def advance(self, mid, action):
        return ()


def retime(args, path: Path) -> None:
    """Re-measures the speed columns of an existing report: every model's decoder is
    compiled first, then `--rounds` rounds time each model in turn (interleaved, so a
    change of machine load hits all alike); the median round counts."""
    report = json.loads(path.read_text())
    bench = make_sampler(T.instance_config(DistillConfig()))(jax.random.PRNGKey(12345), 1024)
    fns = []
    for m in report["models"]:
        policy, params, _ = load_policy(None if m["run"] is None else Path(m["run"]),
                                        report["teacher"])
        fns.append(greedy_fn(policy, params))
    floor = jax.jit(lambda batch: T.greedy_batch(FeatureSum(), None, batch, "append"))
    fns.append(floor)
    for batch in (1, 1024):
        key = f"b{batch}"
        first = [throughput(fn, bench, batch, 0.0)["first_call_s"] for fn in fns]
        rates = [[throughput(fn, bench, batch, args.seconds)["schedules_per_s"] for fn in fns]
                 for _ in range(args.rounds)]
        for i, m in enumerate(report["models"]):
            runs = sorted(r[i] for r in rates)
            m[key] = {"schedules_per_s": runs[len(runs) // 2], "first_call_s": first[i],
                      "rounds": runs}
        runs = sorted(r[-1] for r in rates)
        report.setdefault("features_only", {})[key] = runs[len(runs) // 2]
    report["goals"] = score(report["models"])
    report["speed_note"] = (f"speed re-timed: median of {args.rounds} interleaved rounds of "
                            f"{args.seconds:g} s per model and batch")
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(report))
    runs = {m["name"]: Path(m["run"]) for m in report["models"] if m["run"]}
    plot(report, runs, path.with_suffix(".png"))
    print(markdown(report))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="pointer")
    p.add_argument("--tag", default="", help="suffix of the result files and run folders")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "distill_study")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "results")
    p.add_argument("--updates", type=int, default=1000)
    add_student_options(p)
    p.add_argument("--objectives", type=lambda v: tuple(v.split(",")),
                   default=("distill", "reinforce"),
                   help="comma-separated student objectives: distill, reinforce (from "
                   "scratch, always needed for the goals), kickstart")
    p.add_argument("--teacher-samples", type=int, default=0, metavar="K",
                   help="distilled students learn from the teacher with search: the best of "
                   "its greedy and K sampled rollouts (use with --regime teacher)")
    p.add_argument("--ablation-updates", type=int, default=200)
    p.add_argument("--ablation-batch", type=int, default=32)
    p.add_argument("--held-out", type=int, default=100)
    p.add_argument("--seconds", type=float, default=3.0, help="timing window per point")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the student runs and the ablation")
    p.add_argument("--skip-ablation", action="store_true")
    p.add_argument("--retime", action="store_true",
                   help="only re-measure the speed columns of the existing report")
    p.add_argument("--rounds", type=int, default=5, help="--retime: interleaved rounds")
    args = p.parse_args(argv)
    if "reinforce" not in args.objectives or set(args.objectives) - set(OBJECTIVE_NAMES):
        p.error(f"--objectives: names from {tuple(OBJECTIVE_NAMES)}, reinforce included; "
                f"got {','.join(args.objectives)}")
    tag = f"_{args.tag}" if args.tag else ""
    if args.retime:
        retime(args, args.out / f"distill_study{tag}.json")
        return 0
    runs_dir = args.runs / (args.tag or "default")

    base = DistillConfig(teacher=args.teacher, alpha=args.alpha, tau=args.tau,
                         regime=args.regime, num_updates=args.updates, batch_size=args.batch,
                         checkpoint_every=max(10, args.updates // 10))
    students = {f"small-pointer D={args.sp_dim}": ("small-pointer", args.sp_dim),
                f"mlp {args.mlp_dim}x{args.mlp_dim}": ("mlp", args.mlp_dim)}
    runs: dict[str, Path] = {}
    for label, (student, dim) in students.items():
        for objective in args.objectives:
            # Kickstarting learns from the states the student drives (its RL term needs
            # them); plain distillation keeps the chosen --regime.
            regime = "student" if objective == "kickstart" else args.regime
            samples = args.teacher_samples if objective == "distill" else 0
            config = dataclasses.replace(base, student=student, student_dim=dim,
                                         objective=objective, regime=regime,
                                         teacher_samples=samples)
            runs[f"{label} {OBJECTIVE_NAMES[objective]}"] = train_run(
                config, runs_dir / f"{student}-{dim}-{objective}", args.seed)

    sets = {f"{j}x{m}": held_out(j, m, args.held_out, i) for i, (j, m) in enumerate(SIZES)}
    bench = make_sampler(T.instance_config(base))(
        jax.random.PRNGKey(12345), 1024)
    one = jax.tree_util.tree_map(lambda x: x[0], bench)
    models = []
    for name, run in [("teacher", None), *runs.items()]:
        policy, params, spec = load_policy(run, args.teacher)
        fn = greedy_fn(policy, params)
        row = {
            "name": name, "method": spec, "run": None if run is None else str(run),
            "num_params": policy_num_params(params),
            "flops_per_decision": flops_per_decision(policy, params, one),
            "b1": throughput(fn, bench, 1, args.seconds),
            "b1024": throughput(fn, bench, 1024, args.seconds),
            "brandimarte_gap": brandimarte_gap(spec),
            "held_out": held_out_gaps(spec, sets),
        }
        row["held_out_mean"] = round(float(np.mean(list(row["held_out"].values()))), 3)
        models.append(row)
        print(json.dumps({k: row[k] for k in ("name", "num_params", "b1", "b1024",
                                              "brandimarte_gap", "held_out")}), flush=True)
    goals = score(models)
    val_config = dataclasses.replace(base, student="small-pointer", student_dim=args.sp_dim)
    t_policy, t_params, _ = load_policy(None, args.teacher)
    val_set = make_sampler(T.instance_config(val_config))(
        jax.random.PRNGKey(T.VALIDATION_KEY), val_config.eval_size)
    finals = T.greedy_batch(t_policy, t_params, val_set, "append")
    teacher_val = float(jnp.mean(finals.makespan / finals.normalizer))
    report = {
        "teacher": args.teacher, "updates": args.updates, "batch": args.batch,
        "alpha": args.alpha, "tau": args.tau, "regime": args.regime,
        "teacher_samples": args.teacher_samples, "sizes": list(sets), "models": models,
        "goals": goals, "teacher_val": teacher_val,
        "ablation": [] if args.skip_ablation else ablation(args, args.teacher),
        "ablation_budget": f"{args.ablation_updates} updates x {args.ablation_batch} episodes",
        "device": jax.devices()[0].device_kind, "jax": jax.__version__, **run_info(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"distill_study{tag}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"distill_study{tag}.md").write_text(markdown(report))
    plot(report, runs, args.out / f"distill_study{tag}.png")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
