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
  PRNG key is part of the runner; CSV rows after the checkpoint are recomputed; seed and
  command come from the run's `run.json`);
- several processes (`jax.distributed`): every process runs the same loop and calls
  orbax (which writes the shared checkpoint once); only process 0 prints, draws the bar
  and writes `metrics.csv`, `run.json` and the config.

The runner is any pytree with a step counter (`runner.update` by default); `save`/`restore`
default to the runner's dataclass fields, and agents whose checkpoint layout differs pass
their own.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from jaxshop_baselines import checkpoints as shared
from jaxshop_baselines.checkpoints import check_resume_steps, check_training_finite

from jaxshop import parallel

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


def _prepare(out: Path, *, resume: bool, total: int, config_file: str, fields: tuple,
             seed: int, command: str | None, main: bool, restore: Callable,
             runner: Any) -> tuple[Any, list[dict], int, str | None, str | None]:
    """`(runner, rows_before, seed, command, resumed_with)` of a new or resumed run."""
    csv_path = out / "metrics.csv"
    if resume:
        step = shared.latest_checkpoint(out)
        if step is None:
            raise ValueError(f"--resume: no checkpoint in {out / shared.CHECKPOINT_DIR}")
        check_resume_steps(out, step, total)
        runner = restore(out, runner, step)
        rows_before = shared.read_rows(csv_path, step) if main else []
        if main:
            shared.write_rows(csv_path, rows_before, "w", fields)
        resumed_with = command
        if (out / RUN_FILE).is_file():
            first = json.loads((out / RUN_FILE).read_text())
            command, seed = first["command"], first["seed"]
        return runner, rows_before, seed, command, resumed_with
    if (out / config_file).exists() or (out / shared.CHECKPOINT_DIR).exists():
        raise ValueError(f"{out} already holds a run; pass --resume or another --out")
    parallel.sync("loop: run folder checked")  # nobody creates it before all checked
    if main:
        out.mkdir(parents=True, exist_ok=True)
        shared.write_rows(csv_path, [], "w", fields)
        (out / RUN_FILE).write_text(json.dumps({"seed": seed, "command": command}) + "\n")
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
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    main = parallel.is_main_process()
    counter_fields = (counter[0],) if counter else ()
    fields = ("update", "time_s", *counter_fields, *metric_names, validation_field)
    console = Console(stderr=True, quiet=not main)
    csv_path = out / "metrics.csv"
    runner, rows_before, seed, command, resumed_with = _prepare(
        out, resume=resume, total=total, config_file=config_file, fields=fields, seed=seed,
        command=command, main=main, restore=restore, runner=runner)
    done = step_of(runner)
    if resume:
        console.print(f"resumed {out} at update {done}")
    if main:
        config.to_json(out / config_file)
    elapsed = float(rows_before[-1]["time_s"]) if rows_before else 0.0
    counted = int(rows_before[-1][counter[0]]) if counter and rows_before else 0
    fn, compile_s = None, 0.0
    if done < total and compile_chunk is not None:
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
        while done < total:
            t1 = time.perf_counter()
            runner, metrics = fn(runner, *chunk_args)
            metrics = {k: np.atleast_1d(v) for k, v in parallel.host_value(metrics).items()}
            dt = time.perf_counter() - t1
            check_training_finite(metrics, finite_keys, done, out)
            elapsed += dt
            num_rows = len(metrics[metric_names[0]])
            per_row = per_chunk // num_rows
            rows = []
            for i in range(num_rows):
                row = {"update": done + (i + 1) * per_row, "time_s": f"{elapsed:.3f}"}
                if counter:
                    counted += per_row * counter[1]
                    row[counter[0]] = counted
                row.update({n: _cell(float(metrics[n][i])) for n in metric_names})
                row[validation_field] = ""
                rows.append(row)
            done += per_chunk
            at_checkpoint = done % checkpoint_every == 0 or done >= total
            if at_checkpoint:
                if evaluate is not None:
                    validation = float(parallel.host_value(evaluate(runner.params)))
                    rows[-1][validation_field] = f"{validation:.6g}"
                save(out, runner)
            if main:
                shared.write_rows(csv_path, rows, "a", fields)
                if on_rows is not None:
                    on_rows(rows)
            rate = f"{per_chunk / dt:.2f} upd/s" + (
                f" · {per_chunk * counter[1] / dt:.0f} {counter[0]}/s" if counter else "")
            stats = f"{rate} · {summary(metrics)}" + (
                f" · val {validation:.4f}" if at_checkpoint and validation is not None else "")
            bar.update(task, completed=done, stats=stats)
            if at_checkpoint:
                console.print(f"update {done}/{total} · {stats} · checkpoint saved")
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
