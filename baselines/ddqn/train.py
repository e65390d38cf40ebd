"""`jaxshop train ddqn`: the host loop around the jitted Double-DQN chunks.

`run_training(config, out_dir, seed)` compiles `run_chunk` once, runs the chunks with a
progress bar, appends one metrics row per chunk to `metrics.csv`, checkpoints the whole
`TrainState` every `checkpoint_every` iterations (with a greedy validation score when
`eval_size > 0`), stops with a clear error (keeping the last good checkpoint) if the loss
diverges, and writes the model (`config.json`, `params.msgpack`, `meta.json`) and
`learning_curve.png`. `--resume` restores the latest checkpoint and repeats the metric
rows after it, so the result equals the uninterrupted run bit for bit.

metrics.csv columns: `update` (iterations done at the end of the chunk, the checkpoint
step), `time_s`, `transitions`, then `agent.METRIC_NAMES` (means over the episodes
finished and the gradient steps made in the chunk; `episode_return` is empty/NaN when no
episode ended) and `val_return` (mean greedy return on `eval_size` fixed episodes).
"""

from __future__ import annotations

import argparse
import functools
import math
import shlex
import sys
import time
from pathlib import Path

import jax
import numpy as np
from jax.sharding import Mesh
from jaxshop_baselines.checkpoints import (
    read_rows,
    save_model,
)
from jaxshop_baselines.ddqn import checkpoint as ckpt
from jaxshop_baselines.ddqn import network
from jaxshop_baselines.ddqn.agent import (
    METRIC_NAMES,
    cached_ddqn,
    greedy_returns,
    place_state,
)
from jaxshop_baselines.ddqn.config import LOSSES, SAMPLINGS, DDQNConfig
from jaxshop_baselines.ddqn.envs import DDQN_ENVS

from jaxshop import parallel
from jaxshop.fab import regime
from jaxshop.options import (
    ArgumentParser,
    UsageError,
    add_run_options,
    float_in,
    int_in,
    positive_int,
)

VALIDATION_KEY = 515_151


def episode_steps(env) -> int:
    """Static decisions per episode of `env` (`max_steps` of a generated instance)."""
    generator = getattr(env, "generator", None)
    instance = jax.eval_shape(generator, jax.random.PRNGKey(0)) if generator else None
    return int(env.max_steps(instance))


@functools.lru_cache(maxsize=8)
def _validation(config: DDQNConfig):
    """Jitted `params -> mean greedy return` on `eval_size` fixed episodes."""
    env = cached_ddqn(config).env
    keys = jax.random.split(jax.random.PRNGKey(VALIDATION_KEY), config.eval_size)
    steps = episode_steps(env)
    return jax.jit(lambda params: greedy_returns(params, env, keys, steps).mean())


_COMPILED: dict[tuple[DDQNConfig, str], tuple] = {}


def compiled_chunk(config: DDQNConfig, state) -> tuple:
    """`(compiled run_chunk, compile seconds)`, compiled once per config and process."""
    key = (config, repr(parallel.active_mesh()))  # compiled for the mesh in context
    if key not in _COMPILED:
        t0 = time.perf_counter()
        compiled = cached_ddqn(config).run_chunk.lower(state).compile()
        _COMPILED[key] = (compiled, time.perf_counter() - t0)
    return _COMPILED[key]


