"""Instance pytrees shared by every env.

Instances are `flax.struct` dataclasses of integer/bool arrays (`jax.Array | np.ndarray`),
so a batch of different instances (padded to one shape with `stack`) vmaps together.
Loaded instances hold NumPy arrays of their exact size, an env's state JAX arrays; padding
only ever appends jobs/operations/machines that can never be chosen and never change a
makespan.

Conventions: jobs, operations and machines are 0-based; times are int32.

What `reset` assumes of arrays built by hand (and what `validate_instance` checks, so a
wrong array is a `ValueError` naming the field, never a silent cast or a wrong makespan):

* `processing_times` holds integers (an integer dtype; floats are refused even when
  whole), `>= 0`, each at most `MAX_TIME`; masks are bool; `num_ops` is an integer in
  `0..max_ops`.
* The worst-case makespan, the sum over every real operation of its largest eligible time,
  is at most `MAX_MAKESPAN` (half of int32, so that sums of two schedule times, as NEH's
  heads plus tails, cannot wrap).
* FJSP: every real operation has at least one eligible real machine; padded operations,
  jobs and machines are never eligible. `machine_mask` is a prefix of real machines.

The checks run when an instance is built from host (NumPy) arrays of numbers, in the
`from_*` constructors, in `pad`/`stack`, in an eager `reset`, in every method's `solve`,
and whenever `validate_instance` is called; arrays inside `jit`/`vmap` are not checked
(check a batch once, outside).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax
import numpy as np
import numpy.typing as npt
from flax import struct

INT32_MAX = int(np.iinfo(np.int32).max)
#: Largest accepted processing time of one operation.
MAX_TIME = INT32_MAX // 4
#: Largest accepted worst-case makespan (sum over operations of their largest time).
MAX_MAKESPAN = INT32_MAX // 2


@struct.dataclass
class PFSPInstance:
    """Permutation flow shop: every job visits machines 0..m-1 in order."""

    processing_times: jax.Array | np.ndarray  # (max_jobs, max_machines) int32, 0 on padding
    job_mask: jax.Array | np.ndarray  # (max_jobs,) bool, True for real jobs
    machine_mask: jax.Array | np.ndarray  # (max_machines,) bool, True for real machines (a prefix)

    def __post_init__(self) -> None:
        _check_fields(self, {"processing_times": "i", "job_mask": "b", "machine_mask": "b"})

    @property
    def num_jobs(self) -> jax.Array | np.ndarray | np.integer:
        return self.job_mask.sum(-1)

    @property
    def num_machines(self) -> jax.Array | np.ndarray | np.integer:
        return self.machine_mask.sum(-1)

    @property
    def shape(self) -> tuple[int, int]:
        """Padded (max_jobs, max_machines)."""
        return tuple(self.processing_times.shape[-2:])

    @classmethod
    def from_array(cls, processing_times: npt.ArrayLike, source: str = "<array>") -> PFSPInstance:
        """Checks and wraps an exact-size `(n_jobs, n_machines)` array."""
        p = _as_int_array(processing_times, 2, source)
        if p.shape[0] < 1 or p.shape[1] < 1:
            raise ValueError(f"{source}: a flow shop needs at least one job and one machine")
        n, m = p.shape
        with _named(source):
            return cls(p, np.ones(n, bool), np.ones(m, bool))


@struct.dataclass
class FJSPInstance:
    """Flexible job shop; the job shop is the case of one eligible machine per operation.

    Operations of a job form a prefix of length `num_ops[j]` along the ops axis.
    """

    # (max_jobs, max_ops, max_machines) int32, 0 where not eligible
    processing_times: jax.Array | np.ndarray
    eligible: jax.Array | np.ndarray  # (max_jobs, max_ops, max_machines) bool
    num_ops: jax.Array | np.ndarray  # (max_jobs,) int32, 0 for padded jobs
    machine_mask: jax.Array | np.ndarray  # (max_machines,) bool, True for real machines (a prefix)

    def __post_init__(self) -> None:
        _check_fields(
            self,
            {"processing_times": "i", "eligible": "b", "num_ops": "i", "machine_mask": "b"},
        )

    @property
    def op_mask(self) -> jax.Array | np.ndarray:
        """(max_jobs, max_ops) bool: the operation exists."""
        return self.num_ops[..., None] > np.arange(self.eligible.shape[-2])

    @property
    def job_mask(self) -> jax.Array | np.ndarray:
        return self.num_ops > 0

    @property
    def num_jobs(self) -> jax.Array | np.ndarray | np.integer:
        return (self.num_ops > 0).sum(-1)

    @property
    def num_machines(self) -> jax.Array | np.ndarray | np.integer:
        return self.machine_mask.sum(-1)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Padded (max_jobs, max_ops, max_machines)."""
        return tuple(self.eligible.shape[-3:])

    @classmethod
    def from_operations(
        cls, jobs: list[list[dict[int, int]]], num_machines: int, source: str = "<operations>"
    ) -> FJSPInstance:
        """Builds an exact-size instance from `jobs[j][k] = {machine: time}` (0-based)."""
        if not jobs:
            raise ValueError(f"{source}: an instance needs at least one job")
        if num_machines < 1:
            raise ValueError(f"{source}: an instance needs at least one machine")
        max_ops = max(len(ops) for ops in jobs)
        if max_ops < 1:
            raise ValueError(f"{source}: every job needs at least one operation")
        p = np.zeros((len(jobs), max_ops, num_machines), np.int32)
        e = np.zeros((len(jobs), max_ops, num_machines), bool)
        for j, ops in enumerate(jobs):
            if not ops:
                raise ValueError(f"{source}: job {j} has no operations")
            for k, alts in enumerate(ops):
                if not alts:
                    raise ValueError(f"{source}: job {j} operation {k} has no eligible machine")
                for mach, t in alts.items():
                    for what, v in (("machine", mach), ("time", t)):
                        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                            raise ValueError(
                                f"{source}: job {j} operation {k}: {what} must be an "
                                f"integer, got {v!r}"
                            )
                    if t > MAX_TIME:
                        raise ValueError(
                            f"{source}: job {j} operation {k}: time {t} exceeds the maximum "
                            f"{MAX_TIME}"
                        )
                    if not 0 <= mach < num_machines:
                        raise ValueError(
                            f"{source}: job {j} operation {k}: machine {mach} out of range "
                            f"0..{num_machines - 1}"
                        )
                    if t < 0:
                        raise ValueError(f"{source}: job {j} operation {k}: negative time {t}")
                    p[j, k, mach] = t
                    e[j, k, mach] = True
        num_ops = np.array([len(ops) for ops in jobs], np.int32)
        with _named(source):
            return cls(p, e, num_ops, np.ones(num_machines, bool))

    @classmethod
    def from_job_shop(cls, machines: npt.ArrayLike, times: npt.ArrayLike,
                      source: str = "<job shop>") -> FJSPInstance:
        """Builds a job shop from `(n_jobs, n_ops)` machine orders and times (0-based)."""
        machines = _as_int_array(machines, 2, source)
        times = _as_int_array(times, 2, source)
        if machines.shape != times.shape:
            raise ValueError(f"{source}: machine and time tables differ in shape")
        m = int(machines.max()) + 1 if machines.size else 0
        jobs = [
            [{int(mc): int(t)} for mc, t in zip(mrow, trow, strict=True)]
            for mrow, trow in zip(machines, times, strict=True)
        ]
        return cls.from_operations(jobs, m, source)

    def to_operations(self) -> list[list[dict[int, int]]]:
        """The inverse of `from_operations` for one unbatched instance."""
        e = np.asarray(self.eligible)
        p = np.asarray(self.processing_times)
        n_ops = np.asarray(self.num_ops)
        return [
            [
                {int(mc): int(p[j, k, mc]) for mc in np.flatnonzero(e[j, k])}
                for k in range(int(n_ops[j]))
            ]
            for j in range(len(n_ops))
            if n_ops[j] > 0
        ]

    def is_job_shop(self) -> bool:
        """True when every real operation has exactly one eligible machine."""
        counts = np.asarray(self.eligible).sum(-1)
        return bool((counts[np.asarray(self.op_mask)] == 1).all())


