"""Env throughput: decisions/s and complete schedules/s of a jaxshop env.

    from jaxshop_baselines.bench import CASES, throughput
    throughput(CASES["jssp_10x10_t99"].make_env(), 1024)            # random valid policy
    throughput(jaxshop.make("fjsp"), 4096, "first", min_seconds=1.0)

    jaxshop bench --cases pfsp_20x5,jssp_10x10_t99 --batch 1,1024 [--out report.json]

A measurement runs one jitted function that, `rounds` times in a `lax.scan`, draws `batch`
instances from the env's generator (inside the jitted function), resets and plays each
episode to its end under a policy (`jaxshop.rollout.rollout`, vmapped over the batch), and
reduces the outcome to a few scalars (complete schedules, decisions, sum of makespans), so
no large array leaves the device while timed. `rounds` is the smallest number for which
one call makes about `target_decisions` decisions (small batches play several rounds).

- Compile time: `jax.jit(fn).lower(...).compile()`, measured on its own.
- Run time: one warm-up call, then `repeats` repeats; a repeat calls the compiled function
  (a fresh seed each call, `block_until_ready`) until `min_seconds` have passed.
  Throughputs are per repeat and reported as their median.
- Schedules per CPU-second (`time.process_time`) sit beside wall-clock throughput: on a
  shared machine they move much less with other processes' load.
- Policies: `random` (`jaxshop.rollout.random_valid_action`: one uniform per decision, the
  k-th valid action; `random-kth` is another name for it), `random-per-action` (the same
  distribution from one uniform per action and an argmax) and `first` (the lowest-index
  valid action: no RNG, the env's own cost), or any `(key, state) -> action` callable.

The harnesses live in `scripts/`: `scripts/bench_envs.py` (these cases against Jumanji's
`JobShop`, the repository's report `results/bench_envs.json`) and `scripts/bench_gpu.sh`
(env decisions/s at batches up to 2^17 and pointer training schedules/s, for a GPU).
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

__all__ = ["CASES", "POLICIES", "Case", "build_rollout", "machine_info", "main", "measure",
           "run_case", "summarize", "table", "throughput", "timed_repeats"]

DEFAULT_BATCHES = (1, 64, 1024, 4096)
DEFAULT_TARGET_DECISIONS = 16384
POLICIES = ("random", "random-per-action", "first")
POLICY_ALIASES = {"random-kth": "random"}  # the name the k-th-valid policy had before
PEERS_SCRIPT = "scripts/bench_envs.py"


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case: an env factory and, for job shops, the sizes of the Jumanji
    `JobShop` peer that `scripts/bench_envs.py --peers` measures beside it."""

    name: str
    family: str  # "pfsp", "jssp" or "fjsp"
    description: str
    make_env: Callable[[], Any]
    jumanji: dict | None = None  # Jumanji RandomGenerator kwargs, job shops only


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


# ----------------------------------------------------------------------------- the rollout


def rounds_per_call(batch: int, steps: int, target_decisions: int) -> int:
    """Sequential batches per call, so that one call does about `target_decisions`."""
    return max(1, math.ceil(target_decisions / max(1, batch * steps)))


def sum_rounds(play: Callable[[jax.Array], dict], seed: jax.Array, rounds: int) -> dict:
    """The sum of `play(key)` (a dict of scalars) over `rounds` keys split from the PRNG
    seed `seed`, one round after the other in a `lax.scan`."""
    keys = jax.random.split(jax.random.PRNGKey(seed), rounds)
    zeros = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype),
                                   jax.eval_shape(play, keys[0]))
    total, _ = lax.scan(lambda acc, key: (jax.tree_util.tree_map(jnp.add, acc, play(key)), None),
                        zeros, keys)
    return total


def script_main(main: Callable[[], int]) -> None:
    """Runs a benchmark script's `main()` and exits with its code; a `UsageError` (a bad
    command line) is printed as one line `error: ...` with exit code 2."""
    try:
        code = main()
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        code = 2
    sys.exit(code)


