"""The one training runner: every agent is a config, its pieces and a `TrainSpec`.

An agent declares

- a frozen config dataclass whose command-line fields carry their option (`option(...)`:
  flag, `jaxshop.options` validator, help), so `build_parser` / `config_from_args` are
  generated, not written per agent;
- `init(config, key)`: its initial runner state, and `plan(config) -> TrainPlan`: its
  jitted chunk (built from its networks, losses and `make_train` pieces), the metric
  names and the status lines.

`train(spec, config, out, ...)` then owns the rest for every agent: the mesh (multi-host
included), `loop.run_chunked` (chunks, progress bar, metrics CSV, orbax checkpoints, the
resume rule, the divergence stop, Ctrl-C), the model folder, and the one learning-curve
plot; `main(spec, argv)` is `jaxshop train NAME ...` (`training.TRAINERS`). Flags,
defaults, help, validation errors and the config JSON of every agent are its config's.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
from jaxshop_baselines import checkpoints as shared
from jaxshop_baselines import parallel

from jaxshop.options import ArgumentParser, UsageError, float_in, int_in, positive_int

# ------------------------------------------------------------------------ config options


def option(default: Any, flag: str, help: str, *, type: Callable[[str], Any] | None = None,
           choices: tuple | Callable[[], tuple] | None = None, aliases: tuple[str, ...] = (),
           metavar: str | None = None, shown: str | None = None) -> Any:
    """A config field that is also a command-line option `flag` (and `aliases`), parsed
    by `type` (a `jaxshop.options` validator) or limited to `choices` (a callable: read
    when the parser is built, e.g. from a registry). `help` gets
    " (default X)" appended, or says where with `{default}`; `shown` overrides X (""
    appends nothing: the help names the default itself)."""
    meta = {"flag": flag, "help": help, "type": type, "choices": choices,
            "aliases": aliases, "metavar": metavar, "shown": shown}
    return dataclasses.field(default=default, metadata=meta)


# The fields every trainer has, declared once: the same flag, validator and help wording.


def steps_option(default: int, help: str = "updates, a multiple of --chunk") -> Any:
    """`--steps`: how many updates (or iterations) the whole run makes."""
    return option(default, "--steps", help, type=positive_int)


def lr_option(default: float, help: str = "Adam learning rate") -> Any:
    """`--lr`: the Adam learning rate, in (0, 1]."""
    return option(default, "--lr", help, type=float_in(0.0, 1.0, low_open=True))


def chunk_option(default: int, help: str = "updates per jitted call", high: int = 10_000
                 ) -> Any:
    """`--chunk`: updates (or iterations) fused into one jitted call, 1..`high`."""
    return option(default, "--chunk", help, type=int_in(1, high))


def checkpoint_option(default: int, help: str = "updates between checkpoints") -> Any:
    """`--checkpoint-every`: updates (or iterations) between checkpoints."""
    return option(default, "--checkpoint-every", help, type=positive_int)


def config_options(cls: type) -> list[dataclasses.Field]:
    """The fields of `cls` that are command-line options, in declaration order."""
    return [f for f in dataclasses.fields(cls) if "flag" in f.metadata]


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def add_config_options(parser: argparse.ArgumentParser, cls: type, defaults: Any = None
                       ) -> None:
    """One option per `option` field of `cls` (dest: the field's name, default None, so
    `config_from_args` sees which were given); help shows `defaults`' values (default:
    the config's own); a bool field is a `--flag/--no-flag` pair."""
    defaults = cls() if defaults is None else defaults
    for f in config_options(cls):
        m = f.metadata
        choices = m["choices"]() if callable(m["choices"]) else m["choices"]
        value = getattr(defaults, f.name)
        shown = m["shown"] if m["shown"] is not None else _shown(value)
        if isinstance(value, bool):
            parser.add_argument(m["flag"], dest=f.name, default=None, help=m["help"],
                                action=argparse.BooleanOptionalAction)
            continue
        text = (m["help"].format(default=shown) if "{default}" in m["help"]
                else m["help"] if shown == "" else f"{m['help']} (default {shown})")
        metavar = m["metavar"] or (None if m["choices"] else
                                   m["flag"].lstrip("-").replace("-", "_").upper())
        extra = {"metavar": metavar} if metavar else {}
        parser.add_argument(m["flag"], *m["aliases"], dest=f.name, type=m["type"],
                            choices=choices, default=None, help=text, **extra)