def _as_int_array(x: npt.ArrayLike, ndim: int, source: str) -> np.ndarray:
    """`x` as an int32 array of `ndim` dimensions; whole floats are accepted only from
    lists and float arrays whose every value is a finite integer (never truncated)."""
    a = np.asarray(x)
    if a.ndim != ndim:
        raise ValueError(f"{source}: expected a {ndim}-d array, got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{source}: times must be integers (got non-integer or non-finite)")
    elif a.dtype.kind not in "iu":
        raise ValueError(f"{source}: times must be integers, got dtype {a.dtype}")
    if a.size and a.max() > MAX_TIME:
        raise ValueError(f"{source}: time {a.max()} is larger than the maximum {MAX_TIME}")
    if a.size and a.min() < 0:
        raise ValueError(f"{source}: negative value {a.min()}")
    return a.astype(np.int32)


_SOURCE: contextvars.ContextVar[str | None] = contextvars.ContextVar("source", default=None)


@contextlib.contextmanager
def _named(source: str) -> Iterator[None]:
    """Names `source` (a file, say) in the errors of instances built inside the block."""
    token = _SOURCE.set(source)
    try:
        yield
    finally:
        _SOURCE.reset(token)


def _is_host_array(x: object) -> bool:
    return isinstance(x, (np.ndarray, list, tuple))


