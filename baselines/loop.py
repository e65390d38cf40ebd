"""The host side of a chunked training run, written once for any agent.

`run_chunked` drives a jitted `chunk(runner) -> (runner, metrics)` (metrics: `(k,)` arrays
of `k` updates) to `total` updates: a rich progress bar, a metrics CSV row per update,
orbax checkpoints of the whole runner every `checkpoint_every` updates (with an optional
validation figure), a stop with the last good checkpoint kept when the loss diverges, and
`--resume` that continues from the latest checkpoint and repeats the uninterrupted run
(the PRNG key is part of the runner; CSV rows after the checkpoint are recomputed). The
runner is any `flax.struct` dataclass with an `update` counter field.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def run_chunked(*, out: Path, runner: Any, chunk: Callable[..., tuple[Any, dict]],
                total: int, per_chunk: int, checkpoint_every: int,
                metric_names: tuple[str, ...], name: str, config: Any, seed: int,
                command: str | None, resume: bool, progress: bool,
                evaluate: Callable[[Any], float] | None = None, chunk_args: tuple = (),
                config_file: str = shared.CONFIG_FILE,
                summary: Callable[[dict], str] = lambda m: "") -> tuple[Any, RunRecord]:
    """Runs (or resumes) a chunked training run in `out`; see the module docstring.

    `chunk(runner, *chunk_args)` is a jitted function (lowered and compiled for `runner`
    first, and that time is reported apart); `evaluate(runner.params)` runs at each checkpoint;
    `summary(metrics)` is a short status line of the last chunk. Writes `config_file`
    (`config.to_json`),
    `run.json`, `metrics.csv` and `checkpoints/`.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    fields = ("update", "time_s", *metric_names, "validation")
    console = Console(stderr=True)
    csv_path = out / "metrics.csv"
    rows_before: list[dict[str, str]] = []
    resumed_with = None
    if resume:
        step = shared.latest_checkpoint(out)
        if step is None:
            raise ValueError(f"--resume: no checkpoint in {out / shared.CHECKPOINT_DIR}")
        check_resume_steps(out, step, total)
        runner = restore_runner(out, runner, step)
        rows_before = shared.read_rows(csv_path, step)
        shared.write_rows(csv_path, rows_before, "w", fields)
        console.print(f"resumed {out} at update {step}")
        if (out / RUN_FILE).is_file():
            first = json.loads((out / RUN_FILE).read_text())
            resumed_with, command, seed = command, first["command"], first["seed"]
    else:
        if (out / config_file).exists() or (out / shared.CHECKPOINT_DIR).exists():
            raise ValueError(f"{out} already holds a run; pass --resume or another --out")
        out.mkdir(parents=True, exist_ok=True)
        shared.write_rows(csv_path, [], "w", fields)
        (out / RUN_FILE).write_text(json.dumps({"seed": seed, "command": command}) + "\n")
    config.to_json(out / config_file)
    elapsed = float(rows_before[-1]["time_s"]) if rows_before else 0.0
    t0 = time.perf_counter()
    compiled = chunk.lower(runner, *chunk_args).compile()
    compile_s = time.perf_counter() - t0
    done = int(runner.update)
    validation = None
    columns = (TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
               TextColumn("{task.fields[stats]}"))
    with Progress(*columns, console=console, disable=not progress) as bar:
        task = bar.add_task(name, total=total, completed=done, stats="")
        while done < total:
            t1 = time.perf_counter()
            runner, metrics = compiled(runner, *chunk_args)
            metrics = parallel.host_value(metrics)
            dt = time.perf_counter() - t1
            check_training_finite(metrics, ("loss", "grad_norm"), done, out)
            elapsed += dt
            rows = [{"update": done + i + 1, "time_s": f"{elapsed:.3f}", "validation": "",
                     **{n: f"{float(metrics[n][i]):.6g}" for n in metric_names}}
                    for i in range(per_chunk)]
            done += per_chunk
            at_checkpoint = done % checkpoint_every == 0 or done >= total
            if at_checkpoint:
                if evaluate is not None:
                    validation = float(parallel.host_value(evaluate(runner.params)))
                    rows[-1]["validation"] = f"{validation:.6g}"
                save_runner(out, runner)
            shared.write_rows(csv_path, rows, "a", fields)
            stats = f"{per_chunk / dt:.2f} upd/s · {summary(metrics)}" + (
                f" · val {validation:.4f}" if at_checkpoint and validation is not None else "")
            bar.update(task, completed=done, stats=stats)
            if at_checkpoint:
                console.print(f"update {done}/{total} · {stats} · checkpoint saved")
    rows_all = shared.read_rows(csv_path, 2**62)
    vals = [float(r["validation"]) for r in rows_all if r["validation"]]
    return runner, RunRecord(
        seed=seed, command=command, resumed_with=resumed_with, updates=done,
        train_seconds=round(elapsed, 1), compile_seconds=round(compile_s, 1),
        updates_per_second=round(done / elapsed, 3) if elapsed > 0 else None,
        final_validation=vals[-1] if vals else None,
    )