def flag_table(cls: type) -> dict[str, str]:
    """`{config field: "--flag"}` of the config's options (resume messages name flags)."""
    return {f.name: f.metadata["flag"] for f in config_options(cls)}


# ----------------------------------------------------------------------------- the spec


class Curve(NamedTuple):
    """One line of a learning-curve panel: a CSV column (times `sign`); `points` draws
    only the rows that hold a value (a validation column), with markers."""

    column: str
    label: str
    color: str | None = None
    sign: float = 1.0
    points: bool = False
    smooth: bool = False  # add a moving mean over 1/50 of the run


class Panel(NamedTuple):
    ylabel: str | None
    curves: tuple[Curve, ...]
    log: bool = False


@dataclasses.dataclass(frozen=True)
class TrainPlan:
    """What an agent hands the runner for one run: the jitted chunk and how to read and
    describe it (see `loop.run_chunked`)."""

    chunk: Callable[..., tuple[Any, dict]]
    metric_names: tuple[str, ...]
    name: str
    evaluate: Callable[[Any], Any] | None = None
    counter: tuple[str, int] | None = None
    validation_field: str = "validation"
    finite_keys: tuple[str, ...] = ("loss", "grad_norm")
    compile_chunk: Callable[[Any], tuple[Any, float]] | None = None
    describe: Callable[[Any, float], str] | None = None
    summary: Callable[[dict], str] = lambda m: ""
    chunk_args: tuple = ()
    meta: dict = dataclasses.field(default_factory=dict)  # first keys of meta.json
    #: `(record, runner, mesh) -> meta.json` in place of the runner's usual one
    meta_fn: Callable[[Any, Any, Any], dict] | None = None
    #: `runner -> bool`: the run is done before `total` steps (a converged fit)
    finished: Callable[[Any], bool] | None = None
    #: `runner -> chunk_args` in place of `chunk_args` (data drawn from the run's key)
    chunk_args_of: Callable[[Any], tuple] | None = None
    #: seconds of training (compile excluded) after which the run ends at that chunk
    time_budget: float | None = None


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """An agent as the runner sees it.

    - `config_cls`: its config (fields made options with `option`); `prog`,
      `description` and `default_out` (`(config, seed) -> folder`, `out_help` in --help);
    - `init(config, key)`: the initial runner state (a pytree with `params`), `place`
      puts it onto the mesh in context, `plan(config) -> TrainPlan` the rest of a run,
      `batch(config) -> (size, what)` what the data axis must divide;
    - `total`, `chunk`, `checkpoint_every`: the config fields of the run's length, chunk
      and checkpoint period in steps called `unit`; `step_of(runner)` reads the step;
    - `meta_names`: the `meta.json` keys of the step count, the counter and the final
      validation; `plot`, `xlabel` and `title(config, seed)`: the learning curve;
    - `extra_options(parser)` and `adjust(args, values) -> values`: options outside the
      config and checks across fields; `wrap_errors`: config errors are `UsageError`s
      starting with this prefix;
      `resume_flags(args)`: fields that resume messages name by another given option;
      `check(config)`: refusals (`UsageError`) of a built config;
    - `layout`: the checkpoint layout (a key of `LAYOUTS`); `rate_in_meta`: meta.json
      has the counter per second; `tensorboard`: rows go to TensorBoard as well (when
      `tensorboardX` is installed);
    - `defaults()`: the command line's config defaults (default: the config's own);
      `whole_chunks`: the run length must be a multiple of the chunk (else the last
      chunk is cut short by the agent's chunk itself);
    - `config_file`: the run's config in the run folder; `save_model(out, config, params,
      meta)` writes the model; `before_run(config)` refuses a run before any compile
      (`main`); `announce(out)`: how `main` says where the result is (default: a status
      line from `train`).
    """

    name: str
    config_cls: type
    prog: str
    description: str
    init: Callable[[Any, Any], Any]
    plan: Callable[[Any], TrainPlan]
    place: Callable[[Any], Any]
    batch: Callable[[Any], tuple[int, str]]
    default_out: Callable[[Any, int], str]
    out_help: str
    step_of: Callable[[Any], int]
    meta_names: tuple[str, str, str]
    plot: tuple[Panel, ...]
    xlabel: str
    title: Callable[[Any, int], str]
    total: str = "num_updates"
    chunk: str = "updates_per_chunk"
    checkpoint_every: str = "checkpoint_every"
    unit: str = "update"
    extra_options: Callable[[argparse.ArgumentParser], None] | None = None
    adjust: Callable[[argparse.Namespace, dict], dict] | None = None
    wrap_errors: str | None = None
    resume_flags: Callable[[argparse.Namespace], dict[str, str]] | None = None
    check: Callable[[Any], None] | None = None
    layout: str = "leaves"
    rate_in_meta: bool = False
    tensorboard: bool = False
    config_file: str = shared.CONFIG_FILE
    save_model: Callable[[Path, Any, Any, dict], None] = shared.save_model
    before_run: Callable[[Any], None] | None = None
    announce: Callable[[Path], None] | None = None
    defaults: Callable[[], Any] | None = None
    whole_chunks: bool = True


