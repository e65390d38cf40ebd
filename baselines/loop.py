"""The host side of a chunked training run, written once for every agent.

`run_chunked` drives a jitted `chunk(runner, *args) -> (runner, metrics)` to `total`
steps (updates or iterations) and owns everything around it:

- a rich progress bar and a status line per checkpoint;
- `metrics.csv`: one row per metric entry (`metrics` values are `(k,)` arrays, `k` rows
  per chunk, e.g. one per update, or scalars, one row per chunk), plus an optional
  running counter column (schedules, transitions) and the validation column;
- orbax checkpoints of the whole runner every `checkpoint_every` steps, with an optional
  validation figure; a stop with the last good checkpoint kept when the loss diverges;
- `--resume`: continues from the latest checkpoint and repeats the uninterrupted run (the
  PRNG key is part of the runner; CSV rows after the checkpoint are dropped and recomputed;
  seed and command come from the run's `run.json`). The run's config and seed cannot
  change on resume: `check_resume_options` refuses any difference, naming each option with
  its saved and given value (one rule for every trainer). A run folder without a
  checkpoint yet (stopped before its first one) starts from update 0, with or without
  `--resume`;
- Ctrl-C (SIGINT): the chunk in flight finishes, its rows are written and the runner is
  saved as a checkpoint, then `TrainingInterrupted` is raised (the trainers print "interrupted
  at update N; resume with: ..." and exit 130); `--resume` then continues exactly. Rows go
  to `metrics.csv` before each checkpoint is written, so the file always reaches at least
  the latest checkpoint (a resume truncates it there);
- several processes (`jax.distributed`): every process runs the same loop and calls
  orbax (which writes the shared checkpoint once); only process 0 prints, draws the bar
  and writes `metrics.csv`, `run.json` and the config.

The runner is any pytree with a step counter (`runner.update` by default); `save`/`restore`
default to the runner's dataclass fields, and agents whose checkpoint layout differs pass
their own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from jaxshop_baselines import checkpoints as shared
from jaxshop_baselines import parallel
from jaxshop_baselines.checkpoints import check_resume_steps, check_training_finite

RUN_FILE = "run.json"  # seed and command of the first invocation


def _tree(runner: Any) -> dict:
    return {f.name: getattr(runner, f.name) for f in dataclasses.fields(runner)}


def save_runner(run_dir: Path, runner: Any) -> int:
    return shared.save_checkpoint(run_dir, _tree(runner), int(runner.update))


def restore_runner(run_dir: Path, template: Any, step: int | None = None) -> Any:
    return template.replace(**shared.restore_checkpoint(run_dir, _tree(template), step))


@dataclasses.dataclass
class RunRecord:
    """What a finished `run_chunked` reports for the run's `meta.json`."""

    seed: int
    command: str | None
    resumed_with: str | None
    updates: int
    train_seconds: float
    compile_seconds: float
    updates_per_second: float | None
    final_validation: float | None
    counted: int | None = None  # the counter column's final value (schedules, transitions)
    counted_per_second: float | None = None


def _cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


# --------------------------------------------------------------------------- interrupts


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run at `step`: everything up to it is saved (a checkpoint at
    `step`; none when `step` is 0), so `--resume` continues it exactly."""

    def __init__(self, out: str | Path, step: int, unit: str = "update") -> None:
        super().__init__(f"interrupted at {unit} {int(step)}")
        self.out, self.step, self.unit = Path(out), int(step), unit


class StopRequest:
    """While active, Ctrl-C (SIGINT) only asks the run to stop: the work in flight (a
    jitted chunk, a checkpoint being written) finishes and the loop asks `check()` at its
    next chunk boundary. Only the main thread can take signals; elsewhere, or when SIGINT
    is ignored (a background job), nothing changes."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __enter__(self) -> StopRequest:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            previous = self._previous
            signal.signal(signal.SIGINT,
                          signal.default_int_handler if previous is None else previous)
            self._installed = False

    def check(self) -> bool:
        """Whether to stop now. Several processes agree (each calls this at the same
        points): all stop as soon as any of them got Ctrl-C."""
        import jax

        if jax.process_count() == 1:
            return self.requested
        from jax.experimental import multihost_utils

        return bool(np.any(multihost_utils.process_allgather(np.int32(self.requested))))


# ----------------------------------------------------------------------- --resume rules