def _check_fields(instance: Instance, kinds: dict[str, str]) -> None:
    """The checks of `validate_instance` when an instance is built from host (NumPy) arrays
    of numbers. JAX arrays and tracers are not checked here (that would sync the device on
    every transformation); nor are pytrees that tools map to other leaves (bools from
    `chex.assert_tree_all_finite`, specs, ...): those are not instances of data."""
    fields = [getattr(instance, name) for name in kinds]
    if not all(_is_host_array(x) for x in fields):
        return
    times = np.asarray(fields[0])
    if times.dtype.kind not in "iuf":  # a mapped predicate or placeholder, not data
        return
    validate_instance(instance, source=_SOURCE.get() or type(instance).__name__)


def _host(instance: Instance, name: str) -> np.ndarray:
    return np.asarray(getattr(instance, name))


def _fail(source: str, message: str) -> ValueError:
    return ValueError(f"{source}: {message}")


def _check_layout(
    source: str, shapes_ok: bool, arrays: dict[str, np.ndarray], masks: tuple[str, ...]
) -> None:
    """Refuses inconsistent shapes (naming every array's shape), then masks not of dtype bool."""
    if not shapes_ok:
        shapes = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise _fail(source, f"inconsistent shapes: {shapes}")
    for name in masks:
        if arrays[name].dtype.kind != "b":
            raise _fail(source, f"{name} must have dtype bool, got {arrays[name].dtype}")


def _check_prefix(mask: np.ndarray, source: str, name: str) -> None:
    # A prefix mask never has a True after a False.
    if mask.shape[-1] > 1 and (mask[..., 1:] & ~mask[..., :-1]).any():
        raise _fail(source, f"{name} must mark a prefix (real entries first, padding last)")


def _check_times(p: np.ndarray, source: str) -> None:
    if p.dtype.kind not in "iu":
        raise _fail(source, f"processing_times must have an integer dtype, got {p.dtype}")
    if p.size and p.min() < 0:
        idx = np.unravel_index(np.argmin(p), p.shape)
        raise _fail(source, f"processing_times: negative time {p[idx]} at index {tuple(idx)}")
    if p.size and p.max() > MAX_TIME:
        idx = np.unravel_index(np.argmax(p), p.shape)
        raise _fail(
            source, f"processing_times: time {p[idx]} at index {tuple(int(i) for i in idx)} "
            f"exceeds the maximum {MAX_TIME}",
        )