def _policy(env: Any, policy: str | Callable) -> Callable:
    if callable(policy):
        return policy
    from jaxshop.rollout import first_valid_policy, random_per_action_policy, random_policy

    factories = {"random": random_policy, "random-per-action": random_per_action_policy,
                 "first": first_valid_policy}
    name = POLICY_ALIASES.get(policy, policy)
    if name not in factories:
        raise ValueError(f"policy must be one of {POLICIES} or a callable, got {policy!r}")
    return factories[name](env)


def build_rollout(env: Any, batch: int, target_decisions: int = DEFAULT_TARGET_DECISIONS,
                  policy: str | Callable = "random") -> tuple[Callable, dict]:
    """`fn(seed) -> dict of scalars` (to be jitted) playing `batch` episodes per round, and
    its settings (`rounds_per_call`, `steps_per_episode`)."""
    from jaxshop.rollout import rollout

    instance = jax.eval_shape(env.generator, jax.random.PRNGKey(0))
    num_steps = env.max_steps(instance)
    rounds = rounds_per_call(batch, num_steps, target_decisions)
    act = _policy(env, policy)

    def episode(key: jax.Array):
        k_reset, k_play = jax.random.split(key)
        state, _ = env.reset(k_reset)
        state, _, _ = rollout(env, state, k_play, act, num_steps)
        decisions = state.num_scheduled  # both env families count scheduled ops/jobs
        return env.is_done(state), env.current_makespan(state), decisions

    def play(key: jax.Array) -> dict:
        done, makespan, decisions = jax.vmap(episode)(jax.random.split(key, batch))
        return {
            "episodes": jnp.asarray(batch, jnp.int32),
            "complete": done.sum(dtype=jnp.int32),
            "decisions": decisions.sum(dtype=jnp.int32),
            "makespan_sum": jnp.where(done, makespan, 0).astype(jnp.float32).sum(),
        }

    def fn(seed: jax.Array) -> dict:
        acc = sum_rounds(play, seed, rounds)
        acc["operations"] = acc["decisions"]  # one decision schedules one job / operation
        acc["steps"] = acc["decisions"]
        return acc

    return fn, {"rounds_per_call": rounds, "steps_per_episode": num_steps}