# -------------------------------------------------------------------------- the command


def build_parser(spec: TrainSpec) -> ArgumentParser:
    """`jaxshop train NAME`'s parser: the config's options, the agent's extra ones and
    the run options every trainer shares."""
    from jaxshop_baselines.training import add_run_options

    p = ArgumentParser(prog=spec.prog, description=spec.description)
    add_config_options(p, spec.config_cls, spec.defaults() if spec.defaults else None)
    if spec.extra_options is not None:
        spec.extra_options(p)
    add_run_options(p, spec.out_help)
    return p


def chunk_rule(spec: TrainSpec, args: argparse.Namespace, values: dict) -> dict:
    """The run length and checkpoint period in whole chunks: a default checkpoint period
    is rounded to whole chunks; a run length or a given period that is not is refused."""
    flags = flag_table(spec.config_cls)
    chunk = values[spec.chunk]
    every = spec.checkpoint_every
    if getattr(args, every) is None and values[every] % chunk:
        values[every] = chunk * max(1, round(values[every] / chunk))
    if spec.whole_chunks and values[spec.total] % chunk:
        raise UsageError(f"{flags[spec.total]} {values[spec.total]} is not a multiple of "
                         f"{flags[spec.chunk]} {chunk} ({spec.unit}s run in jitted chunks "
                         "of that many)")
    if values[every] % chunk:
        raise UsageError(f"{flags[every]} {values[every]} is not a multiple of "
                         f"{flags[spec.chunk]} {chunk}")
    return values


def config_from_args(spec: TrainSpec, args: argparse.Namespace, base: Any = None) -> Any:
    """The config of a command line: the options given on top of `base` (default: the
    config's defaults), the agent's `adjust`, then `chunk_rule`; a one-line
    `UsageError` when inconsistent."""
    cls = spec.config_cls
    values = (base or (spec.defaults or cls)()).to_dict()
    for f in config_options(cls):
        if getattr(args, f.name) is not None:
            values[f.name] = getattr(args, f.name)
    if spec.adjust is not None:
        values = spec.adjust(args, values)
    values = chunk_rule(spec, args, values)
    try:
        config = cls.from_dict(values)
    except ValueError as err:
        if spec.wrap_errors is None:
            raise
        raise UsageError(f"{spec.wrap_errors}{err}") from None
    if spec.check is not None:
        spec.check(config)
    return config