def plot_learning_curve(csv_path: Path, png_path: Path, title: str = "") -> None:
    """Training episode returns per chunk, greedy validation returns, and the TD loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(csv_path, 2**62)
    if not rows:
        return
    it = np.array([int(r["update"]) for r in rows])

    def col(name):
        return np.array([float(r[name]) if r[name] else np.nan for r in rows])

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(it, col("episode_return"), alpha=0.6, label="training episodes (epsilon-greedy)")
    val = col("val_return")
    if np.isfinite(val).any():
        ax1.plot(it[np.isfinite(val)], val[np.isfinite(val)], "o-", label="greedy, validation")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("episode return")
    ax1.grid(alpha=0.3)
    ax1.legend()
    ax2.plot(it, col("loss"), color="C1", label="TD loss")
    ax2.plot(it, col("epsilon"), color="C2", label="epsilon")
    ax2.set_xlabel("iteration")
    ax2.set_yscale("log")
    ax2.grid(alpha=0.3)
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def run_training(config: DDQNConfig, out_dir: str | Path, seed: int = 0, resume: bool = False,
                 progress: bool = True, command: str | None = None, plot: bool = True,
                 mesh: Mesh | None = None):
    """Trains (or resumes) a run in `out_dir`; returns the final `TrainState`.

    `mesh` (default: every local device) splits the envs over its data axis."""
    mesh = parallel.make_mesh() if mesh is None else mesh
    parallel.check_divides(config.num_envs, mesh, f"{config.num_envs} envs")
    with parallel.use_mesh(mesh):
        return _run_training(config, Path(out_dir), seed, resume, progress, command, plot,
                             mesh)


def _run_training(config: DDQNConfig, out: Path, seed: int, resume: bool, progress: bool,
                  command: str | None, plot: bool, mesh: Mesh):
    from jaxshop_baselines.loop import note, run_chunked

    state = place_state(cached_ddqn(config).init(jax.random.PRNGKey(seed)))

    def summary(m: dict) -> str:
        ret = float(m["episode_return"][0])
        return (f"return {'-' if math.isnan(ret) else f'{ret:.6g}'} · "
                f"loss {float(m['loss'][0]):.6g} · eps {float(m['epsilon'][0]):.2f}")

    state, record = run_chunked(
        out=out, runner=state, chunk=cached_ddqn(config).run_chunk, unit="iteration",
        compile_chunk=lambda s: compiled_chunk(config, s),
        total=config.num_iterations, per_chunk=config.iterations_per_chunk,
        checkpoint_every=config.checkpoint_every, metric_names=METRIC_NAMES,
        name=f"ddqn {config.env}", config=config, seed=seed, command=command, resume=resume,
        progress=progress, evaluate=_validation(config) if config.eval_size > 0 else None,
        counter=("transitions", config.num_envs), validation_field="val_return",
        finite_keys=("loss", "grad_norm", "q_mean"), step_of=lambda s: int(s.iteration),
        save=ckpt.save_checkpoint, restore=ckpt.restore_checkpoint, summary=summary,
        describe=lambda s, c: (
            f"ddqn on {config.env}: {network.num_params(s.params)} parameters, "
            f"{config.num_envs} envs, {config.iterations_per_chunk} iterations per chunk, "
            f"compiled in {c:.1f} s"),
    )
    if not parallel.is_main_process():
        return state
    meta = {
        "seed": record.seed, "command": record.command, "resumed_with": record.resumed_with,
        "iterations": record.updates, "transitions": record.counted,
        "train_seconds": record.train_seconds, "compile_seconds": record.compile_seconds,
        "final_val_greedy_return": record.final_validation,
        "num_params": network.num_params(state.params), "jax": jax.__version__,
        **parallel.run_info(mesh),
    }
    save_model(out, config, parallel.host_value(state.params), meta)
    if plot:
        plot_learning_curve(out / "metrics.csv", out / "learning_curve.png",
                            title=f"Double DQN · {config.env} · seed {record.seed}")
    note(f"model, metrics.csv and learning_curve.png written to {out}")
    return state


# ---------------------------------------------------------------------------------------
# `jaxshop train ddqn`
# ---------------------------------------------------------------------------------------

DEFAULTS = DDQNConfig()
#: flag -> (config field, argparse type, help)
_FLAGS = {
    "jobs": ("num_jobs", int_in(1, 1000), "jobs of the random FJSP instances"),
    "machines": ("num_machines", int_in(1, 200), "machines of the random FJSP instances"),
    "mode": ("mode", None, "job-shop schedule construction, append or insert"),
    "rules": ("rules", None, "comma-separated JOB-MACHINE rules the agent chooses from"),
    "hidden": ("hidden", None, "comma-separated hidden layer widths"),
    "envs": ("num_envs", int_in(1, 65536), "parallel envs"),
    "steps": ("num_iterations", positive_int, "iterations (each steps every env once)"),
    "chunk": ("iterations_per_chunk", int_in(1, 100_000), "iterations per jitted call"),
    "buffer": ("buffer_size", int_in(1, 10_000_000), "replay buffer capacity (transitions)"),
    "batch": ("batch_size", int_in(1, 65536), "minibatch size"),
    "sampling": ("sampling", None, "replay sampling, uniform or recency"),
    "recency_power": ("recency_power", float_in(0.0, 1e3), "recency weight power"),
    "recency_decay": ("recency_decay", float_in(0.0, 1e3), "recency weight decay"),
    "learning_starts": ("learning_starts", int_in(0, 2**31 - 1),
                        "iterations before the first gradient step"),
    "updates": ("updates_per_iteration", int_in(1, 1000), "gradient steps per iteration"),
    "target_every": ("target_update_every", positive_int,
                     "gradient steps between target-network copies"),
    "gamma": ("gamma", float_in(0.0, 1.0), "discount factor in [0, 1]"),
    "lr": ("learning_rate", float_in(0.0, 1.0, low_open=True), "Adam learning rate"),
    "loss": ("loss", None, "huber or squared"),
    "eps_start": ("eps_start", float_in(0.0, 1.0), "initial epsilon"),
    "eps_end": ("eps_end", float_in(0.0, 1.0), "final epsilon"),
    "exploration": ("exploration_fraction", float_in(0.0, 1.0),
                    "fraction of the run over which epsilon decays"),
    "checkpoint_every": ("checkpoint_every", positive_int, "iterations between checkpoints"),
    "eval_size": ("eval_size", int_in(0, 65536), "greedy validation episodes (0: none)"),
}


def _int_list(text: str) -> tuple[int, ...]:
    parse = int_in(1, 4096, "a layer width")
    return tuple(parse(t) for t in text.split(","))


def _rule_list(text: str) -> tuple[str, ...]:
    from jaxshop_baselines.rules import canonical_rule

    try:
        return tuple(canonical_rule(t) for t in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


#: the fab regime's options (`jaxshop.fab.regime`: --fab-release, --fab-weekly, ...), each
#: setting the config field of its dest
_REGIME = tuple(regime.dest(key) for key in regime.DEFAULT_REGIME)
#: options that only one env reads
_ENV_ONLY = {"jobs": "fjsp", "machines": "fjsp", "mode": "fjsp", "rules": "fjsp",
             **{name: "fab" for name in _REGIME}}
_CHOICES = {"mode": ("append", "insert"), "sampling": SAMPLINGS, "loss": LOSSES}
_TYPES = {"hidden": _int_list, "rules": _rule_list}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="jaxshop train ddqn",
        description="Train a Double DQN (MLP Q-network, replay buffer, epsilon-greedy). "
        "--env fjsp: choose a dispatching rule at every decision of random flexible job "
        "shops (the rule-selection env).",
    )
    p.add_argument("--env", choices=sorted(DDQN_ENVS), default=None,
                   help=f"env (default {DEFAULTS.env})")
    for flag, (field, kind, text) in _FLAGS.items():
        default = getattr(DEFAULTS, field)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, default=None,
                       type=_TYPES.get(flag, kind), choices=_CHOICES.get(flag),
                       help=f"{text} (default {shown})")
    regime.add_regime_options(p, "--env fab: ")
    p.add_argument("--episodes", type=positive_int, default=None,
                   help="instead of --steps: enough iterations for this many episodes "
                   "(rounded up to whole chunks)")
    add_run_options(p, "runs/ddqn-<env>-...")
    return p


def config_from_args(args: argparse.Namespace, base: DDQNConfig | None = None) -> DDQNConfig:
    """The config of the command line; a `UsageError` (one line, exit 2) when inconsistent."""
    values = (base or DEFAULTS).to_dict()
    if args.env is not None:
        values["env"] = args.env
    for flag, (field, _, _) in _FLAGS.items():
        if getattr(args, flag) is not None:
            values[field] = getattr(args, flag)
    for key, value in regime.regime_given(args).items():
        values[regime.dest(key)] = value
    for flag, owner in _ENV_ONLY.items():  # an option the env would ignore is an error
        if getattr(args, flag) is not None and values["env"] != owner:
            raise UsageError(f"jaxshop train ddqn: --{flag.replace('_', '-')} applies to "
                             f"--env {owner} only, not {values['env']}")
    chunk = values["iterations_per_chunk"]
    if args.steps is not None and args.episodes is not None:
        raise UsageError("give --steps or --episodes, not both")
    if args.checkpoint_every is None and values["checkpoint_every"] % chunk:
        values["checkpoint_every"] = chunk * max(1, round(values["checkpoint_every"] / chunk))
    if args.episodes is not None:
        from jaxshop_baselines.ddqn.envs import make_env

        per_episode = episode_steps(make_env(DDQNConfig.from_dict(
            {**values, "num_iterations": chunk})))
        need = math.ceil(args.episodes * per_episode / values["num_envs"])
        values["num_iterations"] = chunk * max(1, math.ceil(need / chunk))
    if values["num_iterations"] % chunk:
        raise UsageError(f"--steps {values['num_iterations']} is not a multiple of --chunk "
                         f"{chunk} (iterations run in jitted chunks of that many)")
    if values["checkpoint_every"] % chunk:
        raise UsageError(f"--checkpoint-every {values['checkpoint_every']} is not a multiple "
                         f"of --chunk {chunk}")
    try:
        return DDQNConfig.from_dict(values)
    except ValueError as err:
        raise UsageError(f"jaxshop train ddqn: {err}") from None


def main(argv: list[str] | None = None) -> int:
    """`jaxshop train ddqn ...`; returns the exit code."""
    from jaxshop_baselines.loop import flag_names, resume_config

    parser = build_parser()
    args = parser.parse_args(argv)
    mesh = parallel.mesh_from_args(args)
    flags = flag_names(parser, _FLAGS)  # --resume: one rule for every trainer
    if args.episodes is not None:
        flags["num_iterations"] = "--episodes"
    config, seed = resume_config(args, argv, parser, lambda base: config_from_args(args, base),
                                 DDQNConfig, flags)
    out = Path(args.out or f"runs/ddqn-{config.env}-{config.num_jobs}x{config.num_machines}"
                           f"-seed{seed}")
    argv_list = list(sys.argv[1:] if argv is None else argv)
    run_training(config, out, seed=seed, resume=args.resume,
                 progress=not args.no_progress,
                 command="jaxshop train ddqn " + shlex.join(argv_list), mesh=mesh)
    return 0


__all__ = ["build_parser", "compiled_chunk", "config_from_args",
           "episode_steps", "main", "plot_learning_curve", "run_training"]
