"""Environment throughput benchmark: decisions/s and complete schedules/s.

    python -m jaxshop.bench --cases pfsp_20x5,jssp_10x10_t99 --batch 1,1024 --peers
    jaxshop bench -- --cases pfsp_20x5 --batch 64      # `--` before the options, for now

Every measurement runs one jitted function that, `rounds` times in a `lax.scan`, draws
`batch` instances from the env's generator (inside the jitted function), resets and
plays each episode to its end under a uniformly random *valid* policy
(`jaxshop.rollout.random_policy` in `jaxshop.rollout.rollout`, vmapped over the batch),
and reduces the outcome to a few scalars (complete schedules, decisions, operations,
sum of mean makespans), so no large array leaves the device while timed.

- Compile time: `jax.jit(fn).lower(...).compile()`, measured on its own.
- Run time: one warm-up call, then `--repeats` repeats; a repeat calls the compiled
  function (with a fresh seed each call, `block_until_ready`) until `--min-seconds` have
  passed. Throughputs are per repeat; the table shows their median.
- Peak RSS is `resource.getrusage(RUSAGE_SELF).ru_maxrss` after the measurement: the
  peak of the whole process so far, not of that measurement alone.
- Schedules per CPU-second (`time.process_time`) are reported next to wall-clock
  throughput: on a shared machine they move much less with other processes' load.
- `--policies`: `random` (the library's `random_valid_action`: one uniform per decision,
  the k-th valid action; the default; `random-kth` is another name for it),
  `random-per-action` (the same distribution from one uniform per action and an argmax,
  `random_valid_action_per_action`, the library's policy before issue 11) and `first`
  (no RNG: the env's own cost). Jumanji's peer policies match: one uniform per machine
  and step, one per (machine, job), or the lowest valid job.
- Results carry the sha256 of the env sources (`source_sha256`), since envs change.

`--peers` also runs Jumanji's `JobShop` (when `jumanji` is installed) on each job-shop
case's sizes: `RandomGenerator(num_jobs, num_machines, max_num_ops=num_machines,
max_op_duration)`, a random valid policy (per machine, a uniform choice among its valid
jobs; no-op only when the machine has no valid job, so no episode dies of the "all
machines idle" rule), vmapped steps inside a `lax.while_loop` that runs until every
episode of the batch is done. Only complete schedules count. Jumanji's env is
time-stepped (one step = one time unit, several machines decide per step) and its
RandomGenerator draws 1..max_num_ops operations per job, so its "decisions" are time
steps and its schedules hold fewer operations than a jaxshop job shop of the same size;
the operations/s ratio is reported next to the schedules/s ratio for that reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxshop.options import ArgumentParser, UsageError, float_in, int_in, output_file

DEFAULT_BATCHES = (1, 64, 1024, 4096)
DEFAULT_OUT = "results/bench_envs.json"
POLICIES = ("random", "random-per-action", "first")
POLICY_ALIASES = {"random-kth": "random"}  # the name the k-th-valid policy had before
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


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case: an env factory and, for job shops, the Jumanji peer's sizes."""

    name: str
    family: str  # "pfsp", "jssp" or "fjsp"
    description: str
    make_env: Callable[[], Any]
    jumanji: dict | None = None  # RandomGenerator kwargs of the peer, job shops only


def _pfsp(n: int, m: int) -> Case:
    def make():
        from jaxshop.pfsp import PermutationFlowShop, UniformPFSPGenerator

        return PermutationFlowShop(UniformPFSPGenerator(n, m, 1, 99))

    return Case(f"pfsp_{n}x{m}", "pfsp", f"PFSP {n} jobs x {m} machines, times U[1,99]", make)


def _jssp(n: int, m: int, high: int) -> Case:
    def make():
        from jaxshop.fjsp import FlexibleJobShop, JobShopGenerator

        return FlexibleJobShop(JobShopGenerator(n, m, 1, high))

    return Case(
        f"jssp_{n}x{m}_t{high}",
        "jssp",
        f"job shop {n}x{m}, every job visits every machine once, times U[1,{high}]",
        make,
        jumanji={"num_jobs": n, "num_machines": m, "max_num_ops": m, "max_op_duration": high},
    )


