"""`jaxshop train ddqn`: the Double-DQN pieces the one training runner calls.

`SPEC` hands the runner (`jaxshop_baselines.runner`) the jitted `run_chunk` (compiled
once per config), the greedy validation (`eval_size > 0`) and the config's options; the
runner owns the progress bar, one metrics row per chunk, checkpoints of the whole
`TrainState` every `checkpoint_every` iterations, the divergence stop, the model
(`config.json`, `params.msgpack`, `meta.json`) and `learning_curve.png`. `--resume`
restores the latest checkpoint and repeats the metric rows after it, so the result
equals the uninterrupted run bit for bit.

metrics.csv columns: `update` (iterations done at the end of the chunk, the checkpoint
step), `time_s`, `transitions`, then `agent.METRIC_NAMES` (means over the episodes
finished and the gradient steps made in the chunk; `episode_return` is empty/NaN when no
episode ended) and `val_return` (mean greedy return on `eval_size` fixed episodes).
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from pathlib import Path

import jax
from jaxshop_baselines import parallel
from jaxshop_baselines import runner as host
from jaxshop_baselines.ddqn import network
from jaxshop_baselines.ddqn.agent import (
    METRIC_NAMES,
    cached_ddqn,
    greedy_returns,
    place_state,
)
from jaxshop_baselines.ddqn.config import DDQNConfig
from jaxshop_baselines.runner import Curve, Panel, TrainPlan, TrainSpec

from jaxshop.fab import regime
from jaxshop.options import (
    UsageError,
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


# ---------------------------------------------------------------------------------------
# The runner's view: `jaxshop train ddqn`
# ---------------------------------------------------------------------------------------


def _summary(m: dict) -> str:
    ret = float(m["episode_return"][0])
    return (f"return {'-' if math.isnan(ret) else f'{ret:.6g}'} · "
            f"loss {float(m['loss'][0]):.6g} · eps {float(m['epsilon'][0]):.2f}")


def _plan(config: DDQNConfig) -> TrainPlan:
    return TrainPlan(
        chunk=cached_ddqn(config).run_chunk, metric_names=METRIC_NAMES,
        name=f"ddqn {config.env}", compile_chunk=lambda s: compiled_chunk(config, s),
        evaluate=_validation(config) if config.eval_size > 0 else None,
        counter=("transitions", config.num_envs), validation_field="val_return",
        finite_keys=("loss", "grad_norm", "q_mean"), summary=_summary,
        describe=lambda s, c: (
            f"ddqn on {config.env}: {network.num_params(s.params)} parameters, "
            f"{config.num_envs} envs, {config.iterations_per_chunk} iterations per chunk, "
            f"compiled in {c:.1f} s"),
    )


#: the fab regime's options (`jaxshop.fab.regime`: --fab-release, --fab-weekly, ...), each
#: setting the config field of its dest
_REGIME = tuple(regime.dest(key) for key in regime.DEFAULT_REGIME)
#: config fields that only one env reads (their options are errors with another env)
_ENV_ONLY = {"num_jobs": "fjsp", "num_machines": "fjsp", "mode": "fjsp", "rules": "fjsp",
             **{name: "fab" for name in _REGIME}}


def _extra_options(p: argparse.ArgumentParser) -> None:
    regime.add_regime_options(p, "--env fab: ")
    p.add_argument("--episodes", type=positive_int, default=None,
                   help="instead of --steps: enough iterations for this many episodes "
                   "(rounded up to whole chunks)")


def _adjust(args: argparse.Namespace, values: dict) -> dict:
    """The fab regime options, options of another env refused, `--episodes` in whole
    chunks."""
    for key, value in regime.regime_given(args).items():
        values[regime.dest(key)] = value
    flags = {**host.flag_table(DDQNConfig), **{regime.dest(k): f for k, f in
                                               regime.FLAGS.items()}}
    for field, owner in _ENV_ONLY.items():  # an option the env would ignore is an error
        if getattr(args, field) is not None and values["env"] != owner:
            raise UsageError(f"jaxshop train ddqn: {flags[field]} applies to --env {owner} "
                             f"only, not {values['env']}")
    if args.num_iterations is not None and args.episodes is not None:
        raise UsageError("give --steps or --episodes, not both")
    if args.episodes is not None:
        from jaxshop_baselines.ddqn.envs import make_env

        chunk = values["iterations_per_chunk"]
        per_episode = episode_steps(make_env(DDQNConfig.from_dict(
            {**values, "num_iterations": chunk})))
        need = math.ceil(args.episodes * per_episode / values["num_envs"])
        values["num_iterations"] = chunk * max(1, math.ceil(need / chunk))
    return values


SPEC = TrainSpec(
    name="ddqn", config_cls=DDQNConfig, prog="jaxshop train ddqn",
    description="Train a Double DQN (MLP Q-network, replay buffer, epsilon-greedy). "
    "--env fjsp: choose a dispatching rule at every decision of random flexible job "
    "shops (the rule-selection env).",
    init=lambda config, key: cached_ddqn(config).init(key), plan=_plan, place=place_state,
    batch=lambda c: (c.num_envs, f"{c.num_envs} envs"),
    default_out=lambda c, seed: (f"runs/ddqn-{c.env}-{c.num_jobs}x{c.num_machines}"
                                 f"-seed{seed}"),
    out_help="runs/ddqn-<env>-...", step_of=lambda s: int(s.iteration),
    meta_names=("iterations", "transitions", "final_val_greedy_return"),
    plot=(Panel("episode return", (
              Curve("episode_return", "training episodes (epsilon-greedy)"),
              Curve("val_return", "greedy, validation", points=True))),
          Panel(None, (Curve("loss", "TD loss", "C1"), Curve("epsilon", "epsilon", "C2")),
                log=True)),
    xlabel="iteration", title=lambda c, seed: f"Double DQN · {c.env} · seed {seed}",
    total="num_iterations", chunk="iterations_per_chunk", unit="iteration",
    extra_options=_extra_options, adjust=_adjust, wrap_errors="jaxshop train ddqn: ",
    resume_flags=lambda args: ({"num_iterations": "--episodes"}
                               if args.episodes is not None else {}),
)

#: `run_training(config, out_dir, seed=0, resume=False, progress=True, command=None,
#: plot=True, mesh=None) -> TrainState` (`runner.train`; exact resume)
run_training = functools.partial(host.train, SPEC)
build_parser = functools.partial(host.build_parser, SPEC)
config_from_args = functools.partial(host.config_from_args, SPEC)


def load_ddqn(path: str | Path) -> tuple[DDQNConfig, dict]:
    """`(config, params)` of a DDQN model folder or of a (possibly unfinished) run.

    A one-line `ValueError` names the file at fault (missing, unreadable, not matching the
    config, NaN parameters) or says which other agent's folder it is.
    """
    return host.load_model(SPEC, path, "ddqn", accepts=("ddqn", "ddqn-fab"))


__all__ = ["SPEC", "build_parser", "compiled_chunk", "config_from_args", "episode_steps",
           "load_ddqn", "run_training"]