def given_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The `dest` of every option `argv` gives (rather than leaving it at its default)."""
    unset = object()
    namespace = argparse.Namespace(**{
        a.dest: unset for a in parser._actions if a.dest != argparse.SUPPRESS})
    parser.parse_args(argv, namespace)
    return {name for name, value in vars(namespace).items() if value is not unset}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples as lists, as the saved JSON holds them


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, (tuple, list)) for v in value):
            return ",".join("x".join(map(str, v)) for v in value)  # sizes: 10x5,15x10
        return ",".join(map(str, value)) if value else "none"
    return "none" if value is None else str(value)


def check_resume_options(source: str | Path, saved: Any, given: Any,
                         flags: Mapping[str, str] | None = None, *,
                         saved_seed: int | None = None, given_seed: int | None = None) -> None:
    """The one `--resume` rule of every trainer: a run continues with exactly the config
    it was started with (saved in `source`) and its seed, so the resumed run is the
    uninterrupted one. Any difference is refused, a larger budget too (PPO's learning
    rate and DDQN's epsilon follow the run's length): a one-line ValueError naming each
    differing option (`flags`: config field -> flag; the field's name otherwise) with
    its saved and given values. Options outside the config and seed may differ: the
    progress bar, and the devices (`--mesh`, the multi-host flags), which split the same
    computation."""
    flags = flags or {}
    old, new = saved.to_dict(), given.to_dict()
    diffs = [(flags.get(k, k), old.get(k), new.get(k)) for k in {**old, **new}
             if _plain(old.get(k)) != _plain(new.get(k))]
    if saved_seed is not None and given_seed is not None and int(saved_seed) != int(given_seed):
        diffs.append(("--seed", saved_seed, given_seed))
    if diffs:
        listed = ", ".join(f"{name} (saved {_shown(a)}, given {_shown(b)})"
                           for name, a, b in diffs)
        raise ValueError(f"--resume keeps the run's config ({source}), but these options "
                         f"differ from it: {listed}; resume without them, or start a new "
                         "run with another --out")


def run_record(out: str | Path) -> dict[str, Any]:
    """The run's `run.json` (seed and command of its first invocation); {} when absent."""
    path = Path(out) / RUN_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path}: damaged (not JSON); it holds the run's seed") from None
    return data if isinstance(data, dict) else {}


def resume_config(args: argparse.Namespace, argv: list[str] | None,
                  parser: argparse.ArgumentParser, build: Callable[[Any], Any], cls: type,
                  flags: Mapping[str, str], config_file: str = shared.CONFIG_FILE
                  ) -> tuple[Any, int]:
    """`(config, seed)` of a trainer's command line; `build(base)` applies the options
    given on top of `base` (None: the trainer's defaults). With `--resume`, `base` is the
    run's saved config and the seed its own, and any option that differs from them is
    refused (`check_resume_options`)."""
    from jaxshop.options import UsageError

    if not args.resume:
        return build(None), args.seed
    if args.out is None:
        raise UsageError("--resume needs --out DIR of the run to continue")
    path = Path(args.out) / config_file
    if not path.is_file():
        raise UsageError(f"--resume: {args.out} holds no run to continue (no {config_file}); "
                         "start it without --resume")
    saved = shared.read_config(cls, path)
    config = build(saved)
    saved_seed = run_record(args.out).get("seed")
    given_seed = args.seed if "seed" in given_options(parser, argv) else None
    check_resume_options(path, saved, config, flags, saved_seed=saved_seed,
                         given_seed=given_seed)
    return config, (args.seed if saved_seed is None else int(saved_seed))


# ------------------------------------------------------------------------- the host loop


