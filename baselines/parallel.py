"""Data-parallel scale-out with JAX's own SPMD machinery: one mesh, one data axis.

The batch (instances, env states, PRNG keys: anything with a leading batch axis) is
sharded over the mesh's `"data"` axis; parameters and optimizer state are replicated.
Under `jax.jit` XLA's partitioner then runs each device's share of the batch and inserts
the all-reduce wherever a batch mean is taken, so gradients are averaged over the global
batch with no code of ours. Results equal a one-device run with the same global batch and
key (to float tolerance: only the summation order changes) as long as PRNG keys are split
per global batch element (`jax.random.split(key, batch)`), never per device.

API (the placement helpers are no-ops without a mesh in context, or with a 1-device one):

- `make_mesh(num_devices=None)`: a 1-D `Mesh` over the first `num_devices` devices
  (default: all devices of all processes) with the axis `DATA` (`"data"`).
- `use_mesh(mesh)`: context (`jax.set_mesh`) in which jitted code sees the mesh; a
  trainer's host loop runs inside it. `active_mesh()` is the mesh in context (or None).
- `shard_batch(tree)`: leading axis on `DATA`. Inside `jit` it is a
  `with_sharding_constraint` (put it on the per-update batch of instances / env states
  in a `make_train`); outside it places host or device arrays (every process passes the
  same global array).
- `replicate(tree)`: every leaf whole on every device (parameters, optimizer state,
  runner state before the first jitted call; inside `jit`, a constraint).
- `per_shard(fn, *xs)`: `fn` on each device's own rows (`jax.shard_map`), for a row loop
  (`lax.map`) that must not run over the whole sharded batch.
- `data_sharding(mesh)` / `replicated(mesh)`: the two `NamedSharding`s;
  `check_divides(batch, mesh, what)` refuses a batch that does not split evenly.
- `map_chunks(fn, xs, chunk_size)`: `fn` over a batch larger than memory in fixed-size
  jitted chunks (one compile; the last chunk padded), outputs gathered to host numpy.
- Multi-host: `maybe_initialize_distributed(enabled, coordinator, num_processes,
  process_id)` calls `jax.distributed.initialize` (flags, else `JAX_COORDINATOR_ADDRESS`,
  `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`; CPU collectives via gloo); `is_main_process()`
  (process 0 logs, draws progress and writes files); `sync(name)` is a barrier;
  `host_value(x)` fetches a replicated or sharded global array on every process.
- CLI: `add_mesh_options(parser)` adds `--mesh N` and `--distributed` (+ coordinator
  flags); `mesh_from_args(args)` initializes and returns the mesh; `run_info(mesh)` is
  the `{"devices", "processes", ...}` record for meta.json and eval JSON;
  `peak_memory()` the peak device (or host) memory in bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import operator
import os
import resource
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jaxshop.options import UsageError, int_in

DATA = "data"
#: Environment variables read when `--distributed` is given without the flags.
ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh with the axis `DATA` over the first `num_devices` global devices."""
    devices = jax.devices()
    n = len(devices) if num_devices is None else int(num_devices)
    if not 1 <= n <= len(devices):
        raise ValueError(f"mesh of {n} devices asked, {len(devices)} available")
    if jax.process_count() > 1 and n != len(devices):
        raise ValueError("a multi-process run uses every device of every process")
    return Mesh(np.array(devices[:n]), (DATA,), axis_types=(AxisType.Auto,))


def use_mesh(mesh: Mesh | None):
    """Context in which `mesh` is JAX's current mesh (`jax.set_mesh`); None: no change."""
    return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)


def active_mesh() -> Mesh | None:
    """The concrete mesh in context, or None."""
    mesh = jax.sharding.get_mesh()
    return None if mesh.empty else mesh


