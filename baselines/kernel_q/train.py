"""Offline value iteration on q-factors of swap moves, with the kernel regressor.

1. Transitions: `instances` random `jobs x machines` flow shops (U[1, 99] times), each
   walked for `walk` states from NEH or a random permutation (half each) by an
   epsilon-greedy tabu walk like the search's (with probability `1 - epsilon` the swap of
   least makespan, improving or not, else a random swap; never the swap that undoes the
   previous move). In every visited state `s` the `actions` sampled swaps (undo excluded)
   are half the best by makespan change and half random (`sample="mixed"`), or uniform
   among the candidate list (`sample="candidates"`: the regressor then learns to tell
   apart exactly the moves the search ranks; the shipped model's setting); each gives
   `(x(s, a), r, x(s', .))` with `r = 100 (Cmax(s) - Cmax(s')) / LB` and the features of
   every swap of the successor `s'` (`jaxshop.pfsp_swap.features`) except the one that
   undoes `a` (tabu in the search, so left out of the target's max).
   With a candidate list (`candidates = K > 0`, the CLI's default 16), the target's max
   runs over the `K` swaps of least makespan of `s'` only: the moves the search ranks.
2. Value iteration: `w <- ridge(Phi, r + gamma max_a' Q(s', a') - c r)`, all in one
   `lax.while_loop`, until the largest change of Q on the samples is below `tol` or
   after `max_iters` sweeps; `Phi^T Phi + alpha I` is factorized once.

The q-factor is `Q(s, a) = c r(s, a) + w . phi(x(s, a))` with `c = params["reward_weight"]`:
`c = 1` (`residual=True`, `--residual`) adds the exact immediate reward of the swap, which
the env computes for every move anyway (`r = -x[STATE_DIM + 7]`, the makespan-change
feature), so the kernel regressor learns only the discounted continuation
`gamma E max_a' Q(s', a')`; `c = 0` (the config default) is the plain regressor (models
written before this option load with `c = 0`). Either way `w` is the only fitted parameter
and the search picks the move of highest Q. The shipped model (`models/default`: 32
random 50x20 instances, residual, candidate list 16 with actions sampled from it, the
kernel, gamma, ridge and sweep bound chosen on held-out instances by
`scripts/kernel_q_select.py`) uses `c = 1`.

`make_train(config)(key)` is the whole offline run (sampling + value iteration) as one
pure function: `jax.jit(make_train(c))(key)` or `jax.jit(jax.vmap(make_train(c)))(keys)`.
The CLI (`jaxshop train kernel-q`) runs the same steps as a host loop over jitted chunks
of `chunk` sweeps with progress lines, an orbax checkpoint after each chunk (`--resume`
regenerates the data from the run's seed and continues from the last one) and the model
files at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax
from jaxshop_baselines import parallel
from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.kernel_q.kernel import (
    feature_map,
    init_rff,
    num_poly_features,
    ridge_factor,
    ridge_solve,
)

from jaxshop.options import ArgumentParser, UsageError, float_in, int_in, seed
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.pfsp_swap import (
    FEATURE_DIM,
    STATE_DIM,
    action_features,
    features,
    neh_permutation,
    random_permutation,
    sequence_makespan,
    state_features,
    swap_makespans,
    swap_positions,
)
from jaxshop.pfsp_swap.swaps import pair_table

CONFIG_FILE = "config.json"
MODEL_FILE = "model.npz"
META_FILE = "meta.json"
BIG = 2**31 - 1
DEFAULT_CANDIDATES = 16  # the CLI's candidate list (the config's 0 keeps older models' meaning)
# The CLI samples actions from that list ("candidates"); the config's "mixed" is the older way.


@dataclasses.dataclass(frozen=True)
class KernelQConfig(JSONConfig):
    jobs: int = 20
    machines: int = 20
    instances: int = 32  # training instances sampled per run
    walk: int = 8  # visited states per instance
    actions: int = 8  # sampled swaps per visited state
    epsilon: float = 0.3  # random-move probability of the data walk
    rff: int = 128  # random Fourier features
    lam: float = 0.5  # polynomial share of the kernel
    sigma: float = 2.0  # Gaussian bandwidth
    alpha: float = 1.0  # ridge penalty
    gamma: float = 0.9
    max_iters: int = 40
    tol: float = 1e-3
    chunk: int = 5  # value-iteration sweeps per CLI chunk
    residual: bool = False  # True: Q = r + w . phi (exact reward + learned continuation)
    candidates: int = 0  # Q ranks the K swaps of least makespan (0: every swap)
    sample: str = "mixed"  # sampled actions: "mixed" (half best, half random) or "candidates"

    @property
    def num_features(self) -> int:
        return num_poly_features(FEATURE_DIM) + self.rff


#: The command line's defaults: the shipped default model's settings (chosen on held-out
#: random instances, `results/kernel_q_select.md`), so `jaxshop train kernel-q --out DIR`
#: trains that model (the config's own defaults keep older runs' meaning).
CLI_DEFAULTS = KernelQConfig(jobs=50, machines=20, rff=32, lam=0.2, sigma=1.0, residual=True,
                             candidates=DEFAULT_CANDIDATES, sample="candidates")


def immediate_reward(x: jax.Array) -> jax.Array:
    """`r(s, a) = 100 (Cmax(s) - Cmax(s')) / LB`, read off the makespan-change feature."""
    return -x[..., STATE_DIM + 7]


def q_values(params: dict, lam: float, x: jax.Array) -> jax.Array:
    """`Q = c r + w . phi(x)` for features `(..., FEATURE_DIM)` (`c` = reward_weight)."""
    learned = feature_map(x, params, lam) @ params["w"]
    return learned + params.get("reward_weight", 0.0) * immediate_reward(x)


NEG_Q = float(np.finfo(np.float32).min)  # finite "minus infinity" of masked Q values


def candidate_moves(spans: jax.Array, allowed: jax.Array, k: int):
    """`(idx, ok)`: the `k` allowed swaps of least makespan (the candidate list that `Q`
    ranks; ties to the lower index) and which of them exist; `k = 0`: every swap."""
    if k <= 0 or k >= spans.shape[-1]:
        return jnp.broadcast_to(jnp.arange(spans.shape[-1]), spans.shape), allowed
    _, idx = lax.top_k(jnp.where(allowed, -spans, -BIG), k)
    return idx, jnp.take_along_axis(allowed, idx, axis=-1)


SAMPLES = ("mixed", "candidates")


def check_sampling(config: KernelQConfig) -> None:
    """`ValueError` for a sampling setting the instances cannot serve."""
    if config.sample not in SAMPLES:
        raise ValueError(f"sample must be one of {', '.join(SAMPLES)}, got {config.sample!r}")
    if config.sample == "candidates":
        # every visited state needs `actions` distinct candidates (the undo swap excluded)
        room = min(config.candidates, config.jobs * (config.jobs - 1) // 2 - 1)
        if config.candidates <= 0 or config.actions > room:
            raise ValueError(f"sample 'candidates' needs 0 < actions <= candidates (and "
                             f"fewer than the {config.jobs}-job swaps); got actions "
                             f"{config.actions}, candidates {config.candidates} (fewer "
                             f"actions or sample 'mixed' fit)")


def sample_actions(key_rand: jax.Array, key_cand: jax.Array, spans: jax.Array,
                   allowed: jax.Array, config: KernelQConfig):
    """`(acts, best, rand)`: the `actions` swaps sampled in a visited state, the allowed
    swap of least makespan and a uniformly random allowed swap (the walk's two moves)."""
    noise = jnp.where(allowed, jax.random.gumbel(key_rand, spans.shape), NEG_Q)
    if config.sample == "candidates":  # `actions` of the search's candidates, uniformly
        cand, ok = candidate_moves(spans, allowed, config.candidates)
        pick = jnp.where(ok, jax.random.gumbel(key_cand, ok.shape), NEG_Q)
        return cand[lax.top_k(pick, config.actions)[1]], cand[:1], lax.top_k(noise, 1)[1]
    # "mixed": half the best by makespan, half uniformly among the allowed swaps
    k_best = config.actions // 2
    best = jnp.argsort(jnp.where(allowed, spans, BIG))[:k_best]
    rand = lax.top_k(noise, config.actions - k_best)[1]
    return jnp.concatenate([best, rand]), best, rand


def swap_features(instance, perm):
    """`(spans, cmax, mask, X)`: all swap makespans, the makespan, the valid mask and the
    `(A, FEATURE_DIM)` features of every swap of `perm`."""
    n = instance.job_mask.sum()
    spans = swap_makespans(instance.processing_times, perm, n)
    cmax = sequence_makespan(instance.processing_times, perm)
    mask = spans < BIG
    x = features(state_features(instance, perm),
                 action_features(instance, perm, cmax, spans, mask))
    return spans, cmax, mask, x


def make_sampler(config: KernelQConfig):
    """`sample(key) -> (x, r, x_next, mask_next)` with `S = instances * walk * actions` rows."""
    gen = UniformPFSPGenerator(config.jobs, config.machines)
    num_slots = config.jobs
    check_sampling(config)
    f_idx, g_idx = (jnp.asarray(a) for a in pair_table(num_slots))
    actions = jnp.arange(f_idx.shape[0], dtype=jnp.int32)

    def one_instance(key):
        k_inst, k_start, k_walk, k_neh = jax.random.split(key, 4)
        inst = gen(k_inst)
        jm = inst.job_mask
        use_neh = jax.random.bernoulli(k_neh, 0.5)
        perm0 = jnp.where(use_neh, neh_permutation(inst.processing_times, jm),
                          random_permutation(k_start, jm))
        lb = jnp.maximum(inst.processing_times.sum(0).max(), 1).astype(jnp.float32)

        def walk(carry, key):
            perm, prev = carry
            k1, k2 = jax.random.split(key)
            k3 = jax.random.fold_in(k2, 1)  # (the "mixed" draws stay those of earlier runs)
            spans, cmax, mask, x = swap_features(inst, perm)
            allowed = mask & (actions != prev)  # the walk never undoes its last swap
            acts, best, rand = sample_actions(k1, k3, spans, allowed, config)
            nexts = jax.vmap(lambda a: swap_positions(perm, f_idx[a], g_idx[a]))(acts)
            spans_n, _, mask_n, x_n = jax.vmap(lambda q: swap_features(inst, q))(nexts)
            # In s' = sw(s, a) the swap a itself would undo a; the search's tabu list
            # forbids it, so the target's max over a' leaves it out too.
            mask_n = mask_n & (actions[None, :] != acts[:, None])
            # The target's max runs over the search's candidate list only.
            cand, mask_n = candidate_moves(spans_n, mask_n, config.candidates)
            x_n = jnp.take_along_axis(x_n, cand[..., None], axis=1)
            reward = 100.0 * (cmax - spans[acts]).astype(jnp.float32) / lb
            greedy = jax.random.uniform(k2) > config.epsilon
            move = jnp.where(greedy, best[0], rand[0])
            nxt = swap_positions(perm, f_idx[move], g_idx[move])
            return (nxt, move.astype(jnp.int32)), (x[acts], reward, x_n, mask_n)

        _, data = lax.scan(walk, (perm0, jnp.int32(-1)), jax.random.split(k_walk, config.walk))
        return data

    def sample(key):
        keys = parallel.shard_batch(jax.random.split(key, config.instances))
        data = jax.vmap(one_instance)(keys)
        flat = lambda a: a.reshape((-1,) + a.shape[3:])
        return parallel.shard_batch(jax.tree_util.tree_map(flat, data))

    return sample


def value_iteration(config: KernelQConfig, data, params: dict, it0, it_stop, deltas):
    """Sweeps from `params["w"]` until `delta < tol` or `it_stop`; `(params, it, deltas)`."""
    x, reward, x_next, mask_next = data
    phi = feature_map(x, params, config.lam)
    factor = ridge_factor(phi, config.alpha)

    def next_max(w):
        p = dict(params, w=w)

        def one(args):
            xn, mn = args
            q = q_values(p, config.lam, xn)
            return jnp.where(mn.any(), jnp.max(jnp.where(mn, q, NEG_Q)), 0.0)

        # Each device maxes over its own rows (a row loop over the sharded samples);
        # the ridge products below are sums over rows, all-reduced by XLA.
        return parallel.per_shard(lambda xn, mn: lax.map(one, (xn, mn), batch_size=64),
                                  x_next, mask_next)

    def cond(c):
        _, it, delta, _ = c
        return (it < it_stop) & (delta > config.tol)

    def body(c):
        w, it, _, hist = c
        y = reward + config.gamma * next_max(w) - params["reward_weight"] * reward
        w_new = ridge_solve(factor, phi, y)
        delta = jnp.max(jnp.abs(phi @ (w_new - w)))
        return w_new, it + 1, delta, hist.at[it].set(delta)

    last = jnp.where(it0 > 0, deltas[jnp.maximum(it0 - 1, 0)], jnp.inf)
    w, it, _, deltas = lax.while_loop(
        cond, body, (params["w"], jnp.asarray(it0, jnp.int32), last, deltas)
    )
    return dict(params, w=w), it, deltas


def init_params(config: KernelQConfig, key: jax.Array) -> dict:
    rff = init_rff(key, FEATURE_DIM, config.rff, config.sigma)
    return dict(rff, w=jnp.zeros(config.num_features, jnp.float32),
                reward_weight=jnp.float32(1.0 if config.residual else 0.0))


def _keys(key):
    k_rff, k_data = jax.random.split(key)
    return k_rff, k_data


def make_train(config: KernelQConfig):
    """`train(key) -> (params, metrics)`: the whole offline run, pure (jit / vmap it)."""
    sample = make_sampler(config)

    def train(key):
        k_rff, k_data = _keys(key)
        params = init_params(config, k_rff)
        data = sample(k_data)
        deltas = jnp.full(config.max_iters, jnp.nan, jnp.float32)
        params, it, deltas = value_iteration(config, data, params, 0, config.max_iters, deltas)
        return params, {"iterations": it, "deltas": deltas,
                        "mean_reward": jnp.mean(data[1])}

    return train


# --- model files ---------------------------------------------------------------------


def save_model(model_dir: str | Path, config: KernelQConfig, params: dict,
               meta: dict[str, Any] | None = None) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    config.to_json(model_dir / CONFIG_FILE)
    np.savez(model_dir / MODEL_FILE, **{k: np.asarray(v) for k, v in params.items()})
    if meta is not None:
        (model_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


_ARRAYS = ("w", "omega", "bias")  # model.npz: weights, RFF frequencies and phases


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a `model.npz`, read without pickles; a one-line ValueError naming the
    file when it is damaged (truncated, garbage) or not a kernel-Q model's archive."""
    damaged = f"{path}: damaged or not a kernel-q model file"
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception:  # zipfile, numpy and OS errors; their text may give unsafe advice
        raise ValueError(f"{damaged} (not a readable .npz archive)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{damaged} (a single array, not a .npz archive)")
    with archive:
        missing = [k for k in _ARRAYS if k not in archive.files]
        if missing:
            raise ValueError(f"{path}: not a kernel-q model file (no {', '.join(missing)} "
                             f"array{'s' if len(missing) > 1 else ''})")
        try:
            arrays = {k: np.asarray(archive[k]) for k in (*_ARRAYS, "reward_weight")
                      if k in archive.files}
        except Exception:  # a truncated member: zlib, zipfile or numpy errors
            raise ValueError(f"{damaged} (an array is truncated or unreadable)") from None
    if any(a.dtype.kind not in "biuf" for a in arrays.values()):
        raise ValueError(f"{damaged} (non-numeric arrays)")
    return arrays


def load_model(model_dir: str | Path) -> tuple[KernelQConfig, dict]:
    """`(config, params)`; a one-line ValueError naming the folder or file on any problem
    (another agent's folder says which kind it is), before anything is compiled."""
    from jaxshop_baselines.checkpoints import CHECKPOINT_DIR, check_finite, check_model_kind
    from jaxshop_baselines.checkpoints import read_config as read_json_config

    model_dir = check_model_kind(model_dir, "kernel-q")
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ValueError(f"{model_dir} is not a kernel-q model folder (no {CONFIG_FILE})")
    config = read_json_config(KernelQConfig, config_path)
    path = model_dir / MODEL_FILE
    if not path.is_file():
        unfinished = (f" (an unfinished run: continue it with `jaxshop train kernel-q "
                      f"--resume --out {model_dir}`)"
                      if (model_dir / CHECKPOINT_DIR).is_dir() else "")
        raise ValueError(f"{model_dir} has no {MODEL_FILE}{unfinished}")
    arrays = _read_arrays(path)
    arrays.setdefault("reward_weight", np.zeros((), np.float32))
    expect = {"w": (config.num_features,), "omega": (FEATURE_DIM, config.rff),
              "bias": (config.rff,), "reward_weight": ()}
    if any(arrays[k].shape != s for k, s in expect.items()):
        raise ValueError(f"{path} does not match {config_path} (other array shapes: a "
                         "damaged file or an edited config?)")
    check_finite(arrays, path)
    arrays["reward_weight"] = arrays["reward_weight"].astype(np.float32)
    return config, jax.device_put({k: arrays[k] for k in (*_ARRAYS, "reward_weight")})


# --- CLI -----------------------------------------------------------------------------


@functools.cache
def _jitted(config: KernelQConfig):
    """`(sample, chunk)` jitted once per config (a resumed run in the same process reuses
    the compiled programs)."""
    chunk = jax.jit(lambda d, p, i0, i1, h: value_iteration(config, d, p, i0, i1, h))
    return jax.jit(make_sampler(config)), chunk


@struct.dataclass
class KQRunner:
    """What a checkpoint holds (the runner's "fields" layout, `runner.LAYOUTS`)."""

    params: Any
    opt_state: Any  # {"deltas": (max_iters,)}
    key: jax.Array
    update: jax.Array  # () int32: sweeps done


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="jaxshop train kernel-q",
                       description="offline value iteration of the kernel Q-regressor")
    d = CLI_DEFAULTS
    p.add_argument("--jobs", type=int_in(2, 200), default=None,
                   help=f"jobs per training instance (default {d.jobs})")
    p.add_argument("--machines", type=int_in(1, 50), default=None,
                   help=f"machines per training instance (default {d.machines})")
    p.add_argument("--instances", type=int_in(1, 4096), default=None,
                   help="training instances (default 32)")
    p.add_argument("--walk", type=int_in(1, 256), default=None, help="states per instance")
    p.add_argument("--actions", type=int_in(2, 64), default=None, help="swaps per state")
    p.add_argument("--rff", type=int_in(1, 4096), default=None,
                   help=f"random Fourier features (default {d.rff})")
    p.add_argument("--lam", type=float_in(0.0, 1.0, low_open=True), default=None,
                   help=f"polynomial share of the kernel, in (0, 1) (default {d.lam})")
    p.add_argument("--sigma", type=float_in(0.0, 1e6, low_open=True), default=None,
                   help=f"Gaussian bandwidth (default {d.sigma})")
    p.add_argument("--gamma", type=float_in(0.0, 0.999), default=None, help="discount")
    p.add_argument("--iters", type=int_in(1, 10_000), default=None,
                   help="value-iteration sweep bound (default 40)")
    p.add_argument("--tol", type=float_in(0.0, 1e6), default=None, help="stop when max |dQ| < tol")
    p.add_argument("--chunk", type=int_in(1, 10_000), default=None,
                   help="sweeps between checkpoints")
    p.add_argument("--residual", action=argparse.BooleanOptionalAction, default=None,
                   help="Q = r + w . phi: the exact reward plus the learned continuation "
                        "(the default); --no-residual: Q = w . phi")
    p.add_argument("--candidates", type=int_in(0, 4096), default=None,
                   help="Q ranks the K swaps of least makespan of every state (0: all swaps; "
                        "default 16)")
    p.add_argument("--sample", choices=SAMPLES, default=None,
                   help="sampled actions per state: uniformly among the candidate list "
                        "(candidates, the default) or half best and half random swaps (mixed)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--seed", type=seed, default=0, help="PRNG seed, 0..2^32-1 (default 0)")
    parallel.add_mesh_options(p)
    return p


#: option dest -> `KernelQConfig` field
_FLAGS = {"jobs": "jobs", "machines": "machines", "instances": "instances", "walk": "walk",
          "actions": "actions", "rff": "rff", "lam": "lam", "sigma": "sigma",
          "gamma": "gamma", "iters": "max_iters", "tol": "tol", "chunk": "chunk",
          "residual": "residual", "candidates": "candidates", "sample": "sample"}


def _config_from(args, base: KernelQConfig | None = None) -> KernelQConfig:
    """The options given on top of `base` (default: the command line's defaults)."""
    changes = {field: getattr(args, flag) for flag, field in _FLAGS.items()
               if getattr(args, flag) is not None}
    config = dataclasses.replace(CLI_DEFAULTS if base is None else base, **changes)
    if not 0.0 < config.lam < 1.0:
        raise UsageError("jaxshop train kernel-q: --lam must be in (0, 1)")
    try:
        check_sampling(config)
    except ValueError as err:
        raise UsageError(f"jaxshop train kernel-q: --sample/--actions/--candidates: {err}"
                         ) from None
    return config


def run_training(config: KernelQConfig, out: str | Path, seed_value: int = 0,
                 resume: bool = False, log=print, mesh=None) -> dict:
    """Samples the transitions and runs value iteration in chunks, checkpointing each.

    `mesh` (`jaxshop.parallel.make_mesh`; default: one device) splits the training
    instances and their transitions over its data axis (the ridge products all-reduced,
    the parameters replicated); in a multi-process run every process calls this and only
    process 0 logs and writes files. `resume` follows every trainer's rule
    (`loop.check_resume_options`: `config` and the seed must be the run's own); Ctrl-C
    stops after the chunk in flight, saved (`loop.TrainingInterrupted`).
    """
    from jaxshop_baselines.loop import StopRequest

    if mesh is not None:
        parallel.check_divides(config.instances, mesh, f"--instances {config.instances}")

    with parallel.use_mesh(mesh), StopRequest() as request:  # Ctrl-C: stop after a chunk
        return _run_training(config, Path(out), seed_value, resume,
                             log if parallel.is_main_process() else (lambda *_: None), mesh,
                             request)


def _run_training(config: KernelQConfig, out: Path, seed_value: int, resume: bool, log,
                  mesh, request) -> dict:
    from jaxshop_baselines.checkpoints import latest_checkpoint, read_config
    from jaxshop_baselines.loop import check_resume_options, run_record
    from jaxshop_baselines.runner import LAYOUTS

    save, restore = LAYOUTS["fields"]  # the checkpoint layout of its runs

    main = parallel.is_main_process()
    key = jax.random.PRNGKey(seed_value)
    k_rff, k_data = _keys(key)
    params = init_params(config, k_rff)
    deltas = jnp.full(config.max_iters, jnp.nan, jnp.float32)
    runner = KQRunner(params, {"deltas": deltas}, key, jnp.int32(0))
    step = latest_checkpoint(out)
    start = True  # a new run folder (or one stopped before its first checkpoint)
    if resume:  # the same rule as every trainer's (`loop.check_resume_options`)
        if not (out / CONFIG_FILE).is_file():
            raise ValueError(f"--resume: {out} holds no run to continue (no {CONFIG_FILE}); "
                             "start it without --resume")
        check_resume_options(out / CONFIG_FILE, read_config(KernelQConfig, out / CONFIG_FILE),
                             config, saved_seed=run_record(out).get("seed"),
                             given_seed=seed_value)
        if step is None:
            log(f"--resume: {out} has no checkpoint yet (stopped before its first one); "
                "starting it from sweep 0")
        else:
            start = False
            runner = restore(out, parallel.replicate(runner), step)
            log(f"resumed {out} at sweep {int(parallel.host_value(runner.update))}")
    elif step is not None or (out / MODEL_FILE).exists():
        held = f"a checkpoint at sweep {step}" if step is not None else f"a model, {MODEL_FILE}"
        raise ValueError(f"{out} already holds a run ({held}); continue it with --resume, or "
                         "pass another --out")
    elif (out / CONFIG_FILE).exists():
        log(f"{out} holds a run stopped before its first checkpoint: starting it over")
    if start:
        parallel.sync("kernel-q: run folder checked")
        if main:
            out.mkdir(parents=True, exist_ok=True)
            config.to_json(out / CONFIG_FILE)
            (out / "run.json").write_text(json.dumps({"seed": seed_value}) + "\n")
    return _sweeps(config, out, seed_value, runner, request, log, mesh, save)


def _sweeps(config: KernelQConfig, out: Path, seed_value: int, runner: KQRunner, request,
            log, mesh, save) -> dict:
    """Value iteration from `runner` in checkpointed chunks; Ctrl-C (`request`) stops it
    after the chunk in flight, saved, with `loop.TrainingInterrupted`."""
    from jaxshop_baselines.loop import TrainingInterrupted

    main = parallel.is_main_process()
    key = jax.random.PRNGKey(seed_value)
    k_rff, k_data = _keys(key)
    t0 = time.perf_counter()
    runner = parallel.replicate(runner)
    it = int(parallel.host_value(runner.update))
    params, deltas = runner.params, runner.opt_state["deltas"]
    host_deltas = parallel.host_value(deltas)
    done = it > 0 and float(host_deltas[it - 1]) <= config.tol
    if it < config.max_iters and not done:
        data = jax.block_until_ready(_jitted(config)[0](k_data))
        log(f"sampled {data[0].shape[0]} transitions from {config.instances} "
            f"{config.jobs}x{config.machines} instances in {time.perf_counter() - t0:.1f}s")
    chunk_fn = _jitted(config)[1]
    while it < config.max_iters and not done and not request.check():
        stop = min(config.max_iters, it + config.chunk)
        t1 = time.perf_counter()
        params, it_new, deltas = chunk_fn(data, params, it, stop, deltas)
        it_new = int(parallel.host_value(it_new))
        host_deltas = parallel.host_value(deltas)
        delta = float(host_deltas[it_new - 1])
        if not np.isfinite(delta):
            raise ValueError(f"value iteration diverged at sweep {it_new} (delta {delta})")
        log(f"sweep {it_new}/{config.max_iters}  max|dQ| {delta:.5f}  "
            f"({time.perf_counter() - t1:.1f}s)")
        done = it_new < stop or delta <= config.tol
        it = it_new
        save(out, KQRunner(params, {"deltas": deltas}, key, jnp.int32(it)), it)
    if it < config.max_iters and not done:  # Ctrl-C: every chunk done is saved
        raise TrainingInterrupted(out, it, "sweep")
    meta = {"sweeps": it, "final_delta": float(host_deltas[it - 1]) if it else None,
            "converged": bool(it and float(host_deltas[it - 1]) <= config.tol),
            "seed": seed_value, "seconds": round(time.perf_counter() - t0, 2),
            "deltas": [float(d) for d in host_deltas[:it]],
            **parallel.run_info(mesh)}
    if main:
        save_model(out, config, parallel.host_value(params), meta)
    log(f"model written to {out} ({'converged' if meta['converged'] else 'sweep bound'})")
    return meta


def main(argv: list[str] | None = None) -> int:
    from jaxshop_baselines.loop import flag_names, resume_config

    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    mesh = parallel.mesh_from_args(args)  # before any other JAX call (multi-host)
    config, seed_value = resume_config(args, argv, parser, lambda b: _config_from(args, b),
                                       KernelQConfig, flag_names(parser, _FLAGS), CONFIG_FILE)
    try:
        parallel.check_divides(config.instances, mesh, f"--instances {config.instances}")
    except ValueError as err:
        raise UsageError(str(err)) from None
    run_training(config, args.out, seed_value, args.resume, mesh=mesh)
    return 0
