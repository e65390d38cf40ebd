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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax
from jaxshop_baselines import parallel
from jaxshop_baselines import runner as host
from jaxshop_baselines.pointer.config import (
    MAX_JOBS,
    MAX_MACHINES,
    PointerConfig,
    fast_compile,
    pointer_jit,
)
from jaxshop_baselines.pointer.decode import batch_episodes, episode_keys, run_episodes
from jaxshop_baselines.pointer.model import (
    critic_value,
    init_params,
    num_params,
    select_features,
)
from jaxshop_baselines.runner import Curve, Panel, TrainPlan, TrainSpec

import jaxshop
from jaxshop.instances.generated import fjsp_mixture_sampler
from jaxshop.instances.types import FJSPInstance
from jaxshop.options import (
    UsageError,
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
    return jaxshop.cached_make("fjsp", mode=config.mode)


def make_sampler(config: PointerConfig) -> SampleFn:
    """Random training instances: one size, or an even split over `config.mixture`."""
    ranges = [config.ops_range(m) for _, m in config.sizes]
    return fjsp_mixture_sampler(config.sizes, ranges, config.time_range)


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
# The runner's view: `jaxshop train pointer`
# ---------------------------------------------------------------------------------------


def _plan(config: PointerConfig, sampler: SampleFn | None = None) -> TrainPlan:
    """`sampler` replaces the config's instance distribution (tests use a fixed one)."""
    variant = f"AC-{config.variant.upper()}"
    return TrainPlan(
        chunk=make_train_chunk(config, sampler), metric_names=METRIC_NAMES, name=variant,
        evaluate=make_validation(config) if config.eval_size > 0 else None,
        counter=("schedules", config.batch_size), validation_field="val_norm_makespan",
        meta={"variant": variant},
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


def _mixture_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mixture", default=None, metavar="JxM,...",
                   help="train on a mixture of sizes padded together, e.g. 10x5,15x10,20x10")


def _adjust(args: argparse.Namespace, values: dict) -> dict:
    if args.mixture is not None:
        values["mixture"] = _parse_mixture(args.mixture)
    return values


def _check_instance_sizes(config: PointerConfig) -> None:
    """Refuses, before any compile, training instances whose makespan could overflow."""
    from jaxshop.instances.types import MAX_MAKESPAN

    for jobs, machines in config.sizes:
        worst = jobs * config.ops_range(machines)[1] * config.time_range[1]
        if worst > MAX_MAKESPAN:
            raise UsageError(f"instances of {jobs}x{machines} with times up to "
                             f"{config.time_range[1]} could reach makespan {worst} > "
                             f"{MAX_MAKESPAN}; use smaller sizes")


def _default_out(config: PointerConfig, seed: int) -> str:
    size = (",".join(f"{j}x{m}" for j, m in config.mixture) if config.mixture
            else f"{config.num_jobs}x{config.num_machines}")
    return f"runs/pointer-{config.variant}-{size}-seed{seed}"


SPEC = TrainSpec(
    name="pointer", config_cls=PointerConfig, prog="jaxshop train pointer",
    description="Train the pointer actor-critic (REINFORCE + critic baseline) on random "
    "Brandimarte-style FJSP instances.",
    init=init_runner, plan=_plan, place=parallel.replicate,
    batch=lambda c: (c.batch_size, f"--batch {c.batch_size}"),
    default_out=_default_out, out_help="runs/pointer-<variant>-<size>-seed<seed>",
    step_of=lambda r: int(r.update),
    meta_names=("updates", "schedules", "final_val_greedy_norm_makespan"),
    plot=(Panel("makespan / lower bound", (
              Curve("norm_makespan", "sampled (batch mean)", smooth=True),
              Curve("val_norm_makespan", "greedy, validation set", points=True))),
          Panel(None, (Curve("critic_loss", "critic loss (MSE)", "C1"),
                       Curve("entropy", "entropy per episode", "C2")), log=True)),
    xlabel="update",
    title=lambda c, seed: f"pointer AC-{c.variant.upper()} · seed {seed}",
    extra_options=_mixture_option, adjust=_adjust, check=_check_instance_sizes,
    resume_flags=lambda args: {"mixture": "--mixture"}, layout="fields",
    rate_in_meta=True, tensorboard=True,
)

#: `run_training(config, out_dir, seed=0, resume=False, progress=True, command=None,
#: plot=True, mesh=None, sampler=None) -> RunnerState` (`runner.train`; exact resume)
run_training = functools.partial(host.train, SPEC)
build_parser = functools.partial(host.build_parser, SPEC)
config_from_args = functools.partial(host.config_from_args, SPEC)


def load_model(model_dir: str | Path) -> tuple[PointerConfig, dict]:
    """`(config, params)` of a model directory or of a (possibly unfinished) training run
    (a distilled small-pointer student is a pointer model too); a one-line ValueError
    names the folder or file at fault (another agent's folder says which kind it is)."""
    return host.load_model(SPEC, model_dir, "pointer", accepts=("pointer", "student"))
