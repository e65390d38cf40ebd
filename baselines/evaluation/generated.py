"""Evaluation of a generator-defined suite (`fjsp:10x5:1000000`) in bounded memory.

`evaluate_generated(method, suite, key)` draws instance `i` from key `i` of
`jax.random.split(key, N)` (split again into instance and solve keys), solves it with the
method's pure `batch_makespans`, and runs the whole suite through
`jaxshop_baselines.parallel.map_chunks`: fixed-size jitted chunks (one compile) of about a second's
work each (progress and Ctrl-C between them), each sharded over the data axis of the mesh
in context. Only the keys (8 bytes per instance) and the
makespans (4 bytes) ever exist for the whole suite; instances and env states exist one
chunk at a time. The result does not depend on the chunk size or the number of devices.

`generated_chunk_for(method, spec, suite, options)` checks, before any compile, that the
method can solve a generated suite and that the work is within the limits
(`jaxshop_baselines.limits`), and says the chunk size to use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jaxshop_baselines import parallel
from jaxshop_baselines.limits import check_workload, generated_chunk_size
from jaxshop_baselines.methods import Method

from jaxshop.instances.generated import GeneratedSuite

DEFAULT_CHUNK = 4096  # instances per jitted call at most (small instances)


def generated_chunk(method: Method, suite: GeneratedSuite) -> Callable[[jax.Array], jax.Array]:
    """`(keys (C, 2)) -> makespans (C,)`: instance generation and solving of one chunk."""
    if method.batch_makespans is None:
        raise ValueError(f"method {method.name!r} cannot evaluate a generated suite (it has no "
                         "batched solver; random, rule:..., neh have one)")
    generate = suite.generator()

    def run(keys: jax.Array) -> jax.Array:
        split = jax.vmap(jax.random.split)(keys)  # (C, 2, 2): instance key, solve key
        instances = parallel.shard_batch(jax.vmap(generate)(split[:, 0]))
        return method.batch_makespans(instances, split[:, 1])

    return run


def generated_chunk_for(method: Method, spec: str, suite: GeneratedSuite,
                        options: dict[str, Any], chunk: int | None = None) -> int:
    """The chunk size for `method` (named `spec`, with `options`) on `suite`: `chunk`, else
    about a second's work (progress and Ctrl-C between chunks). ValueError, before any
    compile, for a method without a batched solver or work beyond the limits."""
    if method.batch_makespans is None:
        raise ValueError(f"method {spec!r} cannot solve --random suites (no batched solver"
                         f"{' with --sample' if options.get('sample') else ''}); use random, "
                         "rule:..., neh or greedy pointer")
    example = suite.generator()(jax.random.PRNGKey(0))
    chunk = chunk or generated_chunk_size(example, spec, options)
    check_workload([example], spec, options, count=suite.count, chunk=chunk)
    return chunk


def evaluate_generated(method: Method, suite: GeneratedSuite, key: jax.Array,
                       chunk_size: int | None = None,
                       progress: Callable[[int], None] | None = None,
                       options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Solves every instance of `suite`; returns the summary and the `(N,)` makespans.

    `chunk_size`: instances per jitted call; default `jaxshop_baselines.limits.generated_chunk_size`
    of the method (with its `options`), about a second's work, at most `DEFAULT_CHUNK`.
    `progress(instances done)` after every chunk: between chunks the host also gets
    Ctrl-C. (`jaxshop eval --random` refuses, before this, a suite estimated beyond
    `jaxshop_baselines.limits.MAX_TOTAL_SECONDS`.)

    A Ctrl-C after the first chunk ends the run early with the chunks finished so far:
    `evaluated` instances (the first ones), `complete` False.

    Keys: `makespans` (int32 numpy, -1 = unfinished), `evaluated`, `complete`, `solved`,
    `mean_makespan`, `std_makespan`, `seconds` (solving), `compile_seconds`,
    `instances_per_second`, `chunk_size` (rounded up to a multiple of the devices), and
    `run_info` / `peak_memory` fields of `jaxshop_baselines.parallel`.
    """
    run = generated_chunk(method, suite)
    if chunk_size is None:
        example = suite.generator()(jax.random.PRNGKey(0))
        chunk_size = generated_chunk_size(example, method.name, options or {}, DEFAULT_CHUNK)
    keys = np.asarray(jax.random.split(key, suite.count))  # (N, 2) uint32, 8 bytes each
    stats: dict[str, float] = {}
    t0 = time.perf_counter()
    makespans = parallel.map_chunks(run, keys, min(chunk_size, suite.count),
                                    progress=progress, stats=stats, keep_partial=True)
    seconds = time.perf_counter() - t0 - stats["compile_seconds"]
    evaluated = int(makespans.shape[0])  # < suite.count after a Ctrl-C between chunks
    done = makespans[makespans >= 0]
    mesh = parallel.active_mesh()
    devices = 1 if mesh is None else mesh.size
    return {
        "makespans": makespans,
        "evaluated": evaluated,
        "complete": evaluated == suite.count,
        "solved": int(done.size),
        "mean_makespan": float(done.mean()) if done.size else None,
        "std_makespan": float(done.std()) if done.size else None,
        "seconds": round(seconds, 3),
        "compile_seconds": round(stats["compile_seconds"], 3),
        "instances_per_second": round(evaluated / seconds, 1) if seconds > 0 else None,
        "chunk_size": -(-min(chunk_size, suite.count) // devices) * devices,
        **parallel.run_info(),
        **parallel.peak_memory(),
    }


#: `eval --random ... --bounds cpsat:S` solves every instance with CP-SAT: at most this many
MAX_BOUNDED_INSTANCES = 10_000


def generated_instances(suite: GeneratedSuite, key: jax.Array, count: int) -> list[Any]:
    """The first `count` instances of `suite` under `key` (the ones `evaluate_generated`
    solves, drawn the same way), as NumPy instances."""
    keys = jax.random.split(key, suite.count)[:count]
    batch = jax.jit(jax.vmap(suite.generator()))(jax.vmap(jax.random.split)(keys)[:, 0])
    batch = jax.tree_util.tree_map(np.asarray, batch)
    return [jax.tree_util.tree_map(lambda x, i=i: x[i], batch) for i in range(count)]


def attach_generated_bounds(out: dict[str, Any], makespans: np.ndarray, suite: GeneratedSuite,
                            key: jax.Array, seconds: float, workers: int | None = None,
                            progress: Any = None) -> dict[str, Any]:
    """CP-SAT's bounds at `seconds` per instance (`cpsat.cached_bounds`, cached by content)
    on the evaluated instances: the mean gap of the method's makespans to CP-SAT's proven
    lower bound and to CP-SAT's own makespan, and how many CP-SAT proved optimal."""
    from jaxshop_baselines.cpsat import cached_bounds

    count = int(makespans.shape[0])
    bounds = cached_bounds(generated_instances(suite, key, count), seconds, workers, progress)
    lower = np.array([max(1, b["lower_bound"]) for b in bounds], float)
    upper = np.array([b["upper_bound"] for b in bounds], float)
    done = makespans >= 0
    gap_lb = 100.0 * (makespans[done] - lower[done]) / lower[done]
    gap_ub = 100.0 * (makespans[done] - upper[done]) / upper[done]
    return {**out, "bounds": f"cpsat:{seconds:g}",
            "mean_gap_to_cpsat_lower_bound_percent": round(float(gap_lb.mean()), 4),
            "mean_gap_to_cpsat_makespan_percent": round(float(gap_ub.mean()), 4),
            "cpsat_mean_makespan": round(float(upper.mean()), 4),
            "cpsat_mean_gap_to_own_bound_percent":
                round(float((100.0 * (upper - lower) / lower).mean()), 4),
            "cpsat_optimal": sum(b["status"] == "optimal" for b in bounds)}
