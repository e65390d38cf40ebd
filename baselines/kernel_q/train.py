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
`jaxshop train kernel-q` runs the same steps on the one training runner
(`jaxshop_baselines.runner`, `SPEC`): jitted chunks of `chunk` sweeps, an orbax checkpoint
after each, `metrics.csv` and the learning curve of max |dQ| per sweep, the resume rule of
every trainer (the transitions are drawn again from the run's key), and the model files.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax
from jaxshop_baselines import parallel
from jaxshop_baselines import runner as host
from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.kernel_q.kernel import (
    feature_map,
    init_rff,
    num_poly_features,
    ridge_factor,
    ridge_solve,
)
from jaxshop_baselines.runner import Curve, Panel, TrainPlan, TrainSpec, option

from jaxshop.options import UsageError, float_in, int_in
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.pfsp_swap import (
    FEATURE_DIM,
    STATE_DIM,
    SwapFlowShop,
    SwapState,
    features,
    neh_permutation,
    random_permutation,
)

CONFIG_FILE = "config.json"
MODEL_FILE = "model.npz"
META_FILE = "meta.json"
BIG = 2**31 - 1
DEFAULT_CANDIDATES = 16  # the CLI's candidate list (the config's 0 keeps older models' meaning)
# The CLI samples actions from that list ("candidates"); the config's "mixed" is the older way.


@dataclasses.dataclass(frozen=True)
class KernelQConfig(JSONConfig):
    """The run (its `option` fields are `jaxshop train kernel-q`'s flags; the command
    line's defaults are `CLI_DEFAULTS`, the shipped model's; these keep older runs')."""

    jobs: int = option(20, "--jobs", "jobs per training instance", type=int_in(2, 200))
    machines: int = option(20, "--machines", "machines per training instance",
                           type=int_in(1, 50))
    instances: int = option(32, "--instances", "training instances", type=int_in(1, 4096))
    walk: int = option(8, "--walk", "visited states per instance", type=int_in(1, 256))
    actions: int = option(8, "--actions", "sampled swaps per state", type=int_in(2, 64))
    epsilon: float = 0.3  # random-move probability of the data walk
    rff: int = option(128, "--rff", "random Fourier features", type=int_in(1, 4096))
    lam: float = option(0.5, "--lam", "polynomial share of the kernel, in (0, 1)",
                        type=float_in(0.0, 1.0, low_open=True))
    sigma: float = option(2.0, "--sigma", "Gaussian bandwidth",
                          type=float_in(0.0, 1e6, low_open=True))
    alpha: float = 1.0  # ridge penalty
    gamma: float = option(0.9, "--gamma", "discount", type=float_in(0.0, 0.999))
    max_iters: int = option(40, "--iters", "value-iteration sweep bound",
                            type=int_in(1, 10_000))
    tol: float = option(1e-3, "--tol", "stop when max |dQ| < tol", type=float_in(0.0, 1e6))
    chunk: int = option(5, "--chunk", "sweeps per jitted call and checkpoint",
                        type=int_in(1, 10_000))
    residual: bool = option(False, "--residual", "Q = r + w . phi: the exact reward plus "
                            "the learned continuation (the default); --no-residual: "
                            "Q = w . phi")
    candidates: int = option(0, "--candidates", "Q ranks the K swaps of least makespan of "
                             "every state (0: all swaps)", type=int_in(0, 4096))
    sample: str = option("mixed", "--sample", "sampled actions per state: uniformly among "
                         "the candidate list (candidates, the default) or half best and "
                         "half random swaps (mixed)", choices=("mixed", "candidates"),
                         shown="")

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


#: The env every kernel-Q state lives in (training walk and search): the swap env from
#: NEH that never stops by itself (the walk and the search own their budgets).
ENV = SwapFlowShop(start="neh", max_swaps=2**31 - 1, stop_at_local_optimum=False)


def observed_features(state: SwapState) -> jax.Array:
    """`(A, FEATURE_DIM)`: the features of every swap of the env's observation."""
    obs = ENV.observe(state)
    return features(obs.state_features, obs.action_features)


def make_sampler(config: KernelQConfig):
    """`sample(key) -> (x, r, x_next, mask_next)` with `S = instances * walk * actions` rows,
    every state an env state and every move an env transition (`ENV`)."""
    gen = UniformPFSPGenerator(config.jobs, config.machines)
    check_sampling(config)
    actions = jnp.arange(config.jobs * (config.jobs - 1) // 2, dtype=jnp.int32)

    def one_instance(key):
        k_inst, k_start, k_walk, k_neh = jax.random.split(key, 4)
        inst = gen(k_inst)
        jm = inst.job_mask
        use_neh = jax.random.bernoulli(k_neh, 0.5)
        perm0 = jnp.where(use_neh, neh_permutation(inst.processing_times, jm),
                          random_permutation(k_start, jm))

        def walk(carry, key):
            state, prev = carry
            k1, k2 = jax.random.split(key)
            k3 = jax.random.fold_in(k2, 1)  # (the "mixed" draws stay those of earlier runs)
            spans, cmax = state.swap_makespans, state.makespan
            x = observed_features(state)
            allowed = (spans < BIG) & (actions != prev)  # the walk never undoes its last swap
            acts, best, rand = sample_actions(k1, k3, spans, allowed, config)
            nexts = jax.vmap(lambda a: ENV.transition(state, a)[0])(acts)
            x_n = jax.vmap(observed_features)(nexts)
            # In s' = sw(s, a) the swap a itself would undo a; the search's tabu list
            # forbids it, so the target's max over a' leaves it out too.
            mask_n = (nexts.swap_makespans < BIG) & (actions[None, :] != acts[:, None])
            # The target's max runs over the search's candidate list only.
            cand, mask_n = candidate_moves(nexts.swap_makespans, mask_n, config.candidates)
            x_n = jnp.take_along_axis(x_n, cand[..., None], axis=1)
            reward = 100.0 * (cmax - spans[acts]).astype(jnp.float32) / state.normalizer
            greedy = jax.random.uniform(k2) > config.epsilon
            move = jnp.where(greedy, best[0], rand[0])
            nxt, _ = ENV.transition(state, move)
            return (nxt, move.astype(jnp.int32)), (x[acts], reward, x_n, mask_n)

        start = (ENV.state_at(inst, perm0), jnp.int32(-1))
        _, data = lax.scan(walk, start, jax.random.split(k_walk, config.walk))
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


# --- the run (`jaxshop train kernel-q`, on the one runner) ------------------------------


@struct.dataclass
class KQRunner:
    """What a checkpoint holds (the runner's "fields" layout, `runner.LAYOUTS`)."""

    params: dict[str, jax.Array]
    opt_state: dict[str, jax.Array]  # {"deltas": (max_iters,) max |dQ| per sweep}
    key: jax.Array  # the run's key: the transitions are drawn from it on every (re)start
    update: jax.Array  # () int32: sweeps done


def _init(config: KernelQConfig, key: jax.Array) -> KQRunner:
    deltas = jnp.full(config.max_iters, jnp.nan, jnp.float32)
    return KQRunner(init_params(config, _keys(key)[0]), {"deltas": deltas}, key,
                    jnp.int32(0))


def _converged(config: KernelQConfig, runner: KQRunner) -> bool:
    it = int(parallel.host_value(runner.update))
    return it > 0 and float(parallel.host_value(runner.opt_state["deltas"])[it - 1]) <= config.tol


@functools.cache
def _jitted(config: KernelQConfig):
    """`(sample, chunk)` jitted once per config: `chunk(runner, data)` runs up to `chunk`
    sweeps (fewer at the sweep bound or on convergence) and reports max |dQ| per sweep."""

    def chunk(runner: KQRunner, data):
        it0, deltas = runner.update, runner.opt_state["deltas"]
        stop = jnp.minimum(it0 + config.chunk, config.max_iters)
        params, it, deltas = value_iteration(config, data, runner.params, it0, stop, deltas)
        padded = jnp.concatenate([deltas, jnp.full(config.chunk, jnp.nan, jnp.float32)])
        return (runner.replace(params=params, opt_state={"deltas": deltas}, update=it),
                {"max_dq": lax.dynamic_slice(padded, (it0,), (config.chunk,))})

    return jax.jit(make_sampler(config)), jax.jit(chunk)


def _plan(config: KernelQConfig) -> TrainPlan:
    sample, chunk = _jitted(config)
    drawn: dict[str, float] = {}

    def data_of(runner: KQRunner) -> tuple:
        t0 = time.perf_counter()
        data = jax.block_until_ready(sample(_keys(parallel.host_value(runner.key))[1]))
        drawn.update(rows=data[0].shape[0], seconds=time.perf_counter() - t0)
        return (data,)

    def describe(runner: KQRunner, compile_s: float) -> str:
        if not drawn:
            return "nothing left to run (converged or at the sweep bound): writing the model"
        return (f"sampled {drawn['rows']} transitions from {config.instances} "
                f"{config.jobs}x{config.machines} instances in {drawn['seconds']:.1f}s; "
                f"value-iteration chunk compiled in {compile_s:.1f}s")

    def meta(record, runner: KQRunner, mesh) -> dict:
        it = int(parallel.host_value(runner.update))
        deltas = parallel.host_value(runner.opt_state["deltas"])[:it]
        return {"sweeps": it, "final_delta": float(deltas[-1]) if it else None,
                "converged": _converged(config, runner), "seed": record.seed,
                "command": record.command, "resumed_with": record.resumed_with,
                "seconds": record.train_seconds, "compile_seconds": record.compile_seconds,
                "deltas": [float(d) for d in deltas], "jax": jax.__version__,
                **parallel.run_info(mesh)}

    return TrainPlan(chunk=chunk, metric_names=("max_dq",), name="kernel-q",
                     finite_keys=("max_dq",), chunk_args_of=data_of,
                     finished=lambda r: _converged(config, r), describe=describe,
                     summary=lambda m: f"max|dQ| {float(m['max_dq'][-1]):.5f}"
                     if len(m["max_dq"]) else "", meta_fn=meta)


def _check(config: KernelQConfig) -> None:
    if not 0.0 < config.lam < 1.0:
        raise UsageError("jaxshop train kernel-q: --lam must be in (0, 1)")
    try:
        check_sampling(config)
    except ValueError as err:
        raise UsageError(f"jaxshop train kernel-q: --sample/--actions/--candidates: {err}"
                         ) from None


SPEC = TrainSpec(
    name="kernel-q", config_cls=KernelQConfig, prog="jaxshop train kernel-q",
    description="offline value iteration of the kernel Q-regressor",
    init=_init, plan=_plan, place=parallel.replicate,
    batch=lambda c: (c.instances, f"--instances {c.instances}"),
    default_out=lambda c, seed: f"runs/kernel-q-{c.jobs}x{c.machines}-seed{seed}",
    out_help="runs/kernel-q-<jobs>x<machines>-seed<seed>",
    step_of=lambda r: int(parallel.host_value(r.update)),
    meta_names=("sweeps", "transitions", "final_delta"),
    plot=(Panel("max |dQ| per sweep", (Curve("max_dq", "max |dQ| on the samples"),),
                log=True),),
    xlabel="sweep", title=lambda c, seed: f"kernel-Q value iteration · {c.jobs}x"
                                          f"{c.machines} · seed {seed}",
    total="max_iters", chunk="chunk", checkpoint_every="chunk", unit="sweep",
    check=_check, layout="fields", save_model=save_model, defaults=lambda: CLI_DEFAULTS,
    whole_chunks=False,
)

#: `run_training(config, out_dir, seed=0, resume=False, progress=True, command=None,
#: plot=True, mesh=None) -> KQRunner` (`runner.train`; exact resume)
run_training = functools.partial(host.train, SPEC)
build_parser = functools.partial(host.build_parser, SPEC)
config_from_args = functools.partial(host.config_from_args, SPEC)
