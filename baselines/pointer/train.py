"""REINFORCE with a critic baseline for the pointer policy, all inside `jax.jit`.

One update samples `batch_size` random instances, decodes one schedule per instance by
sampling the policy, and descends

    mean_b[(C_b - stop_grad(V(s_b))) * log p(pi_b | s_b)]            (actor)
  + critic_coef * mean_b[(V(s_b) - C_b)^2]                            (critic)
  - entropy_coef * mean_b[H_b]                                        (optional bonus)

where `C_b = makespan / lower_bound` (the env's normalizer), so one model trains across
instance sizes. Gradients are clipped by global norm, then Adam (optax).

- `make_train(config)(key)` is the whole run as one pure function (`jax.jit` it, or
  `jax.jit(jax.vmap(train))` over seeds); metrics come back as `(num_updates,)` arrays.
- `make_train_chunk(config)(runner) -> (runner, metrics)` runs `updates_per_chunk`
  updates in one jitted call; the host loop `run_training` calls it, writes CSV rows, a
  rich progress bar, orbax checkpoints and the final model. The PRNG key lives in the
  runner state, so a resumed run repeats the uninterrupted one exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax
from jax.sharding import Mesh
from jaxshop_baselines.checkpoints import (
    read_rows,
)
from jaxshop_baselines.pointer import checkpoint as ckpt
from jaxshop_baselines.pointer.config import PointerConfig, fast_compile, pointer_jit
from jaxshop_baselines.pointer.decode import batch_episodes, episode_keys, run_episodes
from jaxshop_baselines.pointer.model import (
    critic_value,
    init_params,
    num_params,
    select_features,
)

import jaxshop
from jaxshop import parallel
from jaxshop.fjsp.generator import FJSPGenerator
from jaxshop.instances.types import FJSPInstance
from jaxshop.options import (
    ArgumentParser,
    UsageError,
    add_run_options,
    float_in,
    int_in,
    positive_int,
)

SampleFn = Callable[[jax.Array, int], FJSPInstance]  # (key, batch) -> stacked instances

VALIDATION_KEY = 987_654_321  # seed of the fixed validation set (disjoint from study seeds)

METRIC_NAMES = (
    "makespan", "norm_makespan", "baseline", "loss", "actor_loss", "critic_loss", "entropy",
    "grad_norm", "invalid",
)


@struct.dataclass
class RunnerState:
    """Everything a run needs to continue: parameters, optimizer state, key, counter."""

    params: Any
    opt_state: Any
    key: jax.Array
    update: jax.Array  # () int32: updates done so far


def make_env(config: PointerConfig):
    """The FJSP env the model decodes in (`config.mode`)."""
    return jaxshop.make("fjsp", mode=config.mode)


def make_sampler(config: PointerConfig) -> SampleFn:
    """Random training instances: one size, or an even split over `config.mixture`."""
    sizes = config.sizes
    ranges = [config.ops_range(m) for _, m in sizes]
    pad = dict(
        max_jobs=max(j for j, _ in sizes),
        max_ops=max(hi for _, hi in ranges),
        max_machines=max(m for _, m in sizes),
    )
    gens = [
        FJSPGenerator(j, m, ops_per_job=r, machines_per_op=(1, m),
                      time_range=config.time_range, **pad)
        for (j, m), r in zip(sizes, ranges, strict=True)
    ]

    def sample(key: jax.Array, batch: int) -> FJSPInstance:
        counts = [batch // len(gens) + (i < batch % len(gens)) for i in range(len(gens))]
        keys = jax.random.split(key, len(gens))
        parts = [
            jax.vmap(g)(jax.random.split(k, n))
            for g, k, n in zip(gens, keys, counts, strict=True) if n > 0
        ]
        return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)

    return sample


def make_optimizer(config: PointerConfig) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate)
    )


def init_runner(config: PointerConfig, key: jax.Array) -> RunnerState:
    """Fresh parameters and optimizer state; `key` is split into init and run keys."""
    k_params, k_run = jax.random.split(key)
    params = init_params(config, k_params)
    return RunnerState(params, make_optimizer(config).init(params), k_run,
                       jnp.zeros((), jnp.int32))


def grad_chunks(batch: int, chunk: int, devices: int = 1) -> int:
    """How many equal gradient chunks a batch is split into: the fewest whose size divides
    `batch`, is at most `chunk` and is a multiple of `devices` (so each chunk still splits
    over the mesh). 1 (one pass) when `chunk` is 0, the batch fits, or every such split
    leaves chunks under a quarter of `chunk` (e.g. a prime batch), which would be slower."""
    if chunk <= 0 or batch <= chunk:
        return 1
    for n in range(2, batch + 1):
        size, rest = divmod(batch, n)
        if not rest and size <= chunk and size % devices == 0:
            return n if 4 * size >= chunk else 1
    return 1


def make_update(config: PointerConfig, sampler: SampleFn | None = None):
    """`update(runner) -> (runner, metrics)`: one REINFORCE + critic step (pure).

    The batch is decoded and differentiated in `grad_chunks` equal chunks (`lax.scan`,
    episode `b` in chunk `b % n`, so every chunk spans the whole mesh) and the chunk
    gradients and metrics averaged: the same update as one pass up to float order.
    """
    env = make_env(config)
    sampler = sampler or make_sampler(config)
    opt = make_optimizer(config)

    def loss_fn(params, instances, reset_keys, run_keys):
        # Actions are sampled inside the scan; gradients flow only through the policy's
        # log-probabilities of them (the env is not differentiated).
        eps, obs0 = run_episodes(config, env, params, instances, reset_keys, run_keys,
                                 greedy=False)
        feats0 = select_features(config, obs0.pair_features)
        value = jax.vmap(lambda f, m: critic_value(config, params, f, m))(
            feats0, obs0.action_mask
        )
        makespan = eps.state.makespan.astype(jnp.float32)
        cost = makespan / eps.state.normalizer
        advantage = lax.stop_gradient(cost - value)
        actor_loss = jnp.mean(advantage * eps.log_prob)
        critic_loss = jnp.mean((value - cost) ** 2)
        entropy = jnp.mean(eps.entropy)
        loss = actor_loss + config.critic_coef * critic_loss - config.entropy_coef * entropy
        metrics = {
            "makespan": makespan.mean(),
            "norm_makespan": cost.mean(),
            "baseline": value.mean(),
            "loss": loss,
            "actor_loss": actor_loss,
            "critic_loss": critic_loss,
            "entropy": entropy,
            "invalid": eps.invalid.sum().astype(jnp.float32),  # a count: summed over chunks
        }
        return loss, metrics

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def batch_grad(params, instances, key):
        batch = config.batch_size
        keys = episode_keys(key, batch)
        n = grad_chunks(batch, config.grad_chunk, parallel.data_size())
        if n == 1:
            return grad_fn(params, instances, *keys)

        def split(x):  # (batch, ...) -> (n, batch // n, ...), episode b in chunk b % n
            return jnp.swapaxes(x.reshape(batch // n, n, *x.shape[1:]), 0, 1)

        def body(total, chunk):
            return jax.tree_util.tree_map(jnp.add, total, grad_fn(params, *chunk)), None

        chunks = jax.tree_util.tree_map(split, (instances, *keys))
        first = jax.tree_util.tree_map(lambda x: x[0], chunks)
        zeros = jax.tree_util.tree_map(jnp.zeros_like,
                                       jax.eval_shape(grad_fn, params, *first))
        (grads, metrics), _ = lax.scan(body, zeros, chunks)
        grads = jax.tree_util.tree_map(lambda g: g / n, grads)
        metrics = {k: v if k == "invalid" else v / n for k, v in metrics.items()}
        return grads, metrics

    def update(runner: RunnerState) -> tuple[RunnerState, dict]:
        key, k_inst, k_roll = jax.random.split(runner.key, 3)
        instances = parallel.shard_batch(sampler(k_inst, config.batch_size))
        grads, metrics = batch_grad(runner.params, instances, k_roll)
        updates, opt_state = opt.update(grads, runner.opt_state, runner.params)
        params = optax.apply_updates(runner.params, updates)
        metrics["grad_norm"] = optax.global_norm(grads)
        new = parallel.replicate(RunnerState(params, opt_state, key, runner.update + 1))
        return new, {k: metrics[k] for k in METRIC_NAMES}

    return update


def make_train(config: PointerConfig, sampler: SampleFn | None = None):
    """`train(key) -> (runner, metrics)`: a whole run of `config.num_updates` (pure, jit it)."""
    update = make_update(config, sampler)

    def train(key: jax.Array) -> tuple[RunnerState, dict]:
        runner = init_runner(config, key)
        return lax.scan(lambda r, _: update(r), runner, None, length=config.num_updates)

    return train


def make_train_chunk(config: PointerConfig, sampler: SampleFn | None = None):
    """Jitted `chunk(runner) -> (runner, metrics)` of `config.updates_per_chunk` updates.

    The key is part of `runner`, so calling chunks back to back equals one longer scan.
    Compiled chunks are cached per (config up to its run length, sampler).
    """
    key = dataclasses.replace(
        config, num_updates=config.updates_per_chunk,
        checkpoint_every=config.updates_per_chunk, eval_size=0,
    )
    return _cached_chunk(key, sampler, fast_compile())


@functools.lru_cache(maxsize=8)
def _cached_chunk(config: PointerConfig, sampler: SampleFn | None, fast: bool):
    update = make_update(config, sampler)
    return pointer_jit(
        lambda r: lax.scan(lambda r, _: update(r), r, None, length=config.updates_per_chunk),
        fast,
    )


def make_validation(config: PointerConfig):
    """Jitted `evaluate(params) -> mean greedy normalized makespan` on a fixed set."""
    return _cached_validation(config, fast_compile())


@functools.lru_cache(maxsize=8)
def _cached_validation(config: PointerConfig, fast: bool):
    env = make_env(config)
    sampler = make_sampler(config)

    def evaluate(params):
        instances = sampler(jax.random.PRNGKey(VALIDATION_KEY), config.eval_size)
        eps, _ = batch_episodes(config, env, params, instances, jax.random.PRNGKey(0), True)
        return jnp.mean(eps.state.makespan / eps.state.normalizer)

    return pointer_jit(evaluate, fast)


# ---------------------------------------------------------------------------------------
# Host loop: progress, CSV, checkpoints, final model and learning curve
# ---------------------------------------------------------------------------------------



def _tensorboard(run_dir: Path):
    """A TensorBoard writer when `tensorboardX` is installed, else None."""
    try:
        from tensorboardX import SummaryWriter  # type: ignore[import-not-found]
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def plot_learning_curve(csv_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """Sampled and validation-greedy makespan / lower bound, critic loss and entropy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = read_rows(Path(csv_path), 2**62)
    if not rows:
        return
    upd = np.array([int(r["update"]) for r in rows])
    col = lambda name: np.array([float(r[name] or "nan") for r in rows])  # noqa: E731
    cost = col("norm_makespan")
    window = max(1, len(rows) // 50)
    smooth = np.convolve(cost, np.ones(window) / window, mode="valid")
    val = [(int(r["update"]), float(r["val_norm_makespan"])) for r in rows
           if r["val_norm_makespan"] not in ("", None)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(upd, cost, alpha=0.25, label="sampled (batch mean)")
    ax1.plot(upd[window - 1:], smooth, label=f"sampled, moving mean of {window}")
    if val:
        ax1.plot(*zip(*val, strict=True), "o-", label="greedy, validation set")
    lo, hi = np.percentile(cost, [0, 95])
    ax1.set_ylim(min(lo, *(v for _, v in val)) - 0.02 if val else lo - 0.02, hi + 0.05)
    ax1.set_xlabel("update")
    ax1.set_ylabel("makespan / lower bound")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.semilogy(upd, col("critic_loss"), color="C1", alpha=0.8, label="critic loss (MSE)")
    ax2.set_xlabel("update")
    ax2.set_ylabel("critic loss")
    ax3 = ax2.twinx()
    ax3.plot(upd, col("entropy"), color="C2", alpha=0.8, label="entropy per episode")
    ax3.set_ylabel("policy entropy (nats / episode)")
    handles = ax2.get_legend_handles_labels()[0] + ax3.get_legend_handles_labels()[0]
    ax2.legend(handles, [h.get_label() for h in handles])
    ax2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def run_training(config: PointerConfig, out_dir: str | Path, seed: int = 0,
                 resume: bool = False, progress: bool = True,
                 command: str | None = None, sampler: SampleFn | None = None,
                 plot: bool = True, mesh: Mesh | None = None) -> RunnerState:
    """Trains with checkpoints every `config.checkpoint_every` updates; returns the runner.

    `mesh` (default: every device, `jaxshop.parallel.make_mesh`) splits each update's
    batch over its data axis; parameters stay replicated. In a multi-process run every
    process calls this; only process 0 prints and writes files (orbax writes the shared
    checkpoints from all of them).

    With `resume`, continues from the latest checkpoint in `out_dir` (metrics rows after
    it are dropped and recomputed; seed and command come from the run's `run.json`); the
    continuation equals an uninterrupted run.
    `sampler` replaces the config's instance distribution (tests use a fixed instance).
    """
    mesh = parallel.make_mesh() if mesh is None else mesh
    parallel.check_divides(config.batch_size, mesh, f"--batch {config.batch_size}")
    with parallel.use_mesh(mesh):
        return _run_training(config, Path(out_dir), seed, resume, progress, command, sampler,
                             plot, mesh)


def _run_training(config: PointerConfig, out: Path, seed: int, resume: bool, progress: bool,
                  command: str | None, sampler: SampleFn | None, plot: bool,
                  mesh: Mesh) -> RunnerState:
    from jaxshop_baselines.loop import note, run_chunked

    if config.num_updates % config.updates_per_chunk:
        raise ValueError("num_updates must be a multiple of updates_per_chunk")
    main = parallel.is_main_process()
    writer = None

    def on_rows(rows: list[dict]) -> None:  # TensorBoard scalars, when tensorboardX is there
        nonlocal writer
        writer = writer or _tensorboard(out)
        if writer is not None:
            for row in rows:
                for n in METRIC_NAMES:
                    writer.add_scalar(n, float(row[n]), row["update"])

    variant = f"AC-{config.variant.upper()}"
    runner, record = run_chunked(
        out=out, runner=parallel.replicate(init_runner(config, jax.random.PRNGKey(seed))),
        chunk=make_train_chunk(config, sampler), total=config.num_updates,
        per_chunk=config.updates_per_chunk, checkpoint_every=config.checkpoint_every,
        metric_names=METRIC_NAMES, name=variant, config=config, seed=seed, command=command,
        resume=resume, progress=progress,
        evaluate=make_validation(config) if config.eval_size > 0 else None,
        counter=("schedules", config.batch_size), validation_field="val_norm_makespan",
        save=ckpt.save_checkpoint, restore=ckpt.restore_checkpoint, on_rows=on_rows,
        describe=lambda r, s: (
            f"pointer {variant}: {num_params(r.params)} parameters, batch "
            f"{config.batch_size}, {config.updates_per_chunk} updates per call, "
            f"compiled in {s:.1f} s"),
        summary=lambda m: (
            f"C/LB {float(m['norm_makespan'].mean()):.3f} · "
            f"Cmax {float(m['makespan'].mean()):.1f} · "
            f"critic {float(m['critic_loss'].mean()):.2e} · "
            f"actor {float(m['actor_loss'].mean()):+.2e}"),
    )
    if writer is not None:
        writer.close()
    if not main:
        return runner
    meta = {
        "variant": variant, "seed": record.seed, "command": record.command,
        "resumed_with": record.resumed_with, "updates": record.updates,
        "schedules": record.counted, "train_seconds": record.train_seconds,
        "compile_seconds": record.compile_seconds,
        "schedules_per_second": record.counted_per_second,
        "final_val_greedy_norm_makespan": record.final_validation,
        "num_params": num_params(runner.params), "jax": jax.__version__,
        **parallel.run_info(mesh),
    }
    ckpt.save_model(out, config, parallel.host_value(runner.params), meta)
    if plot:
        plot_learning_curve(out / "metrics.csv", out / "learning_curve.png",
                            title=f"pointer {variant} · seed {record.seed}")
    note(f"model, metrics.csv and learning_curve.png written to {out}")
    return runner


# ---------------------------------------------------------------------------------------
# `jaxshop train pointer`
# ---------------------------------------------------------------------------------------

DEFAULTS = PointerConfig()
MAX_JOBS, MAX_MACHINES, MAX_BATCH, MAX_DIM = 1000, 200, 65536, 4096


def _parse_mixture(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        jobs, _, machines = part.strip().lower().partition("x")
        if not jobs.isdigit() or not machines.isdigit():
            raise UsageError(f"--mixture expects sizes like 10x5,15x10, got {text!r}")
        j, m = int(jobs), int(machines)
        if not (1 <= j <= MAX_JOBS and 1 <= m <= MAX_MACHINES):
            raise UsageError(f"--mixture: size {part.strip()} outside 1..{MAX_JOBS} jobs x "
                             f"1..{MAX_MACHINES} machines")
        out.append((j, m))
    return tuple(out)


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="jaxshop train pointer",
        description="Train the pointer actor-critic (REINFORCE + critic baseline) on random "
        "Brandimarte-style FJSP instances.",
    )
    p.add_argument("--variant", choices=("sd", "s"), default=None,
                   help="sd: static + dynamic features (default), s: static only")
    p.add_argument("--jobs", type=int_in(1, MAX_JOBS), default=None,
                   help=f"jobs, 1..{MAX_JOBS} (default {DEFAULTS.num_jobs})")
    p.add_argument("--machines", type=int_in(1, MAX_MACHINES), default=None,
                   help=f"machines, 1..{MAX_MACHINES} (default {DEFAULTS.num_machines})")
    p.add_argument("--mixture", default=None, metavar="JxM,...",
                   help="train on a mixture of sizes padded together, e.g. 10x5,15x10,20x10")
    p.add_argument("--steps", type=positive_int, default=None,
                   help=f"updates, a multiple of --chunk (default {DEFAULTS.num_updates})")
    p.add_argument("--batch", type=int_in(1, MAX_BATCH), default=None,
                   help=f"instances per update, 1..{MAX_BATCH} (default {DEFAULTS.batch_size})")
    p.add_argument("--dim", type=int_in(1, MAX_DIM), default=None,
                   help=f"embedding size, 1..{MAX_DIM} (default {DEFAULTS.embed_dim})")
    p.add_argument("--lr", type=float_in(0.0, 1.0, low_open=True), default=None,
                   help=f"Adam learning rate in (0, 1] (default {DEFAULTS.learning_rate})")
    p.add_argument("--entropy", type=float_in(0.0, 10.0), default=None,
                   help="entropy bonus in [0, 10] (default 0)")
    p.add_argument("--chunk", type=int_in(1, 10_000), default=None,
                   help=f"updates per jitted call (default {DEFAULTS.updates_per_chunk})")
    p.add_argument("--checkpoint-every", type=positive_int, default=None,
                   help="updates between checkpoints, a multiple of --chunk "
                   f"(default {DEFAULTS.checkpoint_every})")
    p.add_argument("--mode", choices=("append", "insert"), default=None,
                   help="schedule construction (default append)")
    add_run_options(p, "runs/pointer-<variant>-<size>-seed<seed>")
    return p


_FLAGS = {
    "variant": "variant", "jobs": "num_jobs", "machines": "num_machines",
    "steps": "num_updates", "batch": "batch_size", "dim": "embed_dim", "lr": "learning_rate",
    "entropy": "entropy_coef", "chunk": "updates_per_chunk",
    "checkpoint_every": "checkpoint_every", "mode": "mode",
}


def config_from_args(args: argparse.Namespace, base: PointerConfig | None = None
                     ) -> PointerConfig:
    """Applies the flags that were given on top of `base` (default config)."""
    values = (base or DEFAULTS).to_dict()
    for flag, field in _FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            values[field] = value
    if args.mixture is not None:
        values["mixture"] = _parse_mixture(args.mixture)
    # Keep checkpoints aligned with jitted chunks when only --chunk was given.
    chunk = values["updates_per_chunk"]
    if args.checkpoint_every is None and values["checkpoint_every"] % chunk:
        values["checkpoint_every"] = chunk * max(1, round(values["checkpoint_every"] / chunk))
    if values["num_updates"] % chunk:
        raise UsageError(f"--steps {values['num_updates']} is not a multiple of --chunk {chunk} "
                         "(updates run in jitted chunks of that many)")
    if values["checkpoint_every"] % chunk:
        raise UsageError(f"--checkpoint-every {values['checkpoint_every']} is not a multiple of "
                         f"--chunk {chunk}")
    config = PointerConfig.from_dict(values)
    _check_instance_sizes(config)
    return config


def _check_instance_sizes(config: PointerConfig) -> None:
    """Refuses, before any compile, training instances whose makespan could overflow."""
    from jaxshop.instances.types import MAX_MAKESPAN

    for jobs, machines in config.sizes:
        worst = jobs * config.ops_range(machines)[1] * config.time_range[1]
        if worst > MAX_MAKESPAN:
            raise UsageError(f"instances of {jobs}x{machines} with times up to "
                             f"{config.time_range[1]} could reach makespan {worst} > "
                             f"{MAX_MAKESPAN}; use smaller sizes")


def main(argv: list[str] | None = None) -> int:
    """`jaxshop train pointer ...`; returns the exit code."""
    from jaxshop_baselines.loop import flag_names, resume_config

    parser = build_parser()
    args = parser.parse_args(argv)
    mesh = parallel.mesh_from_args(args)  # before any other JAX call (multi-host)
    config, seed = resume_config(args, argv, parser, lambda base: config_from_args(args, base),
                                 PointerConfig, flag_names(parser, _FLAGS))
    size = (",".join(f"{j}x{m}" for j, m in config.mixture) if config.mixture
            else f"{config.num_jobs}x{config.num_machines}")
    out = Path(args.out or f"runs/pointer-{config.variant}-{size}-seed{seed}")
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "jaxshop train pointer " + shlex.join(argv_list)
    run_training(config, out, seed=seed, resume=args.resume,
                 progress=not args.no_progress, command=command, mesh=mesh)
    return 0
