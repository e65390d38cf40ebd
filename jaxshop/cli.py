"""The `jaxshop` command line: solve, eval, train, bench, list.

Machines read `--json` (one JSON object on stdout); people get rich tables, progress on
stderr and Gantt charts. Every user error is one line on stderr naming the option or file,
with exit code 2; an internal failure (a bug) is one line with exit code 1, and `--debug`
shows its traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import jaxshop
from jaxshop import xla_cache
from jaxshop.options import (
    EXIT_INTERRUPTED,
    ArgumentParser,
    UsageError,
    count,
    existing_dir,
    float_in,
    int_in,
    one_line,
    output_file,
    positive_int,
    seed,
    unwritable,
)

EXIT_USAGE = 2
EXIT_INTERNAL = 1
MAX_SAMPLES = 1024
TEMPERATURE_RANGE = (1e-3, 1e3)  # = jaxshop_baselines.pointer.inference.TEMPERATURE_RANGE
MAX_TIME_LIMIT = 7 * 24 * 3600.0  # seconds: a week bounds any budget a user means
GANTT_SUFFIXES = (".png", ".pdf", ".svg")

#: CLI flag of every method option (what `--help` documents and errors name).
METHOD_FLAGS = {
    "seed": "--seed",
    "mode": "--mode",
    "sample": "--sample",
    "temperature": "--temperature",
    "iterations": "--iterations",
    "time_limit": "--time-limit",
}


class CLIError(UsageError):
    """A user-facing error: printed as one line, exit code 2."""


def gap_percent(makespan: int, ub: int | None) -> float | None:
    """The relative gap to the best-known upper bound in percent (the one gap formula)."""
    return None if ub is None else round(100.0 * (makespan - ub) / ub, 4)


# ------------------------------------------------------------------------ arguments


def _add_method_options(p: ArgumentParser) -> None:
    p.add_argument(
        "--method",
        type=method_spec,
        default=None,
        help="flow shops: neh, ig, kernel-q[:DIR], random, ppo:DIR (a run trained on pfsp); "
        "job shops: rule:JOB-MACHINE, random, pointer[:DIR], student[:DIR], mlp:DIR, "
        "ppo[:DIR], ddqn[:DIR]; eval --suite fab: fab-rule:RULE, ddqn[:DIR] (default: neh "
        "for flow shops, rule:MWKR-EF for job shops, fab-rule:d4 for the fab); "
        "`jaxshop list methods` shows each with its problems and options",
    )
    p.add_argument("--seed", type=seed, default=None, help="PRNG seed, 0..2^32-1 (default 0)")
    p.add_argument(
        "--mode", choices=("append", "insert"), default=None,
        help="job shops: schedule construction (default append)",
    )
    p.add_argument(
        "--sample", type=int_in(0, MAX_SAMPLES), default=None,
        help=f"pointer: best of N candidates, the greedy schedule and N-1 samples, "
        f"1..{MAX_SAMPLES} (0 = greedy)",
    )
    p.add_argument(
        "--temperature", type=float_in(*TEMPERATURE_RANGE), default=None,
        help=f"pointer with --sample N >= 2: sampling temperature, "
        f"{TEMPERATURE_RANGE[0]:g}..{TEMPERATURE_RANGE[1]:g} (default 1)",
    )
    p.add_argument("--iterations", type=count, default=None, help="ig: iteration budget")
    p.add_argument(
        "--time-limit", type=float_in(0.0, MAX_TIME_LIMIT, low_open=True), default=None,
        help="ig: wall-time budget in seconds for the whole batch (instead of --iterations)",
    )
    p.add_argument(
        "--data-dir", type=existing_dir, default=None,
        help="benchmark data folder (default $JAXSHOP_DATA, else the data shipped with jaxshop)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object for machines")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _method_spec(args, problem: str) -> str:
    from jaxshop_baselines.methods import default_method

    return args.method or default_method(problem)


def method_spec(text: str) -> str:
    """`type=` of --method: a non-empty spec (an empty one would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; see `jaxshop list methods`")
    return text.strip()


def _method_options(args) -> dict[str, Any]:
    """The method options given on the command line (defaults are the method's own)."""
    return {
        name: getattr(args, name) for name in METHOD_FLAGS if getattr(args, name) is not None
    }


def _build_method(spec: str, options: dict[str, Any], problems: set[str], where: str):
    """The method, after checking (before any compile) that it takes every given option
    and solves every problem in `problems`."""
    from jaxshop_baselines.methods import get_method, method_info

    if "iterations" in options and "time_limit" in options:
        raise CLIError("give --iterations or --time-limit, not both")
    info = method_info(spec)
    if info.options is not None:
        ignored = [METHOD_FLAGS[o] for o in options if o not in info.options]
        if ignored:
            takes = ", ".join(METHOD_FLAGS.get(o, o) for o in info.options) or "no options"
            raise CLIError(
                f"{', '.join(ignored)} does not apply to method {spec!r} (it takes {takes})"
            )
    wrong = sorted(problems - set(info.problems))
    if wrong:
        raise CLIError(
            f"method {spec!r} solves {'/'.join(info.problems)}, but {where} is {'/'.join(wrong)}"
        )
    return get_method(spec, **options)


def _run_options(args, spec: str, method) -> dict[str, Any]:
    """What a run's record says about how it was made."""
    return {
        "method": spec,
        "method_version": method.version,
        "num_params": method.num_params,
        "seed": 0 if args.seed is None else args.seed,
        "mode": args.mode,
        "sample": args.sample,
        "temperature": args.temperature,
        "iterations": args.iterations,
        "time_limit": args.time_limit,
    }


def _status(args, message: str):
    """A spinner on stderr while a long call runs (none with --json / --quiet)."""
    if args.json or args.quiet:
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def _check_size(instances, spec: str, options: dict[str, Any], **generated: Any) -> None:
    """Refuses, before any compile, work that would not finish in reasonable time (or
    `count=N` instances like `instances[0]` in chunks of `chunk`, `eval --random`)."""
    from jaxshop.limits import check_workload

    check_workload(instances, spec, options, **generated)


def _solve(method, instances, key, progress):
    """`method.solve`, with `progress(fraction)` between its chunks where it takes one."""
    import inspect

    if "progress" in inspect.signature(method.solve).parameters:
        return method.solve(instances, key, progress=progress)
    return method.solve(instances, key)


def _write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(payload, indent=2) + "\n")