def _fjsp(name: str, description: str, **kwargs: Any) -> Case:
    def make():
        from jaxshop.fjsp import FJSPGenerator, FlexibleJobShop

        return FlexibleJobShop(FJSPGenerator(**kwargs))

    return Case(name, "fjsp", description, make)


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        _pfsp(20, 5),
        _pfsp(50, 20),
        _pfsp(100, 20),
        _pfsp(500, 20),
        _jssp(10, 10, 99),
        _jssp(10, 10, 6),
        _jssp(20, 10, 99),
        _jssp(20, 10, 6),
        _fjsp(
            "fjsp_10x5",
            "FJSP 10 jobs x 5 machines, 4-6 ops/job, 1-5 eligible machines/op, times U[1,20] "
            "(Song et al.'s Brandimarte-like setting)",
            num_jobs=10, num_machines=5, ops_per_job=(4, 6), machines_per_op=(1, 5),
            time_range=(1, 20),
        ),
        _fjsp(
            "fjsp_mk10",
            "FJSP Mk10-sized: 20 jobs x 15 machines, 10-15 ops/job, 1-5 eligible "
            "machines/op, times U[5,20] (Brandimarte's Mk10 ranges)",
            num_jobs=20, num_machines=15, ops_per_job=(10, 15), machines_per_op=(1, 5),
            time_range=(5, 20),
        ),
    )
}


# ----------------------------------------------------------------------------- jaxshop


def _rounds(batch: int, steps: int, target_decisions: int) -> int:
    """Sequential batches per call, so that one call does about `target_decisions`."""
    return max(1, math.ceil(target_decisions / max(1, batch * steps)))


def build_jaxshop(env: Any, batch: int, target_decisions: int,
                  policy: str = "random") -> tuple[Callable, dict]:
    """The jitted-to-be `fn(seed) -> dict of scalars` for a jaxshop env, and its settings."""
    from jaxshop.rollout import (
        first_valid_policy,
        random_per_action_policy,
        random_policy,
        rollout,
    )

    instance = jax.eval_shape(env.generator, jax.random.PRNGKey(0))
    num_steps = env.max_steps(instance)
    rounds = _rounds(batch, num_steps, target_decisions)
    act = {
        "random": random_policy,
        "random-per-action": random_per_action_policy,
        "first": first_valid_policy,
    }[policy](env)

    def episode(key: jax.Array):
        k_reset, k_play = jax.random.split(key)
        state, _ = env.reset(k_reset)
        state, _, _ = rollout(env, state, k_play, act, num_steps)
        decisions = state.num_scheduled  # both env families count scheduled ops/jobs
        return env.is_done(state), env.current_makespan(state), decisions

    def fn(seed: jax.Array) -> dict:
        def body(acc, key):
            done, makespan, decisions = jax.vmap(episode)(jax.random.split(key, batch))
            acc = {
                "episodes": acc["episodes"] + batch,
                "complete": acc["complete"] + done.sum(dtype=jnp.int32),
                "decisions": acc["decisions"] + decisions.sum(dtype=jnp.int32),
                "makespan_sum": acc["makespan_sum"]
                + jnp.where(done, makespan, 0).astype(jnp.float32).sum(),
            }
            return acc, None

        init = {
            "episodes": jnp.zeros((), jnp.int32),
            "complete": jnp.zeros((), jnp.int32),
            "decisions": jnp.zeros((), jnp.int32),
            "makespan_sum": jnp.zeros((), jnp.float32),
        }
        keys = jax.random.split(jax.random.PRNGKey(seed), rounds)
        acc, _ = lax.scan(body, init, keys)
        acc["operations"] = acc["decisions"]  # one decision schedules one job / operation
        acc["steps"] = acc["decisions"]
        return acc

    return fn, {"rounds_per_call": rounds, "steps_per_episode": num_steps}


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
    rounds = _rounds(batch, nominal_steps, target_decisions)
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
            "complete": done.sum(dtype=jnp.int32),
            "steps": c["steps"].sum(dtype=jnp.int32),
            "operations": jnp.where(done, operations, 0).sum(dtype=jnp.int32),
            "makespan_sum": jnp.where(done, c["makespan"], 0).astype(jnp.float32).sum(),
        }

    def fn(seed: jax.Array) -> dict:
        def body(acc, key):
            out = play(key)
            acc = {k: acc[k] + (batch if k == "episodes" else out[k]) for k in acc}
            return acc, None

        init = {
            "episodes": jnp.zeros((), jnp.int32),
            "complete": jnp.zeros((), jnp.int32),
            "steps": jnp.zeros((), jnp.int32),
            "operations": jnp.zeros((), jnp.int32),
            "makespan_sum": jnp.zeros((), jnp.float32),
        }
        keys = jax.random.split(jax.random.PRNGKey(seed), rounds)
        acc, _ = lax.scan(body, init, keys)
        acc["decisions"] = acc["steps"]  # a Jumanji "decision" is one time step
        return acc

    return fn, {"rounds_per_call": rounds, "max_time_steps": max_t,
                "generator": dict(generator_kwargs)}


