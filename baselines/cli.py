"""The `jaxshop` command line: solve, eval, train, bench, list.

Machines read `--json` (one JSON object on stdout); people get rich tables, progress on
stderr and Gantt charts. Every user error is one line on stderr naming the option or file,
with exit code 2; an internal failure (a bug) is one line with exit code 1, and `--debug`
shows its traceback. This module dispatches: options live in `cli_options`, the work in
`evaluation` and the method registry.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from jaxshop_baselines import cli_options as opts
from jaxshop_baselines.cli_options import CLIError
from jaxshop_baselines.cli_report import (
    interrupted,
    progress_bar,
    run_reporting_errors,
    write_json,
)

from jaxshop import xla_cache
from jaxshop.options import unwritable

# ------------------------------------------------------------------------ solve


def cmd_solve(args) -> int:
    import jax
    from jaxshop_baselines.cli_report import print_solve
    from jaxshop_baselines.evaluation.suite import bound_fields, gap_percent

    from jaxshop.instances.bounds import best_known_for
    from jaxshop.instances.types import problem_of
    from jaxshop.schedule import validate

    name, instance = opts.load_instance(args)
    problem = problem_of(instance)
    spec = opts.spec_for(args, problem)
    options = opts.method_options(args)
    method = opts.build_method(spec, options, {problem}, name)
    opts.check_size([instance], spec, options)
    key = jax.random.PRNGKey(0 if args.seed is None else args.seed)
    start = time.perf_counter()
    with opts.status(args, f"solving {name} with {spec}…"):
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
    out = {"instance": name, "problem": problem, "method": spec, "makespan": solution.makespan,
           "best_known_instance": None if known is None else known[0],
           "best_known_upper_bound": ub, "gap_percent": gap_percent(solution.makespan, ub),
           **bound_fields(solution), "permutation": solution.permutation,
           "schedule": solution.schedule.to_records(),
           "seconds": round(seconds, 4), "validate_seconds": round(validate_seconds, 4),
           "options": opts.run_options(args, spec, method)}
    write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return 0
    print_solve(out, instance.shape, (seconds, validate_seconds), args.gantt, args.out)
    return 0


# ------------------------------------------------------------------------ eval


def cmd_eval(args) -> int:
    if (args.suite is None) == (args.random is None):
        raise CLIError("eval: give --suite NAME or --random PROBLEM:JxM:N (one of them)")
    if args.random is not None:
        return _eval_generated(args)
    if given := opts.given(args, opts.GENERATED_ONLY):
        raise CLIError(f"{', '.join(given)} only apply to --random")
    if args.suite == "fab":
        return _eval_fab(args)
    if given := opts.given(args, opts.FAB_ONLY):
        raise CLIError(f"{', '.join(given)} only apply to --suite fab")
    return _eval_suite(args)


def _eval_suite(args) -> int:
    import jax
    from jaxshop_baselines.cli_report import print_suite
    from jaxshop_baselines.evaluation import suite as evaluation

    from jaxshop.instances.registry import suite
    from jaxshop.instances.types import problem_of

    if args.out is not None:  # the CSV beside the JSON must be writable too, before any work
        problem = unwritable(args.out.with_suffix(".csv"))
        if problem:
            raise CLIError(f"--out: cannot write {args.out.with_suffix('.csv')}: {problem}")
    groups_wanted = opts.parse_groups(args.groups) if args.groups is not None else None
    entries = suite(args.suite, data_dir=args.data_dir, groups=groups_wanted, format=args.format)
    if args.limit is not None:
        entries = entries[: args.limit]
    problems = {problem_of(e.instance) for e in entries}
    options = opts.method_options(args)
    if args.method is None and len(problems) > 1:
        raise CLIError(
            f"suite {args.suite!r} mixes {'/'.join(sorted(problems))} instances; name a --method"
        )
    spec = opts.spec_for(args, next(iter(problems)))
    options = opts.bounds_options(args, spec, options)
    method = opts.build_method(spec, options, problems, f"suite {args.suite!r}")
    groups = evaluation.group_entries(entries)
    for members in groups.values():  # each group is one call, padded to its own size
        opts.check_size([m.instance for m in members], spec, options)
    key = jax.random.PRNGKey(0 if args.seed is None else args.seed)
    with progress_bar(args, "{task.fields[solved]}/{task.total}") as bar:
        task = bar.add_task(f"{args.suite} · {spec}", total=len(entries), solved=0)
        result = evaluation.evaluate_suite(
            method, entries, key, spec, schedules=args.schedules,
            progress=lambda done, solved: bar.update(task, completed=done, solved=solved))
    rows = result.rows
    out = {"suite": args.suite, "method": spec, "mode": args.mode,
           **result.record(method.num_params, opts.run_options(args, spec, method))}
    if args.bounds is not None and rows:
        with progress_bar(args, "{task.percentage:>3.0f}%") as bar:
            task = bar.add_task(f"bounds · {args.bounds[0]}:{args.bounds[1]:g}", total=1.0)
            out.update(evaluation.attach_bounds(
                rows, entries, args.bounds[1], args.workers,
                progress=lambda f: bar.update(task, completed=f)))
    if args.out is not None:
        write_json(args.out, out)
        evaluation.write_csv(args.out.with_suffix(".csv"), rows)
    if result.interrupted:
        where = f"; the {len(rows)} solved are in {args.out}" if args.out is not None else ""
        return interrupted(len(rows), len(entries), where)
    if args.json:
        print(json.dumps(out))
        return 0
    print_suite(args.suite, spec, out, groups, result.seconds, args.out)
    return 0


def _eval_fab(args) -> int:
    """`eval --suite fab`: a fab policy over `--seeds` fabs for `--days` days, on the fab
    of `--fab-params`, else of the regime options, else the one a learned policy was
    trained on, else the default fab."""
    from jaxshop_baselines.cli_report import print_fab
    from jaxshop_baselines.evaluation import fab

    from jaxshop.fab.regime import FLAGS, regime_given

    wrong = opts.given(args, opts.NOT_FOR_FAB) + (["--schedules"] if args.schedules else [])
    if wrong:
        raise CLIError(f"{', '.join(wrong)} do(es) not apply to --suite fab "
                       "(it takes --method, --seeds, --days, --warmup-days, --seed, "
                       "--fab-release and the other --fab-... options)")
    regime = regime_given(args)
    if regime and args.fab_params is not None:
        raise CLIError(f"give --fab-params or {', '.join(FLAGS[k] for k in regime)}, not both "
                       "(the parameters file defines the whole fab)")
    spec = args.method or "fab-rule:d4"
    method = opts.build_method(spec, {}, {"fab"}, "suite 'fab'")
    out = fab.fab_run(method, spec, seeds=args.seeds, days=args.days,
                      warmup_days=args.warmup_days, seed=args.seed or 0, regime=regime,
                      params_file=args.fab_params,
                      note=lambda text: print(f"jaxshop: {text}", file=sys.stderr),
                      status=lambda message: opts.status(args, message))
    if args.out is not None:
        write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
        return 0
    print_fab(spec, out, args.out)
    return 0


def _eval_generated(args) -> int:
    """`eval --random PROBLEM:JxM:N`: the mean makespan of N random instances, solved in
    fixed-size jitted chunks (bounded memory) over the devices of `--mesh`."""
    import jax
    from jaxshop_baselines import parallel
    from jaxshop_baselines.cli_report import print_generated
    from jaxshop_baselines.evaluation import generated

    from jaxshop.instances.generated import parse_generated

    wrong = opts.given(args, opts.NOT_FOR_GENERATED) + (["--schedules"] if args.schedules else [])
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
    options = opts.method_options(args)
    spec = opts.spec_for(args, suite.problem)
    options = opts.bounds_options(args, spec, options)
    method = opts.build_method(spec, options, {suite.problem}, f"--random {suite.name}")
    chunk = generated.generated_chunk_for(method, spec, suite, options, args.chunk)
    key = jax.random.PRNGKey(0 if args.seed is None else args.seed)
    if args.bounds is not None and suite.count > generated.MAX_BOUNDED_INSTANCES:
        raise CLIError(f"--bounds: CP-SAT solves every instance; --random {suite.name} has "
                       f"{suite.count:,} (at most {generated.MAX_BOUNDED_INSTANCES:,})")
    with parallel.use_mesh(mesh), progress_bar(args, "{task.completed}/{task.total}") as bar:
        task = bar.add_task(f"{suite.name} · {spec}", total=suite.count)
        result = generated.evaluate_generated(
            method, suite, key, chunk, progress=lambda done: bar.update(task, completed=done))
    makespans = result.pop("makespans")
    out = {"suite": f"random {suite.name}", "problem": suite.problem, "method": spec,
           "instances": suite.count, **result, "num_params": method.num_params,
           "options": opts.run_options(args, spec, method)}
    if args.bounds is not None and makespans.size:
        with progress_bar(args, "{task.percentage:>3.0f}%") as bar:
            task = bar.add_task(f"bounds · {args.bounds[0]}:{args.bounds[1]:g}", total=1.0)
            out = generated.attach_generated_bounds(
                out, makespans, suite, key, args.bounds[1], args.workers,
                progress=lambda f: bar.update(task, completed=f))
    if args.out is not None:
        write_json(args.out, out)
    if not out["complete"]:
        where = f"; written to {args.out}" if args.out is not None else ""
        return interrupted(out["evaluated"], suite.count, where)
    if args.json:
        print(json.dumps(out))
        return 0
    print_generated(suite, spec, out)
    return 0


# ------------------------------------------------------------------------ list, train, bench


def cmd_list(args) -> int:
    from jaxshop_baselines.cli_report import listing

    data = listing()
    sections = [args.what] if args.what else list(data)
    if args.json:
        print(json.dumps({s: data[s] for s in sections}))
        return 0
    for s in sections:
        print(f"{s}:", *("  " + "  ".join(map(str, row.values())) for row in data[s]), sep="\n")
    return 0


def cmd_train(args) -> int:
    from jaxshop_baselines.training import available_trainers, get_trainer

    if args.agent in (None, "-h", "--help"):
        agents = ", ".join(available_trainers())
        usage = (f"usage: jaxshop train AGENT [options]   (agents: {agents}; "
                 "`jaxshop train AGENT --help` lists its options)")
        if args.agent is None:
            raise CLIError(f"train: name an agent: {agents} ({usage})")
        print(usage)
        return 0
    return get_trainer(args.agent)(args.rest)


def cmd_distill(args) -> int:
    from jaxshop_baselines.training import get_trainer

    return get_trainer("distill")(args.rest)


def cmd_bench(args) -> int:
    from jaxshop_baselines.bench import main as bench_main

    return bench_main(args.rest)


COMMANDS: dict[str, Callable[[Any], int]] = {
    "solve": cmd_solve, "eval": cmd_eval, "train": cmd_train, "distill": cmd_distill,
    "bench": cmd_bench, "list": cmd_list,
}


def _dispatch(argv: list[str]) -> int:
    args = opts.parse(argv)
    xla_cache.enable()  # a repeated command skips the compiles it already did
    return COMMANDS[args.command](args)


def main(argv: list[str] | None = None) -> int:
    """The console command `jaxshop`: parses, dispatches, returns the exit code."""
    return run_reporting_errors(sys.argv[1:] if argv is None else list(argv), _dispatch)


if __name__ == "__main__":
    sys.exit(main())
