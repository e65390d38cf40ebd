"""Random job-shop and flexible job-shop instances, jit-able from a key.

Both generators take optional padded sizes (`max_jobs`, `max_ops`, `max_machines`) so
that generated instances stack with, and step under the same compiled program as,
instances of other sizes. Invalid parameters raise `ValueError` at construction.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxshop.instances.types import FJSPInstance, check_worst_case


def song_ops_range(num_machines: int) -> tuple[int, int]:
    """Operations per job `U[0.8 M, 1.2 M]` (Song et al. 2022; (4, 6) for 5 machines)."""
    return max(1, round(0.8 * num_machines)), max(1, round(1.2 * num_machines))


def _padded(size: int, pad: int | None, what: str) -> int:
    pad = size if pad is None else pad
    if pad < size:
        raise ValueError(f"padded {what} {pad} smaller than the instance's {size}")
    return pad


def _range(name: str, bounds: tuple[int, int], lowest: int) -> tuple[int, int]:
    lo, hi = (int(b) for b in bounds)
    if not lowest <= lo <= hi:
        raise ValueError(f"{name} must satisfy {lowest} <= low <= high, got {bounds}")
    return lo, hi


def _pad_instance(times, eligible, num_ops, num_machines, shape) -> FJSPInstance:
    """Embeds `(n, o, m)` arrays into zeros of the padded `shape`."""
    J, O, M = shape  # noqa: E741
    n, o, m = eligible.shape
    p = jnp.zeros(shape, jnp.int32).at[:n, :o, :m].set(jnp.where(eligible, times, 0))
    e = jnp.zeros(shape, bool).at[:n, :o, :m].set(eligible)
    k = jnp.zeros(J, jnp.int32).at[:n].set(num_ops)
    return FJSPInstance(
        processing_times=p,
        eligible=e,
        num_ops=k,
        machine_mask=jnp.arange(M) < num_machines,
    )


def _bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """uint32 random words, drawn flat: several times faster on CPU than an n-d draw."""
    return jax.random.bits(key, (math.prod(shape),), jnp.uint32).reshape(shape)


def random_ranks(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Uniformly random permutation ranks along the last axis (int32, values 0..n-1).

    Pairwise comparison of random keys whose low bits hold the position (so keys are
    distinct): O(n^2) elementwise work, several times cheaper on CPU than an argsort.
    """
    n = shape[-1]
    low = max(1, (n - 1).bit_length())
    bits = _bits(key, shape)
    keys = (bits >> low << low) | jnp.arange(n, dtype=jnp.uint32)
    return (keys[..., None, :] < keys[..., :, None]).sum(-1, dtype=jnp.int32)


def uniform_ints(key: jax.Array, shape: tuple[int, ...], low: int, high: int) -> jax.Array:
    """int32 uniform on `[low, high]` from one random word per value.

    Multiply-shift (`floor(word * span / 2**32)`, in 16-bit halves so uint32 never
    overflows) has a relative bias below `span / 2**32`, and costs half of
    `jax.random.randint`, which draws two words per value; wider spans use `randint`.
    """
    span = high - low + 1
    if span > 2**16:
        return jax.random.randint(key, shape, low, high + 1, dtype=jnp.int32)
    word = _bits(key, shape)
    span_u = jnp.uint32(span)
    scaled = ((word >> 16) * span_u + (((word & 0xFFFF) * span_u) >> 16)) >> 16
    return scaled.astype(jnp.int32) + low