def main(spec: TrainSpec, argv: list[str] | None = None) -> int:
    """`jaxshop train NAME ...`: parses, applies the one `--resume` rule, trains;
    returns the exit code."""
    from jaxshop_baselines.loop import resume_config

    parser = build_parser(spec)
    args = parser.parse_args(argv)
    mesh = parallel.mesh_from_args(args)
    table = flag_table(spec.config_cls) | (spec.resume_flags(args) if spec.resume_flags
                                           else {})
    config, seed = resume_config(args, argv, parser,
                                 lambda base: config_from_args(spec, args, base),
                                 spec.config_cls, table, spec.config_file)
    if spec.before_run is not None:
        spec.before_run(config)
    out = Path(args.out or spec.default_out(config, seed))
    argv_list = list(sys.argv[1:] if argv is None else argv)
    train(spec, config, out, seed=seed, resume=args.resume, progress=not args.no_progress,
          command=f"{spec.prog} " + shlex.join(argv_list), mesh=mesh)
    if spec.announce is not None and parallel.is_main_process():
        spec.announce(out)
    return 0


# -------------------------------------------------------------------------- the run


def _fields(runner: Any) -> dict[str, Any]:
    return {f.name: getattr(runner, f.name) for f in dataclasses.fields(runner)}


#: checkpoint layouts: `(save(run_dir, runner, step) -> step, restore(run_dir, template,
#: step=None) -> runner)`. "leaves": the runner's leaves by position (PPO, DDQN);
#: "fields": a dict of the runner's dataclass fields (the pointer's runs).
LAYOUTS: dict[str, tuple[Callable[..., int], Callable[..., Any]]] = {
    "leaves": (shared.save_leaves, shared.restore_leaves),
    "fields": (lambda run_dir, runner, step: shared.save_checkpoint(run_dir, _fields(runner),
                                                                    step),
               lambda run_dir, template, step=None: template.replace(
                   **shared.restore_checkpoint(run_dir, _fields(template), step))),
}


def save_checkpoint(spec: TrainSpec, run_dir: str | Path, runner: Any) -> int:
    """Writes the runner as checkpoint `step_of(runner)` of the run (blocking)."""
    return LAYOUTS[spec.layout][0](run_dir, runner, spec.step_of(runner))


def restore_checkpoint(spec: TrainSpec, run_dir: str | Path, template: Any,
                       step: int | None = None) -> Any:
    """The runner of checkpoint `step` (default: latest), structured like `template`."""
    return LAYOUTS[spec.layout][1](run_dir, template, step)