def _start_files(out: Path, csv_path: Path, fields: tuple, seed: int, command: str | None,
                 record: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shared.write_rows(csv_path, [], "w", fields)
    if record:
        (out / RUN_FILE).write_text(json.dumps({"seed": seed, "command": command}) + "\n")


def _rows_upto(csv_path: Path, step: int) -> list[dict]:
    """The CSV rows up to `step`, each update once (the first row written for it)."""
    rows: dict[int, dict] = {}
    for row in shared.read_rows(csv_path, step):
        rows.setdefault(int(row["update"]), row)
    return [rows[k] for k in sorted(rows)]


def _prepare(out: Path, *, resume: bool, total: int, config_file: str, fields: tuple,
             seed: int, command: str | None, main: bool, restore: Callable,
             runner: Any, config: Any) -> tuple[Any, list[dict], int, str | None, str | None]:
    """`(runner, rows_before, seed, command, resumed_with)` of a new or resumed run."""
    csv_path = out / "metrics.csv"
    step = shared.latest_checkpoint(out)
    if resume:
        path = out / config_file
        if not path.is_file():
            raise ValueError(f"--resume: {out} holds no run to continue (no {config_file}); "
                             "start it without --resume")
        first = run_record(out)
        check_resume_options(path, shared.read_config(type(config), path), config,
                             saved_seed=first.get("seed"), given_seed=seed)
        resumed_with = command
        command, seed = first.get("command", command), first.get("seed", seed)
        if step is None:
            note(f"--resume: {out} has no checkpoint yet (stopped before its first one); "
                 "starting it from update 0")
            parallel.sync("loop: run folder checked")
            if main:
                _start_files(out, csv_path, fields, seed, command, record=not first)
            return runner, [], seed, command, resumed_with
        check_resume_steps(out, step, total)
        runner = restore(out, runner, step)
        rows_before = _rows_upto(csv_path, step) if main else []
        if main:
            shared.write_rows(csv_path, rows_before, "w", fields)
        return runner, rows_before, seed, command, resumed_with
    if step is not None or (out / shared.PARAMS_FILE).exists():
        held = (f"a checkpoint at update {step}" if step is not None
                else f"a trained model, {shared.PARAMS_FILE}")
        raise ValueError(f"{out} already holds a run ({held}); continue it with --resume, "
                         "or pass another --out")
    if (out / config_file).exists():
        note(f"{out} holds a run stopped before its first checkpoint: starting it over")
    parallel.sync("loop: run folder checked")  # nobody creates it before all checked
    if main:
        _start_files(out, csv_path, fields, seed, command, record=True)
    return runner, [], seed, command, None


def run_chunked(*, out: Path, runner: Any, chunk: Callable[..., tuple[Any, dict]],
                total: int, per_chunk: int, checkpoint_every: int,
                metric_names: tuple[str, ...], name: str, config: Any, seed: int,
                command: str | None, resume: bool, progress: bool,
                evaluate: Callable[[Any], float] | None = None, chunk_args: tuple = (),
                config_file: str = shared.CONFIG_FILE,
                summary: Callable[[dict], str] = lambda m: "",
                counter: tuple[str, int] | None = None,
                validation_field: str = "validation",
                finite_keys: tuple[str, ...] = ("loss", "grad_norm"),
                step_of: Callable[[Any], int] = lambda r: int(r.update),
                save: Callable[[Path, Any], int] = save_runner,
                restore: Callable[[Path, Any, int], Any] = restore_runner,
                describe: Callable[[Any, float], str] | None = None,
                on_rows: Callable[[list[dict]], None] | None = None,
                compile_chunk: Callable[[Any], tuple[Any, float]] | None = None,
                unit: str = "update",
                chunk_args_of: Callable[[Any], tuple] | None = None,
                finished: Callable[[Any], bool] | None = None,
                time_budget: float | None = None,
                ) -> tuple[Any, RunRecord]:
    """Runs (or resumes) a chunked training run in `out`; see the module docstring.

    `chunk(runner, *chunk_args)` is a jitted function, lowered and compiled for `runner`
    first (that time is reported apart; `compile_chunk(runner) -> (compiled, seconds)`
    replaces that step, e.g. with a cached compile); `evaluate(runner.params)` runs at each
    checkpoint into `validation_field`;
    `summary(metrics)` is a short status line of the last chunk; `counter=(column, per_step)`
    adds a running count (e.g. schedules: batch per update); `describe(runner, compile_s)`
    is printed once after compiling; `on_rows(rows)` sees each chunk's CSV rows (process 0).
    Writes `config_file` (`config.to_json`), `run.json`, `metrics.csv` and `checkpoints/`.
    Ctrl-C stops the run at the end of the chunk in flight, saved: `TrainingInterrupted`
    (a `KeyboardInterrupt`) names the `unit` and step reached. `chunk_args_of(runner)`
    gives the chunk's arguments once the runner is restored; `finished(runner)` ends the
    run before `total` (its step is then `step_of(runner)`, a checkpoint is written, and
    rows past it are dropped); the last chunk may end at `total` inside the chunk.
    `time_budget` (seconds of training, compile excluded, resumed runs included) ends the
    run likewise after the chunk that reaches it.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    main = parallel.is_main_process()
    counter_fields = (counter[0],) if counter else ()
    fields = ("update", "time_s", *counter_fields, *metric_names, validation_field)
    console = Console(stderr=True, quiet=not main)
    csv_path = out / "metrics.csv"
    with StopRequest() as stop:
        runner, rows_before, seed, command, resumed_with = _prepare(
            out, resume=resume, total=total, config_file=config_file, fields=fields,
            seed=seed, command=command, main=main, restore=restore, runner=runner,
            config=config)
        done = step_of(runner)
        saved = done if resume and done > 0 else None  # the step on disk equal to `runner`
        if resume:
            console.print(f"resumed {out} at {unit} {done}")
        if main:
            config.to_json(out / config_file)
        elapsed = float(rows_before[-1]["time_s"]) if rows_before else 0.0
        counted = done * counter[1] if counter else 0
        def over_budget(seconds: float) -> bool:
            return time_budget is not None and seconds >= time_budget

        ended = done > 0 and ((finished is not None and finished(runner)) or
                              over_budget(elapsed))
        if chunk_args_of is not None and done < total and not ended:
            chunk_args = chunk_args_of(runner)
        fn, compile_s = None, 0.0
        if ended:
            pass
        elif done < total and compile_chunk is not None:
            fn, compile_s = compile_chunk(runner)
        elif done < total:
            t0 = time.perf_counter()
            fn = chunk.lower(runner, *chunk_args).compile()
            compile_s = time.perf_counter() - t0
        if describe is not None:
            console.print(describe(runner, compile_s))
        validation = None
        columns = (TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                   TextColumn("{task.fields[stats]}"))
        with Progress(*columns, console=console, disable=not (progress and main)) as bar:
            task = bar.add_task(name, total=total, completed=done, stats="")
            while done < total and not ended and not stop.check():
                t1 = time.perf_counter()
                runner, metrics = fn(runner, *chunk_args)
                metrics = {k: np.atleast_1d(v)
                           for k, v in parallel.host_value(metrics).items()}
                dt = time.perf_counter() - t1
                per_row = per_chunk // len(metrics[metric_names[0]])
                reached = min(done + per_chunk, total)
                ended = (finished is not None and finished(runner)) or over_budget(elapsed + dt)
                if ended:
                    reached = step_of(runner)
                metrics = {k: v[:max(0, reached - done) // per_row] for k, v in metrics.items()}
                check_training_finite(metrics, finite_keys, done, out)
                elapsed += dt
                rows = []
                for i in range(len(metrics[metric_names[0]])):
                    row = {"update": done + (i + 1) * per_row, "time_s": f"{elapsed:.3f}"}
                    if counter:
                        counted += per_row * counter[1]
                        row[counter[0]] = counted
                    row.update({n: _cell(float(metrics[n][i])) for n in metric_names})
                    row[validation_field] = ""
                    rows.append(row)
                done = reached
                at_checkpoint = done % checkpoint_every == 0 or done >= total or ended
                if at_checkpoint and evaluate is not None:
                    validation = float(parallel.host_value(evaluate(runner.params)))
                    rows[-1][validation_field] = f"{validation:.6g}"
                if main:  # the rows first: the CSV always reaches the latest checkpoint
                    shared.write_rows(csv_path, rows, "a", fields)
                    if on_rows is not None:
                        on_rows(rows)
                if at_checkpoint:
                    saved = save(out, runner)
                rate = f"{per_chunk / dt:.2f} upd/s" + (
                    f" · {per_chunk * counter[1] / dt:.0f} {counter[0]}/s" if counter else "")
                stats = f"{rate} · {summary(metrics)}" + (
                    f" · val {validation:.4f}" if at_checkpoint and validation is not None
                    else "")
                bar.update(task, completed=done, stats=stats)
                if at_checkpoint:
                    console.print(f"{unit} {done}/{total} · {stats} · checkpoint saved")
        if done < total and not ended:  # Ctrl-C: keep the chunks done (rows as they were)
            if done > 0 and saved != done:
                save(out, runner)
            raise TrainingInterrupted(out, done, unit)
    vals = []
    if main:
        rows_all = shared.read_rows(csv_path, 2**62)
        vals = [float(r[validation_field]) for r in rows_all if r[validation_field]]
    return runner, RunRecord(
        seed=seed, command=command, resumed_with=resumed_with, updates=done,
        train_seconds=round(elapsed, 1), compile_seconds=round(compile_s, 1),
        updates_per_second=round(done / elapsed, 3) if elapsed > 0 else None,
        final_validation=vals[-1] if vals else None,
        counted=counted if counter else None,
        counted_per_second=round(counted / elapsed, 1) if counter and elapsed > 0 else None,
    )


def note(text: str) -> None:
    """Prints a status line on stderr, from process 0 only."""
    if parallel.is_main_process():
        from rich.console import Console

        Console(stderr=True).print(text)