# ----------------------------------------------------------------------------- timing


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def timed_repeats(call: Callable[[int], Any], repeats: int, min_seconds: float,
                  max_seconds: float | None = None) -> dict:
    """Times `call(i)`, which must return only once its work is done (`block_until_ready`).

    One warm-up call (`i = 1`), then `repeats` repeats, each calling with `i = 2, 3, ...`
    until `min_seconds` have passed. With `max_seconds`, a slow warm-up lowers the number
    of repeats (at least one) so that they take about that long at most. Returns
    `warmup_s` and per repeat its `seconds`, `cpu_seconds`, `calls` and call `outputs`.
    """
    t0 = time.perf_counter()
    call(1)
    warmup_s = time.perf_counter() - t0
    if max_seconds is not None:
        per_repeat = max(warmup_s, min_seconds, 1e-9)
        repeats = min(repeats, max(1, int(max_seconds // per_repeat)))
    i = 2
    out = []
    for _ in range(max(1, repeats)):
        outputs = []
        cpu0, start = time.process_time(), time.perf_counter()
        while True:
            outputs.append(call(i))
            i += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        out.append({"seconds": elapsed, "cpu_seconds": time.process_time() - cpu0,
                    "calls": len(outputs), "outputs": outputs})
    return {"warmup_s": warmup_s, "repeats": out}


def compile_timed(jitted: Any, *args: Any) -> tuple[Any, float]:
    """`jitted.lower(*args).compile()` and its seconds: compile time measured on its own."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def run_timed(compiled: Any, *args: Any) -> tuple[Any, float]:
    """`compiled(*args)` waited for (`block_until_ready`) and its wall seconds."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - t0


def compile_and_run(jitted: Any, *args: Any) -> tuple[Any, float, float]:
    """Compiles `jitted` for `args` (timed alone), then one timed call with no warm-up:
    (outputs, compile seconds, run seconds)."""
    compiled, compile_s = compile_timed(jitted, *args)
    out, run_s = run_timed(compiled, *args)
    return out, compile_s, run_s


def measure(fn: Callable, repeats: int, min_seconds: float,
            max_case_seconds: float | None = None) -> dict:
    """Compiles `fn(seed) -> dict of scalars` (timed alone) and times it (`timed_repeats`);
    each repeat's outputs are summed per key."""
    compiled, compile_s = compile_timed(jax.jit(fn), np.int32(0))
    timed = timed_repeats(lambda seed: jax.block_until_ready(compiled(np.int32(seed))),
                          repeats, min_seconds, max_case_seconds)
    per_repeat = []
    for r in timed["repeats"]:
        outs = r.pop("outputs")
        per_repeat.append({**r, **{k: float(sum(float(o[k]) for o in outs)) for k in outs[0]}})
    return {"compile_s": compile_s, "warmup_s": timed["warmup_s"], "repeats": per_repeat}


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


def throughput(env: Any, batch: int, policy: str | Callable = "random", *, repeats: int = 3,
               min_seconds: float = 0.5, target_decisions: int = DEFAULT_TARGET_DECISIONS,
               max_seconds: float | None = None) -> dict:
    """Decisions/s and complete schedules/s of `env` at `batch` episodes in parallel.

    `policy` is a name in `POLICIES` or a `(key, state) -> action` callable. Compile time
    (`compile_s`) and the warm-up call (`warmup_s`) are kept out of the timed repeats;
    throughputs (`decisions_per_s`, `schedules_per_s`, `episodes_per_s`, per CPU-second
    too) are medians over `repeats`. `max_seconds` caps the repeats of a slow case (at
    least one is run). Also returns the outcome (`complete_fraction`, `mean_makespan`)
    and the settings (`batch`, `policy`, `rounds_per_call`, `steps_per_episode`).
    """
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    fn, settings = build_rollout(env, int(batch), int(target_decisions), policy)
    result = summarize(measure(fn, repeats, min_seconds, max_seconds))
    name = policy if isinstance(policy, str) else getattr(policy, "__name__", "callable")
    return {"batch": int(batch), "policy": POLICY_ALIASES.get(name, name), **settings, **result}


def run_case(case: Case, batch: int, policy: str = "random", *, repeats: int = 3,
             min_seconds: float = 0.5, target_decisions: int = DEFAULT_TARGET_DECISIONS,
             max_case_seconds: float | None = None) -> dict:
    """`throughput` of one registered case, labelled with its case, policy and batch."""
    result = throughput(case.make_env(), batch, policy, repeats=repeats,
                        min_seconds=min_seconds, target_decisions=target_decisions,
                        max_seconds=max_case_seconds)
    return {"case": case.name, "impl": "jaxshop", **result,
            "peak_rss_mb_process_so_far": peak_rss_mb()}


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
            cpu_model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                cpu_model,
            )
    except OSError:
        pass
    return {
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


def write_report(path: str | Path, report: dict) -> Path:
    """Writes a benchmark script's JSON report to `path` (folders created), stamped with
    `finished` (`now()`) and `machine` (`machine_info()`); numpy scalars become floats."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = {"finished": now(), "machine": machine_info(), **report}
    path.write_text(json.dumps(stamped, indent=2, default=float) + "\n")
    print(f"written {path}")
    return path


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- output


def fmt(x: float | None, digits: int = 3) -> str:
    """A throughput for a table: 3 significant digits, thousands separators in 100..1e5."""
    if x is None:
        return "-"
    if x >= 1e5:
        return f"{x:.3g}"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def table(results: list[dict]) -> str:
    """The `run_case` results as one Markdown table."""
    lines = [
        "| case | impl | policy | batch | decisions/s | schedules/s | ops/s | schedules/CPU-s "
        "| mean makespan | compile s | s/call | peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['case']} | {r['impl']} | {r['policy']} | {r['batch']} "
            f"| {fmt(r['decisions_per_s'])} | {fmt(r['schedules_per_s'])} "
            f"| {fmt(r['operations_per_s'])} | {fmt(r['schedules_per_cpu_s'])} "
            f"| {fmt(r['mean_makespan'], 4)} | {r['compile_s']:.2f} "
            f"| {r['seconds_per_call_median']:.3g} | {r['peak_rss_mb_process_so_far']:.0f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI


def policy_list(text: str) -> list[str]:
    """`type=` for comma-separated policy names (aliases resolved, duplicates dropped)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in POLICIES and n not in POLICY_ALIASES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"policies must be among {POLICIES}, got {text!r}")
    names = [POLICY_ALIASES.get(n, n) for n in names]
    return list(dict.fromkeys(names))


def int_list(text: str) -> list[int]:
    """`type=` for comma-separated batch sizes (each >= 1)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return values


def case_list(text: str) -> list[str]:
    """`type=` for comma-separated case names or families (pfsp, jssp, fjsp), or 'all'."""
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


def add_measure_options(p: argparse.ArgumentParser) -> None:
    """The options of what is measured and how, shared with `scripts/bench_envs.py`."""
    p.add_argument("--cases", type=case_list, default=list(CASES),
                   help="comma-separated case names or families (pfsp, jssp, fjsp), or 'all' "
                        f"(default all: {', '.join(CASES)})")
    p.add_argument("--batch", type=int_list, default=list(DEFAULT_BATCHES),
                   help="comma-separated batch sizes (default 1,64,1024,4096)")
    p.add_argument("--policies", type=policy_list, default=["random"],
                   help="comma-separated: random (jaxshop.rollout.random_valid_action: one "
                        "uniform per decision, the k-th valid action; the default; also "
                        "called random-kth), random-per-action (same distribution from one "
                        "uniform per action + argmax), first (lowest-index valid action: no "
                        "RNG, isolates the env's own cost)")
    p.add_argument("--repeats", type=int_in(1, 1000), default=3,
                   help="timed repeats; the median is shown")
    p.add_argument("--min-seconds", type=float_in(0.0, 3600.0), default=0.5,
                   help="minimum wall time of one repeat (calls are repeated until reached)")
    p.add_argument("--max-case-seconds", type=float_in(0.0, 86400.0, low_open=True),
                   default=60.0,
                   help="fewer repeats (at least 1) when the warm-up call shows that the "
                        "repeats of one case would take longer than this (default 60)")
    p.add_argument("--target-decisions", type=int_in(1, 2**30),
                   default=DEFAULT_TARGET_DECISIONS,
                   help="decisions per jitted call: small batches play several rounds per call")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="jaxshop bench",
        description="Env throughput under a policy (jit + vmap in lax.scan). The Jumanji "
                    f"comparison and the repository's report: {PEERS_SCRIPT}.",
    )
    add_measure_options(p)
    p.add_argument("--out", type=output_file((".json",)), default=None,
                   help="write the JSON results there (nothing is written without it)")
    p.add_argument("--peers", action="store_true",
                   help=f"not here: the Jumanji comparison is `python {PEERS_SCRIPT} --peers`")
    return p


def run_plan(args: argparse.Namespace, plan: list[tuple[str, str, str, int]],
             peer: Callable[..., dict] | None = None) -> list[dict]:
    """Measures each `(case, impl, policy, batch)` of `plan` with the options in `args`:
    `run_case` for impl "jaxshop", else `peer(case, batch, policy, args)`. A progress line
    per measurement goes to stderr unless `args.quiet`."""
    results = []
    for i, (name, impl, policy, batch) in enumerate(plan, 1):
        if not args.quiet:
            print(f"[{i}/{len(plan)}] {name} {impl} {policy} batch {batch} ...",
                  file=sys.stderr, end="", flush=True)
        if impl == "jaxshop":
            r = run_case(CASES[name], batch, policy, repeats=args.repeats,
                         min_seconds=args.min_seconds, target_decisions=args.target_decisions,
                         max_case_seconds=args.max_case_seconds)
        elif peer is not None:
            r = peer(CASES[name], batch, policy, args)
        else:
            raise ValueError(f"no peer measurement given for impl {impl!r}")
        results.append(r)
        if not args.quiet:
            print(f" {r['schedules_per_s']:,.0f} schedules/s, compile {r['compile_s']:.2f} s",
                  file=sys.stderr)
    return results


def settings_of(args: argparse.Namespace) -> dict:
    """The measurement settings of a parsed command line, for a report."""
    return {
        "cases": args.cases,
        "batches": args.batch,
        "policies": args.policies,
        "repeats": args.repeats,
        "min_seconds": args.min_seconds,
        "max_case_seconds": args.max_case_seconds,
        "target_decisions_per_call": args.target_decisions,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `jaxshop bench`; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `jaxshop bench -- --cases ...` passes the separator along
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if args.peers:
        raise UsageError(f"--peers: the Jumanji comparison is not part of `jaxshop bench`; "
                         f"run `python {PEERS_SCRIPT} --peers` (same options)")
    started = time.perf_counter()
    plan = [(n, "jaxshop", pol, b) for n in args.cases for pol in args.policies
            for b in args.batch]
    results = run_plan(args, plan)
    print(table(results))
    if args.out:
        report = {
            "benchmark": "jaxshop env throughput (jit + vmap in lax.scan)",
            "created": now(),
            "argv": argv,
            "machine": machine_info(),
            "settings": settings_of(args),
            "total_seconds": time.perf_counter() - started,
            "results": results,
        }
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


# ------------------------------------------------------------ what the scripts share
# `scripts/` import these (`from jaxshop_baselines.bench import ...`) instead of each other.

#: Held-out FJSP sizes of the pointer and distillation studies, and their fixed seed.
SIZES = ((10, 5), (15, 10), (20, 10))
HELD_OUT_SEED = 20_250_000  # + size index; training uses runtime keys, validation 987654321
#: Names of the distillation objectives in the studies' tables.
OBJECTIVE_NAMES = {"distill": "distilled", "reinforce": "from scratch",
                   "kickstart": "kickstarted"}
#: Taillard flow-shop groups (instance numbers) of the kernel-Q studies.
GROUPS = {"20x20": range(21, 31), "50x20": range(51, 61), "100x20": range(81, 91),
          "200x20": range(101, 111), "500x20": range(111, 121)}


def train_row(batch: int, updates: int = 1, repeats: int = 3, min_seconds: float = 1.0,
              max_seconds: float | None = 10.0) -> dict:
    """Pointer training throughput at `batch`: compile timed alone, then calls of
    `updates` updates timed with `timed_repeats` (wall and CPU time)."""
    from jaxshop_baselines.pointer.config import PointerConfig
    from jaxshop_baselines.pointer.train import init_runner, make_train_chunk

    config = PointerConfig(batch_size=batch, updates_per_chunk=updates,
                           checkpoint_every=updates, eval_size=0)  # AC-SD on 10x5 FJSP
    carry = {"runner": init_runner(config, jax.random.PRNGKey(0))}
    chunk, compile_s = compile_timed(make_train_chunk(config), carry["runner"])

    def call(_):
        carry["runner"], metrics = chunk(carry["runner"])
        return jax.block_until_ready((carry["runner"], metrics))[1]

    timed = timed_repeats(call, repeats, min_seconds, max_seconds=max_seconds)
    reps = timed["repeats"]
    seconds = statistics.median(r["seconds"] / r["calls"] for r in reps)
    cpu_seconds = statistics.median(r["cpu_seconds"] / r["calls"] for r in reps)
    last = reps[-1]["outputs"][-1]
    return {
        "case": f"pointer_fjsp_{config.num_jobs}x{config.num_machines}", "batch": batch,
        "updates_per_call": updates, "updates_per_s": updates / seconds,
        "schedules_per_s": batch * updates / seconds,
        "schedules_per_cpu_s": batch * updates / cpu_seconds,
        "seconds_per_call": seconds, "compile_s": compile_s, "warmup_s": timed["warmup_s"],
        "mean_makespan_last": float(last["makespan"].mean()),
        "repeats": len(reps), "embed_dim": config.embed_dim, "variant": config.variant,
    }


def extract(ref: str, into: Path, repo: Path) -> Path:
    """`git archive` of `ref` of the checkout `repo` under `into`, with a `PYTHONPATH`
    folder that maps the two packages onto it (`jaxshop`, `jaxshop_baselines` ->
    `baselines/`)."""
    import subprocess

    tree, shim = into / "tree", into / "shim"
    tree.mkdir(parents=True)
    shim.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=repo, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    (shim / "jaxshop").symlink_to(tree / "jaxshop")
    (shim / "jaxshop_baselines").symlink_to(tree / "baselines")
    return shim


def held_out(jobs: int, machines: int, count: int, index: int) -> list:
    """`count` exact-size random FJSP instances of one size from a fixed seed."""
    from jaxshop_baselines.pointer.config import song_ops_range

    from jaxshop.fjsp import FJSPGenerator

    gen = FJSPGenerator(jobs, machines, ops_per_job=song_ops_range(machines),
                        machines_per_op=(1, machines), time_range=(1, 20))
    keys = jax.random.split(jax.random.PRNGKey(HELD_OUT_SEED + index), count)
    batch = jax.device_get(jax.vmap(gen)(keys))
    return [jax.tree_util.tree_map(lambda x, i=i: np.asarray(x[i]), batch) for i in range(count)]


def solve(spec: str, instances: list, chunk: int, seed: int, **options) -> tuple[list, float]:
    """Makespans of `spec` on `instances` (in chunks), validated; and wall seconds."""
    from jaxshop_baselines.methods import get_method

    from jaxshop.schedule import validate

    method = get_method(spec, mode="append", seed=seed, **options)
    out = []
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(seed)
    for start in range(0, len(instances), chunk):
        part = instances[start:start + chunk]
        key, sub = jax.random.split(key)
        for inst, sol in zip(part, method.solve(part, sub), strict=True):
            check = validate(inst, sol.schedule)
            if not check:
                raise RuntimeError(f"{spec}: infeasible schedule: {check.reason}")
            out.append(int(sol.makespan))
    return out, time.perf_counter() - t0


def brandimarte_gap(spec: str) -> float:
    """Mean gap (%) on Mk01-10 through `jaxshop eval` (the CLI's own loop)."""
    import tempfile

    from jaxshop_baselines.cli import main as cli_main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval.json"
        code = cli_main(["eval", "--suite", "brandimarte", "--method", spec, "--out", str(out),
                         "--no-progress", "--json"])
        if code != 0:
            raise RuntimeError(f"eval {spec} failed ({code})")
        return float(json.loads(out.read_text())["mean_gap_percent"])


def held_out_gaps(spec: str, sets: dict) -> dict:
    """Mean gap (%) to the lower bound per size on the held-out sets (validated)."""
    from jaxshop.fjsp import makespan_lower_bound

    out = {}
    for size, instances in sets.items():
        makespans, _ = solve(spec, instances, 100, 0)
        lbs = [float(makespan_lower_bound(i)) for i in instances]
        out[size] = round(float(np.mean([100 * (c / lb - 1) for c, lb in
                                         zip(makespans, lbs, strict=True)])), 3)
    return out


def train_run(config: Any, out: Path, seed: int = 0) -> Path:
    """Trains (or reuses a finished) distillation run (`DistillConfig`) in `out` from
    `seed`."""
    from jaxshop_baselines.distill import train as distill_train

    if (out / "meta.json").is_file():
        print(f"reusing {out}", flush=True)
        return out
    distill_train.run_distill(config, out, seed=seed, resume=out.exists(), progress=False)
    return out


def add_student_options(p: argparse.ArgumentParser) -> None:
    """Episodes per update, student widths and the distillation settings (the
    distillation study and budget scripts)."""
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--sp-dim", type=int, default=16)
    p.add_argument("--mlp-dim", type=int, default=32)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--tau", type=float, default=2.0)
    p.add_argument("--regime", default="mix")


def search_best(config: Any, params: Any, batch: Any, moves: int) -> tuple[np.ndarray, float]:
    """`(best makespan per instance, search seconds)` of `moves` kernel-Q search moves from
    NEH on `batch` (compile excluded)."""
    from jaxshop_baselines.kernel_q.search import search_init_batch, search_run_batch

    keys = jax.random.split(jax.random.PRNGKey(7), batch.job_mask.shape[0])
    state = search_init_batch(batch, keys)
    run = search_run_batch.lower(state, batch, params, jnp.int32(moves), lam=config.lam,
                                 candidates=config.candidates).compile()
    t0 = time.perf_counter()
    state = jax.block_until_ready(run(state, batch, params, jnp.int32(moves)))
    return np.asarray(state.best_cmax, float), time.perf_counter() - t0


def arpd(makespans: Any, ubs: Any) -> float:
    """Average relative percentage deviation of `makespans` from the bounds `ubs`."""
    m, u = np.asarray(makespans, float), np.asarray(ubs, float)
    return float(np.mean(100.0 * (m - u) / u))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