class JobShopGenerator:
    """Taillard-style job shop: `U[low, high]` times, each job visits every machine once
    in a uniformly random order (`num_ops = num_machines`)."""

    def __init__(self, num_jobs: int = 10, num_machines: int = 10, low: int = 1,
                 high: int = 99, max_jobs: int | None = None, max_ops: int | None = None,
                 max_machines: int | None = None):
        if num_jobs < 1 or num_machines < 1:
            raise ValueError("need at least one job and one machine")
        self.low, self.high = _range("times (low, high)", (low, high), 0)
        check_worst_case(num_jobs * num_machines, self.high, "JobShopGenerator")
        self.num_jobs, self.num_machines = num_jobs, num_machines
        self.shape = (
            _padded(num_jobs, max_jobs, "jobs"),
            _padded(num_machines, max_ops, "operations per job"),
            _padded(num_machines, max_machines, "machines"),
        )

    def __call__(self, key: jax.Array) -> FJSPInstance:
        n, m = self.num_jobs, self.num_machines
        k_time, k_order = jax.random.split(key)
        times = uniform_ints(k_time, (n, m), self.low, self.high)
        rank = random_ranks(k_order, (n, m))  # (n, m): position of each machine in the route
        eligible = rank[:, None, :] == jnp.arange(m)[None, :, None]  # (n, m ops, m machines)
        return _pad_instance(
            times[:, :, None], eligible, jnp.full(n, m, jnp.int32), m, self.shape
        )


class FJSPGenerator:
    """Brandimarte-style flexible job shop (the defaults are Song et al.'s 10x5 setting).

    Each job gets `U{ops_per_job}` operations; each operation `U{machines_per_op}`
    distinct eligible machines drawn uniformly; each (operation, eligible machine) pair an
    independent `U{time_range}` processing time. Ranges are inclusive `(low, high)`.
    """

    def __init__(self, num_jobs: int = 10, num_machines: int = 5,
                 ops_per_job: tuple[int, int] = (4, 6),
                 machines_per_op: tuple[int, int] = (1, 5),
                 time_range: tuple[int, int] = (1, 20), max_jobs: int | None = None,
                 max_ops: int | None = None, max_machines: int | None = None):
        if num_jobs < 1 or num_machines < 1:
            raise ValueError("need at least one job and one machine")
        self.num_jobs, self.num_machines = num_jobs, num_machines
        self.ops_per_job = _range("ops_per_job", ops_per_job, 1)
        self.machines_per_op = _range("machines_per_op", machines_per_op, 1)
        if self.machines_per_op[1] > num_machines:
            raise ValueError(
                f"machines_per_op {machines_per_op} exceeds num_machines {num_machines}"
            )
        self.time_range = _range("time_range", time_range, 0)
        check_worst_case(num_jobs * self.ops_per_job[1], self.time_range[1], "FJSPGenerator")
        self.shape = (
            _padded(num_jobs, max_jobs, "jobs"),
            _padded(self.ops_per_job[1], max_ops, "operations per job"),
            _padded(num_machines, max_machines, "machines"),
        )

    def __call__(self, key: jax.Array) -> FJSPInstance:
        n, m, o = self.num_jobs, self.num_machines, self.ops_per_job[1]
        k_ops, k_count, k_pick, k_time = jax.random.split(key, 4)
        num_ops = uniform_ints(k_ops, (n,), self.ops_per_job[0], o)
        count = uniform_ints(k_count, (n, o, 1), *self.machines_per_op)
        rank = random_ranks(k_pick, (n, o, m))
        op_mask = jnp.arange(o) < num_ops[:, None]
        eligible = (rank < count) & op_mask[:, :, None]
        lo, hi = self.time_range
        times = uniform_ints(k_time, (n, o, m), lo, hi)
        return _pad_instance(times, eligible, num_ops, m, self.shape)


def brandimarte_generator(num_jobs: int, num_machines: int,
                          ops_per_job: tuple[int, int] | None = None,
                          time_range: tuple[int, int] = (1, 20), max_jobs: int | None = None,
                          max_ops: int | None = None,
                          max_machines: int | None = None) -> FJSPGenerator:
    """The Brandimarte-style random FJSP every trainer and `--random fjsp:...` draws from:
    `ops_per_job` operations per job (default Song et al.'s `U[0.8 M, 1.2 M]`), `U[1, M]`
    eligible machines per operation, times `U[time_range]`; optionally padded."""
    ops = song_ops_range(num_machines) if ops_per_job is None else ops_per_job
    return FJSPGenerator(num_jobs, num_machines, ops_per_job=ops,
                         machines_per_op=(1, num_machines), time_range=time_range,
                         max_jobs=max_jobs, max_ops=max_ops, max_machines=max_machines)