# ------------------------------------------------------------------------ solve


def _load_instance(args):
    from jaxshop.instances.registry import builtin_names, load

    spec = args.spec
    if not spec.strip():
        raise CLIError("solve: SPEC is empty; give a built-in instance (see `jaxshop list "
                       "instances`) or an instance file")
    builtin = spec.strip().lower() in builtin_names()
    if builtin and args.format is not None:
        raise CLIError(f"--format applies to instance files, but {spec!r} is a built-in instance")
    path = Path(spec)
    if builtin and path.is_file():  # the name wins; say so, and how to read the file instead
        print(f"jaxshop: note: {spec!r} is the built-in instance; for the file of that name "
              f"here, write ./{spec}", file=sys.stderr)
    if not builtin and path.is_dir():
        raise CLIError(f"{spec}: is a folder, not an instance file (use `eval --suite {spec}`)")
    instance = load(spec, data_dir=args.data_dir, format=args.format)
    name = spec.strip().lower() if builtin else path.stem
    return name, instance


def cmd_solve(args) -> int:
    import jax

    from jaxshop.instances.bounds import best_known_for
    from jaxshop.instances.types import problem_of
    from jaxshop.schedule import validate

    name, instance = _load_instance(args)
    problem = problem_of(instance)
    spec = _method_spec(args, problem)
    options = _method_options(args)
    method = _build_method(spec, options, {problem}, name)
    _check_size([instance], spec, options)
    key = jax.random.PRNGKey(0 if args.seed is None else args.seed)
    start = time.perf_counter()
    with _status(args, f"solving {name} with {spec}…"):
        (solution,) = method.solve([instance], key)
    seconds = time.perf_counter() - start
    t0 = time.perf_counter()
    check = validate(instance, solution.schedule)
    validate_seconds = time.perf_counter() - t0
    if not check:
        raise RuntimeError(f"{spec} produced an infeasible schedule: {check.reason}")
    known = best_known_for(instance)
    ub = None if known is None else known[1][1]
    if args.gantt:
        from jaxshop.gantt import plot_gantt

        plot_gantt(solution.schedule, args.gantt, title=f"{name} ({spec})")
    out = {
        "instance": name,
        "problem": problem,
        "method": spec,
        "makespan": solution.makespan,
        "best_known_instance": None if known is None else known[0],
        "best_known_upper_bound": ub,
        "gap_percent": gap_percent(solution.makespan, ub),
        "permutation": solution.permutation,
        "schedule": solution.schedule.to_records(),
        "seconds": round(seconds, 4),
        "validate_seconds": round(validate_seconds, 4),
        "options": _run_options(args, spec, method),
    }
    _write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return 0
    size = "x".join(str(s) for s in instance.shape)
    print(
        f"{name} ({problem}, shape {size}) by {spec}: makespan {solution.makespan}"
        + (f", best known {ub} ({known[0]}), gap {out['gap_percent']:.2f} %" if known else "")
        + f"  [{seconds:.2f} s incl. compile, validated in {validate_seconds:.2f} s]"
    )
    if solution.permutation is not None:
        print("permutation:", " ".join(map(str, solution.permutation)))
    if args.gantt:
        print(f"Gantt chart written to {args.gantt}")
    if args.out:
        print(f"JSON written to {args.out}")
    return 0