def _check_worst_case(total: np.ndarray, source: str) -> None:
    worst = int(np.max(total, initial=0))
    if worst > MAX_MAKESPAN:
        raise _fail(
            source,
            f"worst-case makespan {worst} (the sum of every operation's largest time) exceeds "
            f"{MAX_MAKESPAN}, the most that int32 schedule arithmetic holds without overflow; "
            "scale the processing times down",
        )


def check_worst_case(operations: int, max_time: int, source: str) -> None:
    """Refuses generators whose instances could overflow int32 schedule arithmetic."""
    if max_time > MAX_TIME:
        raise ValueError(f"{source}: largest time {max_time} exceeds the maximum {MAX_TIME}")
    if operations * max_time > MAX_MAKESPAN:
        raise ValueError(
            f"{source}: {operations} operations of up to {max_time} could reach makespan "
            f"{operations * max_time} > {MAX_MAKESPAN} (int32 overflow); use smaller times"
        )


def validate_instance(instance: Instance, source: str = "instance") -> Instance:
    """Checks an instance (unbatched or batched, NumPy or JAX arrays) and returns it.

    Raises `ValueError` naming the field for: non-integer or negative times, times above
    `MAX_TIME`, wrong dtypes or inconsistent shapes, `num_ops` outside `0..max_ops`,
    non-prefix machine masks, eligibility on padding, an operation with no eligible machine,
    and a worst-case makespan above `MAX_MAKESPAN` (which would overflow int32). This is
    everything `reset` assumes; it syncs JAX arrays to the host, so call it outside `jit`.
    """
    if isinstance(instance, PFSPInstance):
        p = _host(instance, "processing_times")
        jm, mm = _host(instance, "job_mask"), _host(instance, "machine_mask")
        _check_layout(
            source, p.ndim >= 2 and jm.shape == p.shape[:-1]
            and mm.shape == p.shape[:-2] + p.shape[-1:],
            {"processing_times": p, "job_mask": jm, "machine_mask": mm},
            ("job_mask", "machine_mask"),
        )
        _check_times(p, source)
        _check_prefix(mm, source, "machine_mask")
        real = jm[..., :, None] & mm[..., None, :]
        if (p[~real] != 0).any():
            raise _fail(source, "processing_times must be 0 on padded jobs and machines")
        _check_worst_case(p.astype(np.int64).sum((-2, -1)), source)
        return instance
    if isinstance(instance, FJSPInstance):
        p, e = _host(instance, "processing_times"), _host(instance, "eligible")
        k, mm = _host(instance, "num_ops"), _host(instance, "machine_mask")
        _check_layout(
            source, p.ndim >= 3 and e.shape == p.shape and k.shape == p.shape[:-2]
            and mm.shape == p.shape[:-3] + p.shape[-1:],
            {"processing_times": p, "eligible": e, "num_ops": k, "machine_mask": mm},
            ("eligible", "machine_mask"),
        )
        if k.dtype.kind not in "iu":
            raise _fail(source, f"num_ops must have an integer dtype, got {k.dtype}")
        _check_times(p, source)
        max_ops = p.shape[-2]
        if k.size and (k.min() < 0 or k.max() > max_ops):
            bad = int(k.max()) if k.max() > max_ops else int(k.min())
            raise _fail(source, f"num_ops {bad} outside 0..{max_ops} (max_ops, the padded size)")
        _check_prefix(mm, source, "machine_mask")
        op_mask = k[..., None] > np.arange(max_ops)
        real = op_mask[..., None] & mm[..., None, None, :]
        if (e & ~real).any():
            raise _fail(source, "eligible is True on a padded operation, job or machine")
        if (op_mask & ~e.any(-1)).any():
            idx = np.argwhere(op_mask & ~e.any(-1))[0]
            raise _fail(
                source, f"eligible: operation {tuple(int(i) for i in idx)} (job, op) has no "
                "eligible machine",
            )
        longest = np.where(e, p, 0).astype(np.int64).max(-1)
        _check_worst_case(longest.sum((-2, -1)), source)
        return instance
    raise TypeError(f"not an instance: {type(instance).__name__}")