def data_size() -> int:
    """Devices on the `DATA` axis of the mesh in context (1 without a mesh)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or DATA not in mesh.axis_names:
        return 1
    return mesh.shape[DATA]


def check_divides(batch: int, mesh: Mesh, what: str) -> None:
    """ValueError naming `what` (e.g. "--batch 100") when it does not split over the mesh."""
    if batch % mesh.size:
        raise ValueError(f"{what} does not split over the {mesh.size} devices of the mesh; "
                         "use a multiple of it (or --mesh with fewer devices)")


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over `DATA`, the rest whole."""
    return NamedSharding(mesh, PartitionSpec(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, PartitionSpec())


def _place(tree: Any, spec: PartitionSpec) -> Any:
    if data_size() == 1 and jax.process_count() == 1:
        return tree
    leaves = jax.tree_util.tree_leaves(tree)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return jax.lax.with_sharding_constraint(tree, spec)
    mesh = jax.sharding.get_mesh()
    if mesh.empty:  # only an abstract mesh (inside jit without tracers): leave it
        return tree
    sharding = NamedSharding(mesh, spec)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        # Every process holds the same global value: each places its own devices' shards.
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree_util.tree_map(put, tree)


def shard_batch(tree: Any) -> Any:
    """Leading (batch) axis of every leaf on `DATA` of the mesh in context.

    The batch must divide by the number of devices on that axis (a ValueError otherwise).
    """
    n = data_size()
    for x in jax.tree_util.tree_leaves(tree):
        if n > 1 and (np.ndim(x) == 0 or np.shape(x)[0] % n):
            raise ValueError(f"batch of {np.shape(x)[:1]} does not split over {n} devices; "
                             f"use a batch that is a multiple of {n}")
    if n == 1:
        return tree
    return _place(tree, PartitionSpec(DATA))


def replicate(tree: Any) -> Any:
    """Every leaf whole on every device of the mesh in context (parameters, optimizer)."""
    return _place(tree, PartitionSpec())


def per_shard(fn: Callable[..., Any], *xs: Any) -> Any:
    """`fn(*xs)` run by each device on its own shard of the batch (`jax.shard_map`).

    For per-row work whose inner loop (`lax.map`, `lax.scan`) would otherwise run over the
    whole sharded batch: every leaf of `xs` and of the result has the batch as leading
    axis, split over `DATA`. Without a data mesh in context it is just `fn(*xs)`.
    """
    if data_size() == 1:
        return fn(*xs)
    spec = PartitionSpec(DATA)
    return jax.shard_map(fn, in_specs=spec, out_specs=spec)(*xs)


def host_value(tree: Any) -> Any:
    """The global value of every leaf as numpy on this process (gathers sharded leaves)."""

    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if x.is_fully_replicated:
                return np.asarray(x.addressable_data(0))
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree_util.tree_map(get, tree)


def map_chunks(fn: Callable[[Any], Any], xs: Any, chunk_size: int,
               progress: Callable[[int], None] | None = None, jit: Callable = jax.jit,
               stats: dict[str, float] | None = None, keep_partial: bool = False) -> Any:
    """`fn` over a batch with leading size N, in jitted chunks of `chunk_size`.

    Every chunk has the same shape (the last one is padded with copies of its first row
    and the padding dropped), so `fn` is traced and compiled once (ahead of time; the
    seconds go to `stats["compile_seconds"]` when `stats` is given); each chunk is
    sharded over `DATA` of the mesh in context (`chunk_size` is rounded up to a multiple
    of its size). `fn` maps a pytree of arrays with leading size `chunk_size` to one with
    the same leading size. Returns numpy leaves of leading size N; `progress(done)`
    after every chunk. Only one chunk's inputs and outputs live on the devices at a
    time, plus the next one already dispatched. With `keep_partial`, a Ctrl-C between
    chunks returns the finished chunks' rows (a shorter leading size) instead of raising.
    """
    host = jax.tree_util.tree_map(np.asarray, xs)
    total = int(np.shape(jax.tree_util.tree_leaves(host)[0])[0])
    if total == 0:
        raise ValueError("map_chunks: empty batch")
    n_dev = data_size()
    chunk = -(-max(1, int(chunk_size)) // n_dev) * n_dev

    def piece(start: int) -> Any:
        def cut(x):
            part = x[start:start + chunk]
            if len(part) < chunk:
                part = np.concatenate([part, np.repeat(part[:1], chunk - len(part), axis=0)])
            return part

        return shard_batch(jax.tree_util.tree_map(cut, host))

    t0 = time.perf_counter()
    first = piece(0)
    run = jit(lambda c: shard_batch(fn(shard_batch(c)))).lower(first).compile()
    if stats is not None:
        stats["compile_seconds"] = time.perf_counter() - t0
    outs: list[Any] = []
    try:
        pending = run(first)
        for start in range(0, total, chunk):
            nxt = run(piece(start + chunk)) if start + chunk < total else None
            done = min(total, start + chunk)
            keep = operator.itemgetter(slice(0, done - start))  # drops the padding
            outs.append(jax.tree_util.tree_map(keep, host_value(pending)))
            pending = nxt
            if progress is not None:
                progress(done)
    except KeyboardInterrupt:
        if not keep_partial or not outs:
            raise
    return jax.tree_util.tree_map(lambda *ys: np.concatenate(ys), *outs)


# ------------------------------------------------------------------ multi-host


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    if not value.strip().isdigit():
        raise UsageError(f"--distributed: ${name} must be a non-negative integer, got {value!r}")
    return int(value)


def maybe_initialize_distributed(enabled: bool, coordinator: str | None = None,
                                 num_processes: int | None = None,
                                 process_id: int | None = None) -> bool:
    """`jax.distributed.initialize` when `enabled` (before any other JAX call).

    Missing values come from `$JAX_COORDINATOR_ADDRESS`, `$JAX_NUM_PROCESSES` and
    `$JAX_PROCESS_ID`; if those are unset too, JAX's own cluster detection (SLURM, ...)
    decides. On CPU, collectives go through gloo. Returns whether it initialized.
    """
    if not enabled:
        return False
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR) or None
    num_processes = num_processes if num_processes is not None else _env_int(ENV_NUM_PROCESSES)
    process_id = process_id if process_id is not None else _env_int(ENV_PROCESS_ID)
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise UsageError(f"--process-id {process_id} must be below --num-processes "
                         f"{num_processes}")
    if coordinator is not None and ":" not in coordinator:
        raise UsageError(f"--coordinator expects HOST:PORT, got {coordinator!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
    return True


def sync(name: str) -> None:
    """Waits until every process reaches the barrier `name` (no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def is_main_process() -> bool:
    """True on process 0 (the one that logs, draws progress and writes files)."""
    return jax.process_index() == 0


def run_info(mesh: Mesh | None = None) -> dict[str, Any]:
    """What a run used: `devices` (in `mesh`; default the mesh in context, else the one
    default device), `processes`, `device_kind`, `platform`."""
    mesh = active_mesh() if mesh is None else mesh
    devices = list(mesh.devices.flat) if mesh is not None else jax.devices()[:1]
    return {
        "devices": len(devices),
        "processes": jax.process_count(),
        "device_kind": devices[0].device_kind,
        "platform": devices[0].platform,
    }


def peak_memory() -> dict[str, int | None]:
    """Peak bytes in use: summed over local devices (when the backend reports it) and the
    host process's peak resident set size."""
    device = 0
    reported = False
    for d in jax.local_devices():
        stats = d.memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            device += int(stats["peak_bytes_in_use"])
            reported = True
    host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"device_peak_bytes": device if reported else None, "host_peak_rss_bytes": host}


# ------------------------------------------------------------------ command line


def mesh_size(text: str) -> int | None:
    """`type=` for `--mesh`: `all` (every device) or a device count >= 1."""
    token = text.strip().lower()
    return None if token in ("all", "auto") else int_in(1, 1 << 20, "'all' or a device count")(text)


def add_mesh_options(p: argparse.ArgumentParser) -> None:
    """--mesh, --distributed, --coordinator, --num-processes, --process-id."""
    p.add_argument("--mesh", type=mesh_size, default=None, metavar="N|all",
                   help="devices of the data axis: the batch is split over them, "
                   "parameters replicated (default all)")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: jax.distributed.initialize (coordinator, process count "
                   f"and id from the flags below or ${ENV_COORDINATOR}, ${ENV_NUM_PROCESSES}, "
                   f"${ENV_PROCESS_ID})")
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="--distributed: address of process 0")
    p.add_argument("--num-processes", type=int_in(1, 1 << 16), default=None,
                   help="--distributed: number of processes")
    p.add_argument("--process-id", type=int_in(0, 1 << 16), default=None,
                   help="--distributed: this process's id, 0..N-1")


def mesh_from_args(args: argparse.Namespace) -> Mesh:
    """Initializes multi-host JAX when asked (`--distributed`) and builds the mesh of
    `--mesh`; every trainer (they share `jaxshop_baselines.loop`) runs multi-host."""
    given = [f for f, v in (("--coordinator", args.coordinator),
                            ("--num-processes", args.num_processes),
                            ("--process-id", args.process_id)) if v is not None]
    if given and not args.distributed:
        raise UsageError(f"{', '.join(given)} only apply with --distributed")
    maybe_initialize_distributed(args.distributed, args.coordinator, args.num_processes,
                                 args.process_id)
    try:
        return make_mesh(args.mesh)
    except ValueError as err:
        raise UsageError(f"--mesh: {err}") from None
