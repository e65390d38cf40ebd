"""The `jaxshop` command line's options: its parser, and the checks that turn options into
a method (`build_method`) before anything is compiled. `jaxshop_baselines.cli` dispatches.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import jaxshop
from jaxshop.options import (
    ArgumentParser,
    UsageError,
    count,
    existing_dir,
    float_in,
    int_in,
    output_file,
    positive_int,
    seed,
)

MAX_SAMPLES = 1024
TEMPERATURE_RANGE = (1e-3, 1e3)  # = jaxshop_baselines.pointer.inference.TEMPERATURE_RANGE
MAX_TIME_LIMIT = 7 * 24 * 3600.0  # seconds: a week bounds any budget a user means
GANTT_SUFFIXES = (".png", ".pdf", ".svg")
DESCRIPTION = "The `jaxshop` command line: solve, eval, train, bench, list."

#: CLI flag of every method option (what `--help` documents and errors name).
METHOD_FLAGS = {
    "seed": "--seed",
    "mode": "--mode",
    "sample": "--sample",
    "temperature": "--temperature",
    "iterations": "--iterations",
    "time_limit": "--time-limit",
    "workers": "--workers",
    "warm_start": "--warm-start",
}
#: Flags that apply to one kind of eval only (argparse dest -> flag), for one-line refusals.
FAB_ONLY = {"seeds": "--seeds", "days": "--days", "warmup_days": "--warmup-days",
            "fab_release": "--fab-release", "fab_weekly": "--fab-weekly",
            "fab_setups": "--fab-setups", "fab_maintenance": "--fab-maintenance",
            "fab_breakdowns": "--fab-breakdowns", "fab_params": "--fab-params"}
GENERATED_ONLY = {"chunk": "--chunk", "mesh": "--mesh"}
NOT_FOR_GENERATED = {"groups": "--groups", "limit": "--limit", "data_dir": "--data-dir",
                     "format": "--format", **FAB_ONLY}
NOT_FOR_FAB = {"groups": "--groups", "limit": "--limit", "mode": "--mode", "bounds": "--bounds",
               "sample": "--sample", "temperature": "--temperature",
               "iterations": "--iterations", "workers": "--workers",
               "warm_start": "--warm-start", "time_limit": "--time-limit",
               "data_dir": "--data-dir", "format": "--format"}


class CLIError(UsageError):
    """A user-facing error: printed as one line, exit code 2."""


def given(args: argparse.Namespace, flags: dict[str, str]) -> list[str]:
    """The flags of `flags` that were given on the command line."""
    return [flag for name, flag in flags.items() if getattr(args, name) is not None]


# ------------------------------------------------------------------------ methods


def method_spec(text: str) -> str:
    """`type=` of --method: a non-empty spec (an empty one would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; see `jaxshop list methods`")
    return text.strip()


def bounds_spec(text: str) -> tuple[str, float]:
    """`type=` of --bounds: `cpsat:SECONDS`, SECONDS in (0, a week]."""
    name, _, seconds = text.partition(":")
    try:
        value = float(seconds)
    except ValueError:
        value = -1.0
    if name != "cpsat" or not 0.0 < value <= MAX_TIME_LIMIT:
        raise argparse.ArgumentTypeError(f"expected cpsat:SECONDS (e.g. cpsat:10), got "
                                         f"{text!r}")
    return name, value


def spec_for(args: argparse.Namespace, problem: str) -> str:
    """--method, else the default method of `problem`."""
    from jaxshop_baselines.methods import default_method

    return args.method or default_method(problem)


def method_options(args: argparse.Namespace) -> dict[str, Any]:
    """The method options given on the command line (defaults are the method's own)."""
    return {
        name: getattr(args, name) for name in METHOD_FLAGS if getattr(args, name) is not None
    }


def bounds_options(args: argparse.Namespace, spec: str, options: dict[str, Any]
                   ) -> dict[str, Any]:
    """With `--bounds`, `--workers` sizes CP-SAT's bound searches: a method that does not
    take it is built without it (cpsat itself uses it for both)."""
    from jaxshop_baselines.methods import method_info

    info = method_info(spec)
    if getattr(args, "bounds", None) is None or info.options is None or \
            "workers" in info.options:
        return options
    return {k: v for k, v in options.items() if k != "workers"}


def build_method(spec: str, options: dict[str, Any], problems: set[str], where: str):
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


def check_size(instances, spec: str, options: dict[str, Any]) -> None:
    """Refuses, before any compile, work that would not finish in reasonable time
    (`jaxshop_baselines.limits.check_workload`)."""
    from jaxshop_baselines.limits import check_workload

    check_workload(instances, spec, options)


def run_options(args: argparse.Namespace, spec: str, method) -> dict[str, Any]:
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
        "workers": args.workers,
        "warm_start": args.warm_start,
    }


def status(args: argparse.Namespace, message: str):
    """A spinner on stderr while a long call runs (none with --json / --quiet)."""
    if args.json or args.quiet:
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def load_instance(args: argparse.Namespace) -> tuple[str, Any]:
    """`solve SPEC`: `(name, instance)` of a built-in name or an instance file."""
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
    return (spec.strip().lower() if builtin else path.stem), instance


def parse_groups(text: str) -> list[str]:
    """--groups: size groups like `20x5,50x20`."""
    groups = [g.strip().lower() for g in text.split(",") if g.strip()]
    if not groups or not all(_is_group(g) for g in groups):
        raise CLIError(f"--groups expects sizes like 20x5,50x20, got {text!r}")
    return groups


def _is_group(text: str) -> bool:
    jobs, x, machines = text.partition("x")
    return bool(x) and jobs.isdigit() and machines.isdigit()


def _mesh_size(text: str) -> int | None:
    from jaxshop_baselines.parallel import mesh_size

    return mesh_size(text)


# ------------------------------------------------------------------------ parser


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="jaxshop", description=DESCRIPTION)
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
    p.add_argument("--bounds", type=bounds_spec, default=None, metavar="cpsat:SECONDS",
                   help="--suite: attach CP-SAT's proven lower bound (and its schedule's "
                   "makespan) to every instance, SECONDS per instance, cached on disk by "
                   "instance content; gaps to it in every row")
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
        help="ig, kernel-q: wall-time budget in seconds for the whole batch (instead of "
        "--iterations); cpsat: seconds per instance (default 10)",
    )
    p.add_argument("--workers", type=int_in(1, 1024), default=None,
                   help="cpsat: CP-SAT search workers in all (default: the CPU count)")
    p.add_argument("--warm-start", type=method_spec, default=None, metavar="METHOD",
                   help="cpsat: start from this method's schedule (neh, rule:..., pointer)")
    p.add_argument(
        "--data-dir", type=existing_dir, default=None,
        help="benchmark data folder (default $JAXSHOP_DATA, else the data shipped with jaxshop)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object for machines")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _add_format_option(p: ArgumentParser, where: str) -> None:
    from jaxshop.instances.formats import FORMATS

    p.add_argument(
        "--format", choices=tuple(FORMATS), default=None,
        help=f"file layout {where} (default: sniffed; a file that two layouts read as "
        "different problems is refused; plain `n m` + pairs files read as job shops, use "
        "pfsp-std for a flow shop)",
    )


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


PASSTHROUGH = ("train", "distill", "bench")  # subcommands that parse their own options


def parse(argv: list[str]) -> argparse.Namespace:
    """The parsed command line; `train`, `distill` and `bench` keep their own options in
    `rest` (they parse them)."""
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