Instance = PFSPInstance | FJSPInstance


def problem_of(instance: Instance) -> str:
    """'pfsp', 'jssp' or 'fjsp'."""
    if isinstance(instance, PFSPInstance):
        return "pfsp"
    return "jssp" if instance.is_job_shop() else "fjsp"


def pad(instance: Instance, **sizes: int) -> Instance:
    """Pads one unbatched instance (NumPy) to larger static sizes.

    PFSP takes `max_jobs`, `max_machines`; FJSP also `max_ops`. Raises `ValueError`
    (before anything is compiled) when the instance does not fit.
    """
    if isinstance(instance, PFSPInstance):
        n, m = instance.shape
        J, M = sizes.get("max_jobs", n), sizes.get("max_machines", m)
        _check_fits("jobs", n, J, instance)
        _check_fits("machines", m, M, instance)
        p = np.zeros((J, M), np.int32)
        p[:n, :m] = np.asarray(instance.processing_times)
        jm = np.zeros(J, bool)
        jm[:n] = np.asarray(instance.job_mask)
        mm = np.zeros(M, bool)
        mm[:m] = np.asarray(instance.machine_mask)
        return PFSPInstance(p, jm, mm)
    if isinstance(instance, FJSPInstance):
        n, o, m = instance.shape
        J = sizes.get("max_jobs", n)
        O = sizes.get("max_ops", o)  # noqa: E741
        M = sizes.get("max_machines", m)
        _check_fits("jobs", n, J, instance)
        _check_fits("operations per job", o, O, instance)
        _check_fits("machines", m, M, instance)
        p = np.zeros((J, O, M), np.int32)
        p[:n, :o, :m] = np.asarray(instance.processing_times)
        e = np.zeros((J, O, M), bool)
        e[:n, :o, :m] = np.asarray(instance.eligible)
        k = np.zeros(J, np.int32)
        k[:n] = np.asarray(instance.num_ops)
        mm = np.zeros(M, bool)
        mm[:m] = np.asarray(instance.machine_mask)
        return FJSPInstance(p, e, k, mm)
    raise TypeError(f"not an instance: {type(instance).__name__}")


def _check_fits(what: str, have: int, limit: int, instance: Instance) -> None:
    if have > limit:
        raise ValueError(
            f"instance with {have} {what} does not fit the padding of {limit} {what}; "
            f"raise the padded size (shape {instance.shape})"
        )


def stack(instances: list[Instance], **sizes: int) -> Instance:
    """Pads a list of same-problem instances to one shape and stacks them on axis 0.

    Sizes default to the largest in the list: `stack(xs, max_jobs=20, max_machines=10)`.
    """
    if not instances:
        raise ValueError("stack needs at least one instance")
    kinds = {type(x) for x in instances}
    if len(kinds) != 1:
        raise ValueError(f"cannot stack different problems: {sorted(k.__name__ for k in kinds)}")
    names = (
        ("max_jobs", "max_machines")
        if isinstance(instances[0], PFSPInstance)
        else ("max_jobs", "max_ops", "max_machines")
    )
    unknown = set(sizes) - set(names)
    if unknown:
        raise ValueError(f"unknown padding sizes {sorted(unknown)}; use {names}")
    full = {
        name: sizes.get(name, max(x.shape[i] for x in instances)) for i, name in enumerate(names)
    }
    padded = []
    for i, x in enumerate(instances):
        with _named(f"stack: instance {i}"):
            padded.append(pad(x, **full))
    return type(padded[0])(
        *[np.stack([np.asarray(getattr(x, f)) for x in padded]) for f in _fields(padded[0])]
    )


def _fields(instance: Instance) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(instance)]


def unstack(batch: Instance) -> list[Instance]:
    """Splits a stacked batch back into (still padded) NumPy instances."""
    leaves = {f: np.asarray(getattr(batch, f)) for f in _fields(batch)}
    size = next(iter(leaves.values())).shape[0]
    return [type(batch)(**{f: v[i] for f, v in leaves.items()}) for i in range(size)]
