"""Inference with a trained pointer model: greedy decoding and best-of-N sampling.

Greedy decoding runs a whole batch of (padded, stacked) instances in one jitted call.
Best-of-N decodes N candidates per instance and keeps the shortest: the greedy schedule is
always candidate 0 (so best-of-N is never worse than greedy), the other N - 1 are sampled
from `softmax(logits / temperature)`. The candidates are decoded in chunks (a host loop
over jitted calls of `per_chunk` candidates of every instance, keeping a running best), so
memory is bounded by `SAMPLE_CHUNK_PAIRS`, not by N, and between chunks the host reports
progress and can be interrupted. Compiled functions are cached per
`(config, mode)`; parameters and the temperature are arguments, so any model of the same
config and any temperature reuse them.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxshop_baselines import checkpoints as ckpt
from jaxshop_baselines.pointer.config import PointerConfig, fast_compile, pointer_jit
from jaxshop_baselines.pointer.decode import batch_episodes, search_episode

import jaxshop
from jaxshop import xla_cache
from jaxshop.fjsp.env import timeline_capacity
from jaxshop.instances.types import FJSPInstance
from jaxshop.utils import tree_select

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODELS = {"sd": MODELS_DIR / "ac-sd", "s": MODELS_DIR / "ac-s"}
MAX_SAMPLES = 1024
#: Candidates decoded at once x (job, machine) pairs: bounds the memory of best-of-N
#: (tens of MB of activations) whatever N is; a chunk holds at least one candidate per
#: instance. Smaller chunks also ran faster on a 2-core CPU (Lawrence 20x10, best of 100:
#: 9.3 s at 2^14 against 12.3 s at 2^16, the compile aside).
SAMPLE_CHUNK_PAIRS = 2**14
#: (Candidate, pair, decision) slots one jitted call of best-of-N decodes at most (about
#: 2 s on a busy 2-core CPU): a chunk of candidates of large instances is decoded a group
#: of instances per call, so that progress is reported and Ctrl-C gets a turn often.
CALL_PAIR_STEPS = 2**22
#: Sampling temperatures accepted (logits are tanh-clipped to +-10, so even the lowest
#: keeps every valid pair's scaled logit far above the masked value).
TEMPERATURE_RANGE = (1e-3, 1e3)
INT32_MAX = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class PointerAgent:
    """A loaded model: its config and parameters."""

    config: PointerConfig
    params: Any
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None, variant: str = "sd") -> PointerAgent:
        """A model directory or run directory; `None` is the shipped default of `variant`."""
        if path is None:
            if variant not in DEFAULT_MODELS:
                raise ValueError(f"no shipped pointer model for variant {variant!r}")
            path = DEFAULT_MODELS[variant]
            if not (path / ckpt.PARAMS_FILE).is_file():
                raise ValueError(f"the shipped pointer model {path} is missing")
        from jaxshop_baselines.pointer.train import load_model

        config, params = load_model(path)
        return cls(config, params, str(path))

    @property
    def version(self) -> str:
        """The library version and the model's identity (folder, digest of parameters)."""
        digest = ckpt.params_digest(self.params)
        return f"jaxshop {jaxshop.__version__}, pointer model {self.source} ({digest})"


def _decoders(config: PointerConfig, mode: str, instances: FJSPInstance):
    """`(env, greedy, sample)` for `mode` (insert mode: a timeline as long as the most
    operations one machine of `instances` can receive)."""
    capacity = timeline_capacity(instances) if mode == "insert" else None
    return _cached_decoders(config, mode, fast_compile(), capacity)