# ----------------------------------------------------------------------------- timing


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(fn: Callable, repeats: int, min_seconds: float,
            max_case_seconds: float | None = None) -> dict:
    """Compiles `fn(seed)` (timed alone), warms up, then times `repeats` repeats.

    With `max_case_seconds`, a case whose warm-up call is slow runs fewer repeats (at
    least one) so that the timed repeats take about that long at most.
    """
    seed0 = np.int32(0)
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(seed0).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(np.int32(1)))  # warm-up
    warmup_s = time.perf_counter() - t0
    if max_case_seconds is not None:
        per_call = max(warmup_s, min_seconds, 1e-9)
        repeats = min(repeats, max(1, int(max_case_seconds // per_call)))
    seed = 2
    per_repeat = []
    for _ in range(max(1, repeats)):
        outs = []
        cpu0, start = time.process_time(), time.perf_counter()
        while True:
            outs.append(jax.block_until_ready(compiled(np.int32(seed))))
            seed += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        cpu = time.process_time() - cpu0
        totals = {k: float(sum(float(o[k]) for o in outs)) for k in outs[0]}
        per_repeat.append({"seconds": elapsed, "cpu_seconds": cpu, "calls": len(outs), **totals})
    return {"compile_s": compile_s, "warmup_s": warmup_s, "repeats": per_repeat}


def summarize(raw: dict) -> dict:
    """Median throughputs over the repeats, and the outcome of the measured episodes."""
    reps = raw["repeats"]

    def med(key: str, per: str = "seconds") -> float:
        return statistics.median(r[key] / r[per] for r in reps)

    episodes = sum(r["episodes"] for r in reps)
    complete = sum(r["complete"] for r in reps)
    return {
        "compile_s": raw["compile_s"],
        "warmup_s": raw["warmup_s"],
        "seconds_per_call_median": statistics.median(r["seconds"] / r["calls"] for r in reps),
        "decisions_per_s": med("decisions"),
        "schedules_per_s": med("complete"),
        "operations_per_s": med("operations"),
        "episodes_per_s": med("episodes"),
        "schedules_per_cpu_s": med("complete", "cpu_seconds"),
        "decisions_per_cpu_s": med("decisions", "cpu_seconds"),
        "complete_fraction": complete / episodes if episodes else 0.0,
        "mean_makespan": (sum(r["makespan_sum"] for r in reps) / complete) if complete else None,
        "mean_operations_per_schedule": (
            sum(r["operations"] for r in reps) / complete if complete else None
        ),
        "repeats": reps,
    }


def run_case(case: Case, impl: str, batch: int, repeats: int, min_seconds: float,
             target_decisions: int, policy: str = "random",
             max_case_seconds: float | None = None) -> dict:
    """Measures one (case, implementation, batch, policy); `impl` is "jaxshop" or "jumanji"."""
    if impl == "jaxshop":
        fn, settings = build_jaxshop(case.make_env(), batch, target_decisions, policy)
    elif impl == "jumanji":
        fn, settings = build_jumanji(case.jumanji, batch, target_decisions, policy)
    else:  # pragma: no cover - internal
        raise ValueError(impl)
    result = summarize(measure(fn, repeats, min_seconds, max_case_seconds))
    return {
        "case": case.name,
        "impl": impl,
        "policy": policy,
        "batch": batch,
        **settings,
        **result,
        "peak_rss_mb_process_so_far": peak_rss_mb(),
    }


# ----------------------------------------------------------------------------- report


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _load() -> dict:
    try:
        load = list(os.getloadavg())
    except OSError:  # pragma: no cover - not on Unix
        load = None
    return {"loadavg_1_5_15": load, "uptime": _uptime(), "time": _now()}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


SOURCES = ("env.py", "rollout.py", "pfsp/env.py", "pfsp/generator.py", "pfsp/makespan.py",
           "fjsp/env.py", "fjsp/generator.py", "bench.py")


def source_digests() -> dict:
    """Short sha256 of the jaxshop sources a measurement depends on (envs change often)."""
    import hashlib

    root = Path(__file__).resolve().parent
    out = {}
    for name in SOURCES:
        path = root / name
        if path.exists():
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return out


def machine_info() -> dict:
    """CPU count, platform, library versions and the JAX device of this run."""
    import jaxlib

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        affinity = None
    cpu_model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "device_kind": jax.devices()[0].device_kind,
        "num_devices": jax.device_count(),
    }
    try:
        import jumanji

        info["jumanji"] = jumanji.__version__
    except ImportError:
        info["jumanji"] = None
    return info


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


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x >= 1e5:
        return f"{x:.3g}"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def markdown(report: dict) -> str:
    """The throughput table (and the Jumanji ratios, if any) as Markdown."""
    lines = [
        "| case | impl | policy | batch | decisions/s | schedules/s | ops/s | schedules/CPU-s "
        "| mean makespan | compile s | s/call | peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['case']} | {r['impl']} | {r['policy']} | {r['batch']} "
            f"| {_fmt(r['decisions_per_s'])} | {_fmt(r['schedules_per_s'])} "
            f"| {_fmt(r['operations_per_s'])} | {_fmt(r['schedules_per_cpu_s'])} "
            f"| {_fmt(r['mean_makespan'], 4)} | {r['compile_s']:.2f} "
            f"| {r['seconds_per_call_median']:.3g} | {r['peak_rss_mb_process_so_far']:.0f} |"
        )
    lines.append("")
    loads = "; ".join(
        f"run {i}: {_loadavg(inv['load_before'])} before, {_loadavg(inv['load_after'])} after"
        for i, inv in enumerate(report.get("invocations", [report]))
    )
    lines.append(
        "Medians over repeats; peak RSS is the process peak so far (within one run it only "
        f"grows down the table). Load average (1/5/15 min) on "
        f"{report['machine']['cpu_count']} CPUs: {loads}."
    )
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
                f"| {_fmt(p['jaxshop_schedules_per_s'])} "
                f"| {_fmt(p['jumanji_schedules_per_s'])} | {_fmt(p['schedules_ratio'])}x "
                f"| {_fmt(p['schedules_per_cpu_s_ratio'])}x "
                f"| {_fmt(p['operations_ratio'])}x |"
            )
    return "\n".join(lines)


def _loadavg(load: dict) -> str:
    values = load.get("loadavg_1_5_15")
    return "n/a" if not values else "/".join(f"{v:.2f}" for v in values)


# ----------------------------------------------------------------------------- CLI


def _policy_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in POLICIES and n not in POLICY_ALIASES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"policies must be among {POLICIES}, got {text!r}")
    names = [POLICY_ALIASES.get(n, n) for n in names]
    return list(dict.fromkeys(names))


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return values


