"""What the `jaxshop` command line prints for people (rich tables, summary lines) and the
data of `jaxshop list`; machines read the JSON objects instead."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jaxshop_baselines.cli_options import METHOD_FLAGS

import jaxshop
from jaxshop.options import EXIT_INTERRUPTED, one_line

EXIT_USAGE = 2
EXIT_INTERNAL = 1


def run_reporting_errors(argv: list[str], dispatch: Callable[[list[str]], int]) -> int:
    """Runs `dispatch(argv)` (without `--debug`) and turns every way it can fail into one
    line on stderr and an exit code: 2 for a user error, 130 for Ctrl-C, 1 for a bug
    (its traceback only with `--debug`)."""
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return dispatch(argv)
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


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Writes `payload` to `--out` (when given) as indented JSON."""
    if path is not None:
        path.write_text(json.dumps(payload, indent=2) + "\n")


def interrupted(done: int, total: int, where: str) -> int:
    """Says how much an interrupted eval finished (and wrote); exit code 130."""
    print(f"jaxshop: interrupted after {done} of {total} instances{where} "
          "(marked \"complete\": false)", file=sys.stderr)
    return EXIT_INTERRUPTED


def progress_bar(args, counter: str):
    """The rich progress bar of an eval on stderr (hidden with --no-progress/--quiet/--json)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(counter),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=Console(stderr=True),
                    disable=args.no_progress or args.quiet or args.json)


def print_solve(out: dict[str, Any], shape: tuple[int, ...], seconds: tuple[float, float],
                gantt: Path | None, path: Path | None) -> None:
    """`solve`: the makespan, its gap to the best-known bound, and where files went;
    `seconds`: solving and validating."""
    ub, known = out["best_known_upper_bound"], out["best_known_instance"]
    size = "x".join(str(s) for s in shape)
    print(
        f"{out['instance']} ({out['problem']}, shape {size}) by {out['method']}: makespan "
        f"{out['makespan']}"
        + (f", best known {ub} ({known}), gap {out['gap_percent']:.2f} %" if known is not None
           else "")
        + (f"; {out['status']}, proven lower bound {out['lower_bound']} (gap "
           f"{out['gap_to_lower_bound_percent']:.2f} %)" if out.get("lower_bound") is not None
           else "")
        + f"  [{seconds[0]:.2f} s incl. compile, validated in {seconds[1]:.2f} s]"
    )
    if out["permutation"] is not None:
        print("permutation:", " ".join(map(str, out["permutation"])))
    if gantt:
        print(f"Gantt chart written to {gantt}")
    if path:
        print(f"JSON written to {path}")


def print_suite(suite: str, spec: str, out: dict[str, Any], groups: dict[str, list[Any]],
                seconds: float, path: Path | None) -> None:
    """`eval --suite`: a row per instance, then the mean gap per group and overall."""
    from rich.console import Console
    from rich.table import Table

    rows = out["instances"]
    console = Console()
    table = Table(title=f"{suite} · {spec}")
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
    for g, v in out["group_mean_gap_percent"].items():
        summary.add_row(g, str(len(groups[g])), "-" if v is None else f"{v:.2f}")
    overall = out["mean_gap_percent"]
    summary.add_row(
        "all", str(len(rows)), "-" if overall is None else f"{overall:.2f}", style="bold"
    )
    console.print(summary)
    console.print(f"{len(rows)} instances in {seconds:.1f} s (compile included)")
    if path is not None:
        console.print(f"written: {path} and {path.with_suffix('.csv')}")


def print_fab(spec: str, out: dict[str, Any], path: Path | None) -> None:
    """`eval --suite fab`: the metrics' means and spreads over the seeds."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"fab · {spec} · {out['seeds']} seeds x {out['days']} days (warm-up "
                  f"{out['warmup_days']}) · {out['fab']}")
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
    if path is not None:
        console.print(f"written: {path}")


def print_generated(suite: Any, spec: str, out: dict[str, Any]) -> None:
    """`eval --random`: one summary line (mean makespan, speed, compile, memory)."""
    mean = out["mean_makespan"]
    memory = out["device_peak_bytes"] or out["host_peak_rss_bytes"]
    print(f"{suite.name} · {spec}: mean makespan {mean:.2f} over {out['solved']}/"
          f"{suite.count} solved instances; {out['seconds']:.1f} s "
          f"({out['instances_per_second']:.0f} instances/s) on {out['devices']} device(s), "
          f"compile {out['compile_seconds']:.1f} s, peak memory {memory / 2**20:.0f} MiB")
    if "bounds" in out:
        print(f"{out['bounds']}: mean gap to its proven lower bound "
              f"{out['mean_gap_to_cpsat_lower_bound_percent']:.2f} %, to its makespan "
              f"{out['mean_gap_to_cpsat_makespan_percent']:.2f} % ({out['cpsat_optimal']}/"
              f"{out['solved']} proven optimal)")


def listing() -> dict[str, list[dict[str, str]]]:
    """`jaxshop list`: instances, suites, methods, envs and formats."""
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