@functools.lru_cache(maxsize=16)
def _cached_decoders(config: PointerConfig, mode: str, fast: bool, capacity: int | None):
    env = (jaxshop.cached_make("fjsp", mode=mode, timeline_capacity=capacity)
           if mode == "insert" else jaxshop.cached_make("fjsp", mode=mode))

    def greedy(params, instances):
        eps, _ = batch_episodes(config, env, params, instances, jax.random.PRNGKey(0), True)
        return eps.state

    def sample_start(instances, key, per_chunk):
        # Every chunk decodes `per_chunk` candidates of every instance from the same reset
        # states (`size` episodes, instance-major); the running best starts empty.
        batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
        size = batch * per_chunk
        tiled = jax.tree_util.tree_map(lambda x: jnp.repeat(x, per_chunk, axis=0), instances)
        k_reset, k_run = jax.random.split(key)
        states, _ = jax.vmap(env.reset)(jax.random.split(k_reset, size), tiled)
        best = (jnp.full((batch,), INT32_MAX, jnp.int32),
                jax.tree_util.tree_map(lambda x: x[::per_chunk], states))
        return states, k_run, best

    def sample_chunk(params, instances, states, k_run, temperature, best, c, lo, num_samples,
                     per_chunk, group):
        # Chunk `c` (candidates c * per_chunk ... of every instance) of the `group`
        # instances from `lo`, merged into their running best. The keys are those of the
        # whole chunk, so the split into groups changes nothing.
        batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
        num_steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances))
        run = jax.vmap(lambda s, k, g: search_episode(
            config, env, params, s, k, g, temperature, num_steps))
        part = functools.partial(lax.dynamic_slice_in_dim, start_index=lo * per_chunk,
                                 slice_size=group * per_chunk)
        keys = part(jax.random.split(jax.random.fold_in(k_run, c), batch * per_chunk))
        slot_in_chunk = jnp.tile(jnp.arange(per_chunk, dtype=jnp.int32), group)
        rows = jnp.arange(group, dtype=jnp.int32)
        best_makespan, best_state = jax.tree_util.tree_map(
            lambda x: lax.dynamic_slice_in_dim(x, lo, group), best)
        slot = c * per_chunk + slot_in_chunk  # candidate index; 0 is the greedy one
        final = run(jax.tree_util.tree_map(part, states), keys, slot == 0)
        real = (slot < num_samples).reshape(group, per_chunk)
        makespans = jnp.where(real, final.makespan.reshape(group, per_chunk), INT32_MAX)
        pick = jnp.argmin(makespans, axis=1)  # ties: the lowest slot (greedy first)
        cand = makespans[rows, pick]
        better = cand < best_makespan
        chosen = jax.tree_util.tree_map(lambda x: x[rows * per_chunk + pick], final)
        best_state = tree_select(better, chosen, best_state)
        merged = (jnp.minimum(cand, best_makespan), best_state)
        best = jax.tree_util.tree_map(
            lambda whole, new: lax.dynamic_update_slice_in_dim(whole, new, lo, 0), best, merged)
        return best, makespans

    # Stored lowered programs (`jaxshop.xla_cache`, on in the command line): the name
    # holds what the decoders close over.
    name = f"pointer decoders {config!r} {mode} {capacity} {fast}"
    start = xla_cache.reuse_traces(pointer_jit(sample_start, fast, static_argnums=(2,)),
                                   f"{name} sample start", static_argnums=(2,))
    statics = (8, 9, 10)
    step = xla_cache.reuse_traces(pointer_jit(sample_chunk, fast, static_argnums=statics),
                                  f"{name} sample chunk", static_argnums=statics)

    def sample(params, instances, key, temperature, num_samples, per_chunk, group,
               progress=None):
        # A host loop of jitted calls, one per chunk and group of instances (waited for,
        # so that progress is reported and Ctrl-C gets a turn between them); the same
        # candidates, keys and running best as one scan over the chunks. A last group
        # that would pass the end starts earlier and decodes some instances again, to
        # the same candidates (merging them again changes nothing).
        batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
        num_chunks = -(-num_samples // per_chunk)
        starts = [min(lo, batch - group) for lo in range(0, batch, group)]
        states, k_run, best = start(instances, key, per_chunk)
        makespans = np.zeros((batch, num_chunks * per_chunk), np.int32)
        calls, done = num_chunks * len(starts), 0
        for c in range(num_chunks):
            for lo in starts:
                best, part = step(params, instances, states, k_run, temperature, best,
                                  jnp.int32(c), jnp.int32(lo), num_samples, per_chunk, group)
                makespans[lo:lo + group, c * per_chunk:(c + 1) * per_chunk] = np.asarray(part)
                done += 1
                if progress is not None:
                    progress(done / calls)
        return best[1], jnp.asarray(makespans[:, :num_samples])

    return (env, xla_cache.reuse_traces(pointer_jit(greedy, fast), f"{name} greedy"), sample)


def chunk_size(num_samples: int, batch: int, pairs: int,
               chunk_pairs: int = SAMPLE_CHUNK_PAIRS) -> int:
    """Candidates per instance and chunk: at most `chunk_pairs` pairs per chunk (at least
    one candidate), balanced so the last chunk is about as full as the others."""
    most = max(1, min(num_samples, chunk_pairs // max(1, batch * pairs)))
    num_chunks = -(-num_samples // most)
    return -(-num_samples // num_chunks)


def call_group(per_chunk: int, batch: int, steps: int, pairs: int,
               call_pair_steps: int = CALL_PAIR_STEPS) -> int:
    """Instances per jitted call of best-of-N decoding with `per_chunk` candidates each:
    at most `call_pair_steps` (episode, pair, decision) slots per call (at least one
    instance), balanced so the groups are about equally full."""
    most = max(1, min(batch, call_pair_steps // max(1, per_chunk * steps * pairs)))
    groups = -(-batch // most)
    return -(-batch // groups)


def check_temperature(temperature: float) -> float:
    """The temperature as a float; ValueError outside `TEMPERATURE_RANGE`."""
    low, high = TEMPERATURE_RANGE
    value = float(temperature)
    if not low <= value <= high:  # also refuses NaN
        raise ValueError(f"temperature must be in {low:g}..{high:g}, got {temperature}")
    return value


def greedy_decode(agent: PointerAgent, instances: FJSPInstance, mode: str | None = None):
    """Final env states of greedy decoding of a stacked batch; `(states, env)`."""
    env, greedy, _ = _decoders(agent.config, mode or agent.config.mode, instances)
    return greedy(agent.params, instances), env


def sample_decode(agent: PointerAgent, instances: FJSPInstance, key: jax.Array,
                  num_samples: int, mode: str | None = None, temperature: float = 1.0,
                  chunk_pairs: int = SAMPLE_CHUNK_PAIRS, progress=None,
                  call_pair_steps: int = CALL_PAIR_STEPS):
    """Best of `num_samples` candidates per instance (the greedy one and
    `num_samples - 1` samples at `temperature`), decoded in chunks of about
    `chunk_pairs` (candidate, pair) slots, in jitted calls of at most about
    `call_pair_steps` (candidate, pair, decision) slots (`call_group`);
    `progress(fraction of the calls done)` after each.

    Returns `(best_states, makespans (B, num_samples) int32, env)`; column 0 of the
    makespans is the greedy candidate.
    """
    if not 1 <= num_samples <= MAX_SAMPLES:
        raise ValueError(f"num_samples must be in 1..{MAX_SAMPLES}, got {num_samples}")
    temperature = check_temperature(temperature)
    env, _, sample = _decoders(agent.config, mode or agent.config.mode, instances)
    batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
    jobs, _, machines = instances.shape
    per_chunk = chunk_size(int(num_samples), batch, jobs * machines, chunk_pairs)
    steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances))
    group = call_group(per_chunk, batch, steps, jobs * machines, call_pair_steps)
    states, makespans = sample(agent.params, instances, key, jnp.float32(temperature),
                               int(num_samples), per_chunk, group, progress)
    return states, makespans, env


def greedy_makespans(agent: PointerAgent, mode: str | None = None):
    """`Method.batch_makespans` of greedy decoding: `(instances, keys) -> (B,) makespans`
    (pure; the keys are unused, greedy decoding draws nothing; -1 if unfinished)."""
    env = jaxshop.cached_make("fjsp", mode=mode or agent.config.mode)

    def run(instances: FJSPInstance, keys: jax.Array) -> jax.Array:
        eps, _ = batch_episodes(agent.config, env, agent.params, instances,
                                jax.random.PRNGKey(0), True)
        return jnp.where(jax.vmap(env.is_done)(eps.state), eps.state.makespan, -1)

    return run


def solve_batch(agent: PointerAgent, instances: FJSPInstance, key: jax.Array,
                sample: int = 0, mode: str | None = None, temperature: float = 1.0,
                progress=None):
    """Greedy (`sample <= 0`) or best-of-`sample` (greedy included, `progress` between
    its chunks); returns `(final_states, env)`."""
    if sample and sample > 0:
        states, _, env = sample_decode(agent, instances, key, sample, mode, temperature,
                                       progress=progress)
        return states, env
    return greedy_decode(agent, instances, mode)