def _case_list(text: str) -> list[str]:
    if text == "all":
        return list(CASES)
    if not any(t.strip() for t in text.split(",")):
        raise argparse.ArgumentTypeError(f"no case named in {text!r}; known: {', '.join(CASES)}")
    names = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        matched = [n for n in CASES if n == token or n.startswith(token + "_")]
        if not matched:
            raise argparse.ArgumentTypeError(
                f"unknown case {token!r}; known: {', '.join(CASES)} (or a family prefix: "
                "pfsp, jssp, fjsp, or 'all')"
            )
        names += [n for n in matched if n not in names]
    return names


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="jaxshop bench",
        description="Env throughput under a random valid policy (jit + vmap in lax.scan).",
    )
    p.add_argument("--cases", type=_case_list, default=list(CASES),
                   help="comma-separated case names or families (pfsp, jssp, fjsp), or 'all' "
                        f"(default all: {', '.join(CASES)})")
    p.add_argument("--batch", type=_int_list, default=list(DEFAULT_BATCHES),
                   help="comma-separated batch sizes (default 1,64,1024,4096)")
    p.add_argument("--repeats", type=int_in(1, 1000), default=3,
                   help="timed repeats; the median is shown")
    p.add_argument("--min-seconds", type=float_in(0.0, 3600.0), default=0.5,
                   help="minimum wall time of one repeat (calls are repeated until reached)")
    p.add_argument("--max-case-seconds", type=float_in(0.0, 86400.0, low_open=True),
                   default=60.0,
                   help="fewer repeats (at least 1) when the warm-up call shows that the "
                        "repeats of one case would take longer than this (default 60)")
    p.add_argument("--target-decisions", type=int_in(1, 2**30), default=16384,
                   help="decisions per jitted call: small batches play several rounds per call")
    p.add_argument("--peers", action="store_true",
                   help="also measure Jumanji's JobShop on the job-shop cases (needs jumanji)")
    p.add_argument("--policies", type=_policy_list, default=["random"],
                   help="comma-separated: random (jaxshop.rollout.random_valid_action: one "
                        "uniform per decision, the k-th valid action; the default; also "
                        "called random-kth), random-per-action (same distribution from one "
                        "uniform per action + argmax), first (lowest-index valid action: no "
                        "RNG, isolates the env's own cost)")
    p.add_argument("--out", type=output_file((".json",)), default=None,
                   help=f"write the JSON report there (nothing is written without it; the "
                   f"repository's report is {DEFAULT_OUT})")
    p.add_argument("--append", action="store_true",
                   help="add this run's results to the report already in --out (the Markdown "
                        "then covers all of them)")
    p.add_argument("--markdown", default=None, metavar="FILE.md",
                   help="also write the Markdown table(s) to this file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


NOTES = [
    "throughputs are medians over repeats; peak RSS is the process peak so far",
    "jaxshop: one decision schedules one job (PFSP) or one operation (job shops); "
    "Jumanji: one decision is one time step of all machines",
    "Jumanji's RandomGenerator draws 1..max_num_ops ops per job (about half of a "
    "jaxshop job shop's num_jobs * num_machines ops); compare operations/s too",
    "schedules/CPU-s divides by this process's CPU time: less sensitive to other "
    "processes on a shared machine than wall-clock throughput",
]


def _previous_report(path: str | None) -> dict | None:
    """The report in `path` to extend with `--append` (None when there is none)."""
    if not path or not Path(path).exists():
        return None
    report = json.loads(Path(path).read_text())
    if "invocations" not in report or "results" not in report:
        raise ValueError(f"{path} is not a report of `jaxshop bench`; cannot --append to it")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `jaxshop bench`; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `jaxshop bench -- --cases ...` passes the separator along
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if args.append and args.out is None:
        raise UsageError("--append needs --out FILE.json (the report to extend)")
    if args.markdown is not None:
        args.markdown = output_file((".md",))(args.markdown)
    peers = args.peers and any(CASES[c].jumanji for c in args.cases)
    notes = []
    if peers and not jumanji_available():
        notes.append("--peers: jumanji is not installed (pip install 'jaxshop[bench]'); "
                     "Jumanji was not measured")
        print(f"jaxshop bench: {notes[-1]}", file=sys.stderr)
        peers = False
    plan = []  # a peer pair is measured back to back, so both see about the same load
    for name in args.cases:
        impls = ["jaxshop"] + (["jumanji"] if peers and CASES[name].jumanji else [])
        plan += [(name, pol, b, impl) for pol in args.policies for b in args.batch
                 for impl in impls]

    load_before = _load()
    digests = source_digests()  # before the envs are built (their modules are imported)
    started = time.perf_counter()
    results = []
    for i, (name, policy, batch, impl) in enumerate(plan, 1):
        if not args.quiet:
            print(f"[{i}/{len(plan)}] {name} {impl} {policy} batch {batch} ...",
                  file=sys.stderr, end="", flush=True)
        r = run_case(CASES[name], impl, batch, args.repeats, args.min_seconds,
                     args.target_decisions, policy, args.max_case_seconds)
        results.append(r)
        if not args.quiet:
            print(f" {r['schedules_per_s']:,.0f} schedules/s, compile {r['compile_s']:.2f} s",
                  file=sys.stderr)
    invocation = {
        "finished": _now(),
        "argv": argv,
        "source_sha256": digests,
        "load_before": load_before,
        "load_after": _load(),
        "total_seconds": time.perf_counter() - started,
        "settings": {
            "cases": args.cases,
            "batches": args.batch,
            "repeats": args.repeats,
            "min_seconds": args.min_seconds,
            "max_case_seconds": args.max_case_seconds,
            "target_decisions_per_call": args.target_decisions,
            "peers": peers,
            "policies": args.policies,
        },
    }
    previous = _previous_report(args.out) if args.append else None
    invocations = (previous["invocations"] if previous else []) + [invocation]
    for r in results:
        r["invocation"] = len(invocations) - 1
    results = (previous["results"] if previous else []) + results
    descriptions = dict(previous["case_descriptions"]) if previous else {}
    descriptions.update({n: CASES[n].description for n in args.cases})
    report = {
        "benchmark": "jaxshop env throughput (random valid policy, jit + vmap in lax.scan)",
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
    table = markdown(report)
    if report["goal"]:
        table += "\n\n" + report["goal"]["summary"]
    print(table)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        md = Path(args.markdown)
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(table + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