# ------------------------------------------------------------------------ eval


def _parse_groups(text: str) -> list[str]:
    groups = [g.strip().lower() for g in text.split(",") if g.strip()]
    if not groups or not all(_is_group(g) for g in groups):
        raise CLIError(f"--groups expects sizes like 20x5,50x20, got {text!r}")
    return groups


def _is_group(text: str) -> bool:
    jobs, x, machines = text.partition("x")
    return bool(x) and jobs.isdigit() and machines.isdigit()


FAB_ONLY = {"seeds": "--seeds", "days": "--days", "warmup_days": "--warmup-days",
            "fab_release": "--fab-release", "fab_weekly": "--fab-weekly",
            "fab_setups": "--fab-setups", "fab_maintenance": "--fab-maintenance",
            "fab_breakdowns": "--fab-breakdowns", "fab_params": "--fab-params"}
GENERATED_ONLY = {"chunk": "--chunk", "mesh": "--mesh"}
NOT_FOR_GENERATED = {"groups": "--groups", "limit": "--limit", "data_dir": "--data-dir",
                     "format": "--format", **FAB_ONLY}
NOT_FOR_FAB = {"groups": "--groups", "limit": "--limit", "mode": "--mode",
               "sample": "--sample", "temperature": "--temperature",
               "iterations": "--iterations",
               "time_limit": "--time-limit", "data_dir": "--data-dir", "format": "--format"}


