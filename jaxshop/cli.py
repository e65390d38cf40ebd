"""The `jaxshop` command line: solve, eval, train, bench.

Machines read `--json` (one JSON object on stdout); people get rich tables, a progress
bar on stderr and Gantt PNGs. Every user error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _gap(makespan: int, ub: int | None) -> float | None:
    return None if ub is None else round(100.0 * (makespan - ub) / ub, 4)


def _add_method_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--method", default="neh", help="neh, ig, random, rule:JOB-MACHINE, pointer[:DIR]"
    )
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for stochastic methods")
    p.add_argument(
        "--mode",
        choices=("append", "insert"),
        default="append",
        help="schedule construction for job shops (default append)",
    )
    p.add_argument(
        "--sample", type=int, default=0, help="pointer: best of N sampled schedules (0 = greedy)"
    )
    p.add_argument("--iterations", type=int, default=None, help="ig: iteration budget")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="ig: wall-time budget in seconds per instance batch",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="benchmark data folder (default $JAXSHOP_DATA or ../shared/benchmarks)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object for machines")


def _method(args) -> Any:
    from jaxshop_baselines.methods import get_method

    options = {"mode": args.mode, "sample": args.sample, "seed": args.seed}
    if args.iterations is not None:
        options["iterations"] = args.iterations
    if args.time_limit is not None:
        options["time_limit"] = args.time_limit
    return get_method(args.method, **options)


def cmd_solve(args) -> int:
    import jax

    from jaxshop.instances.bounds import best_known
    from jaxshop.instances.registry import load
    from jaxshop.instances.types import problem_of
    from jaxshop.schedule import validate

    instance = load(args.spec, data_dir=args.data_dir, format=args.format)
    method = _method(args)
    name = Path(args.spec).stem if Path(args.spec).exists() else args.spec
    start = time.perf_counter()
    (solution,) = method.solve([instance], jax.random.PRNGKey(args.seed))
    seconds = time.perf_counter() - start
    check = validate(instance, solution.schedule)
    if not check:
        raise CLIError(
            f"internal error: {args.method} produced an infeasible schedule: {check.reason}"
        )
    bounds = best_known(name)
    ub = None if bounds is None else bounds[1]
    if args.gantt:
        from jaxshop.gantt import plot_gantt

        plot_gantt(solution.schedule, args.gantt, title=f"{name} ({args.method})")
    out = {
        "instance": name,
        "problem": problem_of(instance),
        "method": args.method,
        "makespan": solution.makespan,
        "best_known_upper_bound": ub,
        "gap_percent": _gap(solution.makespan, ub),
        "permutation": solution.permutation,
        "schedule": solution.schedule.to_records(),
        "seconds": round(seconds, 4),
    }
    if args.json:
        print(json.dumps(out))
        return 0
    size = "x".join(str(s) for s in instance.shape)
    print(
        f"{name} ({out['problem']}, padded shape {size}) by {args.method}: "
        f"makespan {solution.makespan}"
        + (f", best known {ub}, gap {out['gap_percent']:.2f} %" if ub else "")
        + f"  [{seconds:.2f} s incl. compile]"
    )
    if solution.permutation is not None:
        print("permutation:", " ".join(map(str, solution.permutation)))
    if args.gantt:
        print(f"Gantt chart written to {args.gantt}")
    return 0


def cmd_eval(args) -> int:
    import jax
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from jaxshop.instances.bounds import best_known
    from jaxshop.instances.registry import suite
    from jaxshop.schedule import validate

    entries = suite(args.suite, data_dir=args.data_dir)
    if args.limit:
        entries = entries[: args.limit]
    method = _method(args)
    groups: dict[str, list] = {}
    for e in entries:
        groups.setdefault(e.group, []).append(e)
    rows = []
    key = jax.random.PRNGKey(args.seed)
    err = Console(stderr=True)
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        disable=args.no_progress,
    ) as bar:
        task = bar.add_task(f"{args.suite} · {args.method}", total=len(entries))
        for group, members in groups.items():
            key, sub = jax.random.split(key)
            t0 = time.perf_counter()
            solutions = method.solve([m.instance for m in members], sub)
            seconds = time.perf_counter() - t0
            for m, sol in zip(members, solutions, strict=True):
                check = validate(m.instance, sol.schedule)
                if not check:
                    raise CLIError(
                        f"{m.name}: infeasible schedule from {args.method}: {check.reason}"
                    )
                bounds = best_known(m.name)
                ub = None if bounds is None else bounds[1]
                rows.append(
                    {
                        "instance": m.name,
                        "group": group,
                        "makespan": sol.makespan,
                        "best_known_upper_bound": ub,
                        "gap_percent": _gap(sol.makespan, ub),
                        "group_seconds": round(seconds, 4),
                    }
                )
            bar.advance(task, len(members))
    total_seconds = time.perf_counter() - started

    def mean_gap(rs):
        gaps = [r["gap_percent"] for r in rs if r["gap_percent"] is not None]
        return round(sum(gaps) / len(gaps), 4) if gaps else None

    by_group = {g: mean_gap([r for r in rows if r["group"] == g]) for g in groups}
    out = {
        "suite": args.suite,
        "method": args.method,
        "mode": args.mode,
        "instances": rows,
        "group_mean_gap_percent": by_group,
        "mean_gap_percent": mean_gap(rows),
        "seconds": round(total_seconds, 3),
    }
    if args.json:
        print(json.dumps(out))
        return 0
    console = Console()
    table = Table(title=f"{args.suite} · {args.method}")
    for col in ("instance", "group", "makespan", "best known UB", "gap %"):
        table.add_column(col, justify="right" if col not in ("instance", "group") else "left")
    for r in rows:
        g = r["gap_percent"]
        table.add_row(
            r["instance"],
            r["group"],
            str(r["makespan"]),
            str(r["best_known_upper_bound"] or "-"),
            "-" if g is None else f"{g:.2f}",
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
    return 0


def cmd_train(args) -> int:
    from jaxshop_baselines.training import get_trainer

    return get_trainer(args.agent)(args.rest)


def cmd_bench(args) -> int:
    from jaxshop.bench import main as bench_main

    return bench_main(args.rest)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "solve": cmd_solve,
    "eval": cmd_eval,
    "train": cmd_train,
    "bench": cmd_bench,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxshop", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="solve one instance (builtin name or file)")
    p.add_argument("spec", help="ta001..ta120, ta01..ta80, mk01..mk10, ft06, la01.., or a file")
    _add_method_options(p)
    p.add_argument("--gantt", default=None, metavar="FILE.png", help="write a Gantt chart PNG")
    p.add_argument(
        "--format",
        default=None,
        help="file layout when SPEC is a file (default: sniffed; plain `n m` + pairs files "
        "read as job shops, use pfsp-std for a flow shop)",
    )
    p = sub.add_parser("eval", help="solve a benchmark suite and report gaps")
    p.add_argument(
        "--suite", required=True, help="taillard-pfsp, taillard-jssp, brandimarte, lawrence, ft"
    )
    p.add_argument("--limit", type=int, default=0, help="only the first N instances")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_method_options(p)
    p = sub.add_parser("train", help="train a learning agent (see `jaxshop train AGENT -h`)")
    p.add_argument("agent", help="pointer")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("bench", help="env throughput benchmark (see `jaxshop bench -h`)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


PASSTHROUGH = ("train", "bench")  # subcommands that parse their own options


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if len(argv) >= 1 and argv[0] in PASSTHROUGH:
        # argparse.REMAINDER refuses a leading option (`jaxshop bench --cases ...`), so
        # these subcommands receive their arguments untouched.
        rest = argv[2:] if argv[0] == "train" else argv[1:]
        agent = argv[1] if argv[0] == "train" and len(argv) > 1 else None
        args = argparse.Namespace(command=argv[0], rest=rest, agent=agent)
        if argv[0] == "train" and agent is None:
            parser.parse_args(argv)  # prints the usage error for a missing AGENT
    else:
        args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CLIError, ValueError, OSError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"jaxshop: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jaxshop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