class _TensorBoard:
    """Rows to TensorBoard scalars when `tensorboardX` is installed (else nothing)."""

    def __init__(self, out: Path, names: tuple[str, ...]) -> None:
        self.out, self.names, self.writer = out, names, None

    def __call__(self, rows: list[dict]) -> None:
        if self.writer is None:
            try:
                from tensorboardX import SummaryWriter  # type: ignore[import-not-found]
            except ImportError:
                return
            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        for row in rows:
            for n in self.names:
                self.writer.add_scalar(n, float(row[n]), row["update"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def train(spec: TrainSpec, config: Any, out_dir: str | Path, seed: int = 0,
          resume: bool = False, progress: bool = True, command: str | None = None,
          plot: bool = True, mesh: Any = None, **plan_options: Any) -> Any:
    """Trains (or with `resume` continues: the result equals the uninterrupted run) in
    `out_dir`; writes the model, `meta.json`, `metrics.csv` and `learning_curve.png`;
    returns the final runner. `mesh` (default: every local device) splits the batch over
    its data axis; several processes each call this. `plan_options` go to `spec.plan`
    (e.g. the pointer's `sampler`)."""
    from jaxshop_baselines.loop import note, run_chunked

    out = Path(out_dir)
    mesh = parallel.make_mesh() if mesh is None else mesh
    size, what = spec.batch(config)
    parallel.check_divides(size, mesh, what)
    with parallel.use_mesh(mesh):
        job = spec.plan(config, **plan_options)
        board = _TensorBoard(out, job.metric_names) if spec.tensorboard else None
        runner, record = run_chunked(
            out=out, runner=spec.place(spec.init(config, jax.random.PRNGKey(seed))),
            chunk=job.chunk,
            total=getattr(config, spec.total), per_chunk=getattr(config, spec.chunk),
            checkpoint_every=getattr(config, spec.checkpoint_every),
            metric_names=job.metric_names, name=job.name, config=config,
            config_file=spec.config_file, seed=seed,
            command=command, resume=resume, progress=progress, evaluate=job.evaluate,
            chunk_args=job.chunk_args, chunk_args_of=job.chunk_args_of,
            finished=job.finished, time_budget=job.time_budget, summary=job.summary,
            counter=job.counter,
            validation_field=job.validation_field, finite_keys=job.finite_keys,
            step_of=spec.step_of, save=lambda d, r: save_checkpoint(spec, d, r),
            restore=LAYOUTS[spec.layout][1], describe=job.describe,
            compile_chunk=job.compile_chunk, unit=spec.unit, on_rows=board)
        if board is not None:
            board.close()
    if not parallel.is_main_process():
        return runner
    if job.meta_fn is not None:
        meta = job.meta_fn(record, runner, mesh)
    else:
        meta = _meta(spec, job, record, runner, mesh)
    spec.save_model(out, config, parallel.host_value(runner.params), meta)
    if plot and spec.plot:
        plot_learning_curve(out / "metrics.csv", out / "learning_curve.png", spec.plot,
                            xlabel=spec.xlabel, title=spec.title(config, record.seed))
    if spec.announce is None:
        note(f"model, metrics.csv and learning_curve.png written to {out}")
    return runner


def _meta(spec: TrainSpec, job: TrainPlan, record: Any, runner: Any, mesh: Any) -> dict:
    """The usual `meta.json` of a run: `job.meta`, seed and commands, the step count and
    counter (`spec.meta_names`), times, final validation, size, versions and devices."""
    steps, counted, final = spec.meta_names
    rate = {f"{counted}_per_second": record.counted_per_second} if spec.rate_in_meta else {}
    meta = {
        **job.meta,
        "seed": record.seed, "command": record.command, "resumed_with": record.resumed_with,
        steps: record.updates, **({counted: record.counted} if job.counter else {}),
        "train_seconds": record.train_seconds, "compile_seconds": record.compile_seconds,
        **rate, final: record.final_validation,
        "num_params": shared.count_params(runner.params), "jax": jax.__version__,
        **parallel.run_info(mesh),
    }
    return meta


def load_model(spec: TrainSpec, model_dir: str | Path, kind: str,
               accepts: tuple[str, ...] | None = None) -> tuple[Any, Any]:
    """`(config, params)` of a model folder or of a (possibly unfinished) run of the
    agent (`checkpoints.load_model`: one-line errors naming the file at fault)."""

    def abstract(config: Any) -> Any:
        return jax.eval_shape(lambda k: spec.init(config, k), shared.abstract_key())

    def from_checkpoint(run_dir: Path, config: Any) -> Any:
        zeros = jax.tree_util.tree_map(lambda x: jax.numpy.zeros(x.shape, x.dtype),
                                       abstract(config))
        return restore_checkpoint(spec, run_dir, zeros).params

    return shared.load_model(model_dir, spec.config_cls, lambda c: abstract(c).params,
                             from_checkpoint, kind, accepts)


# ------------------------------------------------------------------------ the plot


def plot_learning_curve(csv_path: str | Path, png_path: str | Path,
                        panels: tuple[Panel, ...], xlabel: str = "update",
                        title: str = "") -> None:
    """The learning curve of a run's metrics CSV: one panel per `Panel`, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = shared.read_rows(Path(csv_path), 2**62)
    if not rows:
        return
    x = np.array([int(r["update"]) for r in rows])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        for c in panel.curves:
            y = c.sign * np.array([float(r[c.column]) if r[c.column] else np.nan
                                   for r in rows])
            if c.points:
                if np.isfinite(y).any():
                    ax.plot(x[np.isfinite(y)], y[np.isfinite(y)], "o-", label=c.label)
            else:
                ax.plot(x, y, alpha=0.6 if c.color is None else 1.0, color=c.color,
                        label=c.label)
            if c.smooth:
                window = max(1, len(rows) // 50)
                mean = np.convolve(y, np.ones(window) / window, mode="valid")
                ax.plot(x[window - 1:], mean, label=f"{c.label}, moving mean of {window}")
        ax.set_xlabel(xlabel)
        if panel.ylabel:
            ax.set_ylabel(panel.ylabel)
        if panel.log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