def cmd_eval(args) -> int:
    if (args.suite is None) == (args.random is None):
        raise CLIError("eval: give --suite NAME or --random PROBLEM:JxM:N (one of them)")
    if args.random is not None:
        return _eval_generated(args)
    given = [flag for name, flag in GENERATED_ONLY.items() if getattr(args, name) is not None]
    if given:
        raise CLIError(f"{', '.join(given)} only apply to --random")
    if args.suite == "fab":
        return _eval_fab(args)
    given = [flag for name, flag in FAB_ONLY.items() if getattr(args, name) is not None]
    if given:
        raise CLIError(f"{', '.join(given)} only apply to --suite fab")
    import jax
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from jaxshop.instances.registry import suite
    from jaxshop.instances.types import problem_of
    from jaxshop.schedule import validate

    if args.out is not None:  # the CSV beside the JSON must be writable too, before any work
        problem = unwritable(args.out.with_suffix(".csv"))
        if problem:
            raise CLIError(f"--out: cannot write {args.out.with_suffix('.csv')}: {problem}")
    groups_wanted = _parse_groups(args.groups) if args.groups is not None else None
    entries = suite(args.suite, data_dir=args.data_dir, groups=groups_wanted, format=args.format)
    if args.limit is not None:
        entries = entries[: args.limit]
    problems = {problem_of(e.instance) for e in entries}
    options = _method_options(args)
    if args.method is None and len(problems) > 1:
        raise CLIError(
            f"suite {args.suite!r} mixes {'/'.join(sorted(problems))} instances; name a --method"
        )
    spec = _method_spec(args, next(iter(problems)))
    method = _build_method(spec, options, problems, f"suite {args.suite!r}")
    groups: dict[str, list] = {}
    for e in entries:
        groups.setdefault(e.group, []).append(e)
    for members in groups.values():  # each group is one call, padded to its own size
        _check_size([m.instance for m in members], spec, options)
    rows = []
    key = jax.random.PRNGKey(0 if args.seed is None else args.seed)
    err = Console(stderr=True)
    started = time.perf_counter()
    validate_seconds = 0.0
    interrupted = False
    try:  # Ctrl-C keeps every instance solved so far (written below, marked incomplete)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[solved]}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err,
            disable=args.no_progress or args.quiet or args.json,
        ) as bar:
            task = bar.add_task(f"{args.suite} · {spec}", total=len(entries), solved=0)
            for group, members in groups.items():
                key, sub = jax.random.split(key)
                t0 = time.perf_counter()
                before, size = len(rows), len(members)  # the bar moves within a group
                solutions = _solve(method, [m.instance for m in members], sub,
                                   lambda f, a=before, n=size:
                                   bar.update(task, completed=a + f * n))
                seconds = time.perf_counter() - t0
                for m, sol in zip(members, solutions, strict=True):
                    t1 = time.perf_counter()
                    check = validate(m.instance, sol.schedule)
                    validate_seconds += time.perf_counter() - t1
                    if not check:
                        raise RuntimeError(
                            f"{m.name}: infeasible schedule from {spec}: {check.reason}"
                        )
                    ub = None if m.bounds is None else m.bounds[1]
                    row = {
                        "instance": m.name,
                        "group": group,
                        "problem": problem_of(m.instance),
                        "makespan": sol.makespan,
                        "best_known_upper_bound": ub,
                        "gap_percent": gap_percent(sol.makespan, ub),
                        "group_seconds": round(seconds, 4),
                        "permutation": sol.permutation,
                    }
                    if args.schedules:
                        row["schedule"] = sol.schedule.to_records()
                    rows.append(row)
                bar.update(task, completed=len(rows), solved=len(rows))
    except KeyboardInterrupt:
        interrupted = True
    total_seconds = time.perf_counter() - started

    def mean_gap(rs):
        gaps = [r["gap_percent"] for r in rs if r["gap_percent"] is not None]
        return round(sum(gaps) / len(gaps), 4) if gaps else None

    solved_groups = dict.fromkeys(r["group"] for r in rows)
    by_group = {g: mean_gap([r for r in rows if r["group"] == g]) for g in solved_groups}
    out = {
        "suite": args.suite,
        "method": spec,
        "mode": args.mode,
        "instances": rows,
        "group_mean_gap_percent": by_group,
        "mean_gap_percent": mean_gap(rows),
        "num_params": method.num_params,
        "solved": len(rows),
        "total": len(entries),
        "complete": not interrupted,
        "seconds": round(total_seconds, 3),
        "validate_seconds": round(validate_seconds, 3),
        "options": _run_options(args, spec, method),
        **_run_info(),
    }
    if args.out is not None:
        _write_json(args.out, out)
        _write_csv(args.out.with_suffix(".csv"), rows)
    if interrupted:
        where = f"; the {len(rows)} solved are in {args.out}" if args.out is not None else ""
        print(f"jaxshop: interrupted after {len(rows)} of {len(entries)} instances{where} "
              "(marked \"complete\": false)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(out))
        return 0
    console = Console()
    table = Table(title=f"{args.suite} · {spec}")
    for col in ("instance", "group", "makespan", "best known UB", "gap %"):
        table.add_column(col, justify="right" if col not in ("instance", "group") else "left")
    for r in rows:
        g = r["gap_percent"]
        table.add_row(
            r["instance"], r["group"], str(r["makespan"]),
            str(r["best_known_upper_bound"] or "-"), "-" if g is None else f"{g:.2f}",
        )
    console.print(table)
    summary = Table(title="mean gap to best-known upper bound")
    summary.add_column("group")
    summary.add_column("instances", justify="right")
    summary.add_column("mean gap %", justify="right")
    for g, v in by_group.items():
        summary.add_row(g, str(len(groups[g])), "-" if v is None else f"{v:.2f}")
    overall = out["mean_gap_percent"]
    summary.add_row(
        "all", str(len(rows)), "-" if overall is None else f"{overall:.2f}", style="bold"
    )
    console.print(summary)
    console.print(f"{len(rows)} instances in {total_seconds:.1f} s (compile included)")
    if args.out is not None:
        console.print(f"written: {args.out} and {args.out.with_suffix('.csv')}")
    return 0


def _add_fab_options(p: ArgumentParser) -> None:
    """The fab's regime (`--fab-release LO,HI`, `--fab-weekly`, `--fab-setups`,
    `--fab-maintenance`, `--fab-breakdowns`: `jaxshop.fab.regime`, as `train ddqn --env
    fab` has them) or a parameters file (`--fab-params FILE.json`)."""
    from jaxshop.fab.regime import add_regime_options

    add_regime_options(p, "--suite fab: ")
    p.add_argument("--fab-params", type=Path, default=None, metavar="FILE.json",
                   help="--suite fab: the fab's parameters from a JSON object of FabParams "
                   "fields (the others default; the eval JSON's fab_params is one), instead "
                   "of the --fab-... options; without either, a ddqn model plays the fab it "
                   "was trained on, a rule the default fab")


def _eval_fab(args) -> int:
    """`eval --suite fab`: a fab policy over `--seeds` fabs for `--days` days, on the fab
    of `--fab-params`, else of the regime options, else the one a learned policy was
    trained on, else the default fab."""
    from jaxshop_baselines.fab_eval import FAB_DEFAULTS, evaluate_fab, fab_setting
    from rich.console import Console
    from rich.table import Table

    from jaxshop.fab import FabEnv, params_to_json
    from jaxshop.fab.regime import DEFAULT_REGIME, FLAGS, dest, regime_given

    wrong = [flag for name, flag in NOT_FOR_FAB.items() if getattr(args, name) is not None]
    wrong += ["--schedules"] if args.schedules else []
    if wrong:
        raise CLIError(f"{', '.join(wrong)} do(es) not apply to --suite fab "
                       "(it takes --method, --seeds, --days, --warmup-days, --seed, "
                       "--fab-release and the other --fab-... options)")
    regime = regime_given(args)
    if regime and args.fab_params is not None:
        raise CLIError(f"give --fab-params or {', '.join(FLAGS[k] for k in regime)}, not both "
                       "(the parameters file defines the whole fab)")
    spec = args.method or "fab-rule:d4"
    method = _build_method(spec, {}, {"fab"}, "suite 'fab'")
    seeds = args.seeds or FAB_DEFAULTS["seeds"]
    days = args.days or FAB_DEFAULTS["days"]
    warmup = FAB_DEFAULTS["warmup_days"] if args.warmup_days is None else args.warmup_days
    setting = fab_setting(method, regime=regime, params_file=args.fab_params,
                          total_days=days + warmup)
    if setting.note is not None:
        print(f"jaxshop: {setting.note}", file=sys.stderr)
    try:
        env = FabEnv(setting.params, days=days, warmup_days=warmup)
    except ValueError as err:  # what only the env checks (warm-up row, days): name the file
        where = "" if args.fab_params is None else f"{args.fab_params}: "
        raise CLIError(f"{where}{err}") from None
    with _status(args, f"fab · {spec}: {seeds} fabs x {days} days"):
        out = evaluate_fab(method.act, seeds=seeds, seed=args.seed or 0, env=env)
    out["method"] = spec
    out["num_params"] = setting.num_params
    out["fab"] = setting.description
    out["fab_params_source"] = setting.source
    out["fab_params"] = params_to_json(setting.params)
    out["options"] = {"method": spec, "method_version": method.version,
                      "num_params": setting.num_params, "seed": args.seed or 0,
                      **{dest(key): regime.get(key) for key in DEFAULT_REGIME},
                      "fab_params": None if args.fab_params is None else str(args.fab_params)}
    out.update(_run_info())
    if args.out is not None:
        _write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return 0
    table = Table(title=f"fab · {spec} · {seeds} seeds x {days} days (warm-up {warmup}) · "
                  f"{setting.description}")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("std over seeds", justify="right")
    lo, hi = out["band"]
    for label, name in ((f"days with OEE in [{lo:g}, {hi:g}]", "days_in_band"),
                        (f"mean |OEE - {(lo + hi) / 2:g}|", "mean_abs_deviation"),
                        ("daily output (lots)", "daily_output"),
                        ("mean cycle time (min)", "mean_cycle_time")):
        table.add_row(label, f"{out[name]:.3f}", f"{out[name + '_std']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"mean fab OEE {out['mean_oee']:.3f}; {out['seconds']:.1f} s (compile included)")
    if args.out is not None:
        console.print(f"written: {args.out}")
    return 0


def _run_info() -> dict[str, Any]:
    """`devices` and `processes` (and the device kind) of this run, for the eval JSON."""
    from jaxshop.parallel import run_info

    return run_info()


def _mesh_size(text: str) -> int | None:
    from jaxshop.parallel import mesh_size

    return mesh_size(text)


def _eval_generated(args) -> int:
    """`eval --random PROBLEM:JxM:N`: the mean makespan of N random instances, solved in
    fixed-size jitted chunks (bounded memory) over the devices of `--mesh`."""
    import jax
    from jaxshop_baselines.generated_eval import evaluate_generated
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from jaxshop import parallel
    from jaxshop.instances.generated import parse_generated
    from jaxshop.limits import generated_chunk_size

    wrong = [flag for name, flag in NOT_FOR_GENERATED.items() if getattr(args, name) is not None]
    wrong += ["--schedules"] if args.schedules else []
    if wrong:
        raise CLIError(f"{', '.join(wrong)} do(es) not apply to --random")
    try:
        suite = parse_generated(args.random)
    except ValueError as err:
        raise CLIError(f"--random: {err}") from None
    try:
        mesh = parallel.make_mesh(args.mesh)
    except ValueError as err:
        raise CLIError(f"--mesh: {err}") from None
    options = _method_options(args)
    spec = _method_spec(args, suite.problem)
    method = _build_method(spec, options, {suite.problem}, f"--random {suite.name}")
    if method.batch_makespans is None:
        raise CLIError(f"method {spec!r} cannot solve --random suites (no batched solver"
                       f"{' with --sample' if args.sample else ''}); use random, rule:..., "
                       "neh or greedy pointer")
    example = suite.generator()(jax.random.PRNGKey(0))
    # Chunks of about a second (progress and Ctrl-C between them) unless --chunk says.
    chunk = args.chunk or generated_chunk_size(example, spec, options)
    _check_size([example], spec, options, count=suite.count, chunk=chunk)
    key = jax.random.PRNGKey(0 if args.seed is None else args.seed)
    with parallel.use_mesh(mesh), Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=Console(stderr=True), disable=args.no_progress or args.quiet or args.json,
    ) as bar:
        task = bar.add_task(f"{suite.name} · {spec}", total=suite.count)
        result = evaluate_generated(method, suite, key, chunk,
                                    progress=lambda done: bar.update(task, completed=done))
    result.pop("makespans")
    out = {"suite": f"random {suite.name}", "problem": suite.problem, "method": spec,
           "instances": suite.count, **result, "num_params": method.num_params,
           "options": _run_options(args, spec, method)}
    if args.out is not None:
        _write_json(args.out, out)
    if not out["complete"]:
        where = f"; written to {args.out}" if args.out is not None else ""
        print(f"jaxshop: interrupted after {out['evaluated']} of {suite.count} instances"
              f"{where} (marked \"complete\": false)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(out))
        return 0
    mean = out["mean_makespan"]
    memory = out["device_peak_bytes"] or out["host_peak_rss_bytes"]
    print(f"{suite.name} · {spec}: mean makespan {mean:.2f} over {out['solved']}/"
          f"{suite.count} solved instances; {out['seconds']:.1f} s "
          f"({out['instances_per_second']:.0f} instances/s) on {out['devices']} device(s), "
          f"compile {out['compile_seconds']:.1f} s, peak memory {memory / 2**20:.0f} MiB")
    return 0


CSV_COLUMNS = (
    "instance", "group", "problem", "makespan", "best_known_upper_bound", "gap_percent",
    "group_seconds",
)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# ------------------------------------------------------------------------ list


def _listing() -> dict[str, list[dict[str, str]]]:
    from jaxshop_baselines.methods import available_methods, method_info

    from jaxshop.instances.formats import FORMATS
    from jaxshop.instances.registry import SUITES, builtin_names, problem_kind

    methods = []
    for name, help_text in available_methods().items():
        info = method_info(name)
        methods.append({
            "name": name if info.arg is None else f"{name}:{info.arg}",
            "problems": "/".join(info.problems),
            "options": "-" if info.options is None else
            " ".join(METHOD_FLAGS.get(o, o) for o in info.options) or "none",
            "description": help_text,
        })
    return {
        "instances": [{"name": n, "problem": problem_kind(n) or "?"} for n in builtin_names()],
        "suites": [{"name": s.name, "description": s.description} for s in SUITES.values()]
        + [{"name": "fab", "description": "Mini-Fab env: a fab policy over --seeds simulated "
            "fabs for --days days (fab-rule:d1..d4, ddqn)"}],
        "methods": methods,
        "envs": [{"name": n} for n in jaxshop.registered()],
        "formats": [{"name": n} for n in FORMATS],
    }


def cmd_list(args) -> int:
    data = _listing()
    sections = [args.what] if args.what else list(data)
    if args.json:
        print(json.dumps({s: data[s] for s in sections}))
        return 0
    for s in sections:
        print(f"{s}:")
        for row in data[s]:
            print("  " + "  ".join(str(v) for v in row.values()))
    return 0


# ------------------------------------------------------------------------ train, bench


def cmd_train(args) -> int:
    from jaxshop_baselines.training import available_trainers, get_trainer

    if args.agent in (None, "-h", "--help"):
        usage = (
            "usage: jaxshop train AGENT [options]   (agents: "
            f"{', '.join(available_trainers())}; `jaxshop train AGENT --help` lists its options)"
        )
        if args.agent is None:
            raise CLIError(f"train: name an agent: {', '.join(available_trainers())} ({usage})")
        print(usage)
        return 0
    return get_trainer(args.agent)(args.rest)


def cmd_distill(args) -> int:
    from jaxshop_baselines.training import get_trainer

    return get_trainer("distill")(args.rest)


def cmd_bench(args) -> int:
    from jaxshop.bench import main as bench_main

    return bench_main(args.rest)


COMMANDS: dict[str, Callable[[Any], int]] = {
    "solve": cmd_solve,
    "eval": cmd_eval,
    "train": cmd_train,
    "distill": cmd_distill,
    "bench": cmd_bench,
    "list": cmd_list,
}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="jaxshop", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"jaxshop {jaxshop.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    p = sub.add_parser("solve", help="solve one instance (built-in name or file)")
    p.add_argument("spec", help="ta001..ta120, ta01..ta80, mk01..mk10, ft06, la01.., or a file")
    _add_method_options(p)
    p.add_argument("--gantt", type=output_file(GANTT_SUFFIXES), default=None,
                   metavar="FILE.png", help="write a Gantt chart (.png, .pdf or .svg)")
    p.add_argument("--out", type=output_file((".json",)), default=None, metavar="FILE.json",
                   help="also write the JSON result to this file")
    _add_format_option(p, "when SPEC is a file")
    p = sub.add_parser("eval", help="solve a benchmark suite (or a folder) and report gaps")
    p.add_argument(
        "--suite", default=None,
        help="taillard-pfsp, taillard-jssp, brandimarte, lawrence, ft, fab (the Mini-Fab "
        "env: a fab policy over --seeds fabs), or a folder of instance files (bounds from a "
        "bounds.json / bounds.csv beside them)",
    )
    p.add_argument("--random", default=None, metavar="PROBLEM:JxM:N",
                   help="instead of --suite: N random instances, e.g. fjsp:10x5:1000000 "
                   "(also jssp, pfsp), solved in jitted chunks with bounded memory")
    p.add_argument("--chunk", type=int_in(1, 1 << 24), default=None,
                   help="--random: instances per jitted chunk (default 4096)")
    p.add_argument("--mesh", type=_mesh_size, default=None, metavar="N|all",
                   help="--random: devices the chunks are split over (default all)")
    p.add_argument("--seeds", type=int_in(1, 100_000), default=None,
                   help="--suite fab: fabs to simulate (default 100)")
    p.add_argument("--days", type=int_in(1, 365), default=None,
                   help="--suite fab: days after the warm-up (default 10)")
    p.add_argument("--warmup-days", type=int_in(0, 365), default=None,
                   help="--suite fab: warm-up days with rule d4 (default 5)")
    _add_fab_options(p)
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N instances")
    p.add_argument("--groups", default=None, metavar="JxM,...",
                   help="only these size groups, e.g. 20x20,50x20")
    p.add_argument("--schedules", action="store_true",
                   help="--json/--out rows carry each schedule's records")
    p.add_argument("--out", type=output_file((".json",)), default=None, metavar="FILE.json",
                   help="also write the JSON result there and a CSV of the rows beside it")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_format_option(p, "of the files when --suite is a folder")
    _add_method_options(p)
    p = sub.add_parser("list", help="list instances, suites, methods, envs or formats")
    p.add_argument("what", nargs="?", choices=("instances", "suites", "methods", "envs",
                                               "formats"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_parser("train", help="train a learning agent (see `jaxshop train AGENT --help`)")
    sub.add_parser("distill", help="distill a teacher policy into a small student (see "
                   "`jaxshop distill --help`; the same as `jaxshop train distill`)")
    sub.add_parser("bench", help="env throughput benchmark (see `jaxshop bench --help`)")
    return parser


def _add_format_option(p: ArgumentParser, where: str) -> None:
    from jaxshop.instances.formats import FORMATS

    p.add_argument(
        "--format", choices=tuple(FORMATS), default=None,
        help=f"file layout {where} (default: sniffed; a file that two layouts read as "
        "different problems is refused; plain `n m` + pairs files read as job shops, use "
        "pfsp-std for a flow shop)",
    )


PASSTHROUGH = ("train", "distill", "bench")  # subcommands that parse their own options


def _parse(argv: list[str]):
    parser = build_parser()
    top = argv[: next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))]
    rest = argv[len(top):]
    if rest and rest[0] in PASSTHROUGH:
        if top:  # --version / --help before the command
            parser.parse_args([*top, "list"])
        if rest[0] == "train":
            agent = rest[1] if len(rest) > 1 else None
            return argparse.Namespace(command="train", agent=agent, rest=rest[2:])
        return argparse.Namespace(command=rest[0], rest=rest[1:])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        args = _parse(argv)
        xla_cache.enable()  # a repeated command skips the compiles it already did
        return COMMANDS[args.command](args)
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_USAGE
    except KeyboardInterrupt:
        print("jaxshop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError, KeyError) as err:
        if debug:
            traceback.print_exc()
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        if isinstance(err, OSError) and err.filename:
            message = f"{err.filename}: {err.strerror or err}"
        print(f"jaxshop: error: {one_line(message)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # noqa: BLE001 - a bug: one line, details with --debug
        if debug:
            traceback.print_exc()
        hint = "" if debug else "; run again with --debug for the traceback"
        print(
            f"jaxshop: internal error (a bug, please report it): {type(err).__name__}: "
            f"{one_line(err, 300)}{hint}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
