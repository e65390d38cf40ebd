"""Instance pytrees shared by every env.

Instances are `flax.struct` dataclasses of integer/bool arrays, so a batch of different
instances (padded to one shape with `stack`) vmaps together. Loaded instances hold NumPy
arrays of their exact size; padding only ever appends jobs/operations/machines that can
never be chosen and never change a makespan.

Conventions: jobs, operations and machines are 0-based; times are int32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flax import struct


@struct.dataclass
class PFSPInstance:
    """Permutation flow shop: every job visits machines 0..m-1 in order."""

    processing_times: Any  # (max_jobs, max_machines) int32, 0 on padding
    job_mask: Any  # (max_jobs,) bool, True for real jobs
    machine_mask: Any  # (max_machines,) bool, True for real machines (a prefix)

    @property
    def num_jobs(self):
        return self.job_mask.sum(-1)

    @property
    def num_machines(self):
        return self.machine_mask.sum(-1)

    @property
    def shape(self) -> tuple[int, int]:
        """Padded (max_jobs, max_machines)."""
        return tuple(self.processing_times.shape[-2:])

    @classmethod
    def from_array(cls, processing_times, source: str = "<array>") -> PFSPInstance:
        """Checks and wraps an exact-size `(n_jobs, n_machines)` array."""
        p = _as_int_array(processing_times, 2, source)
        if p.shape[0] < 1 or p.shape[1] < 1:
            raise ValueError(f"{source}: a flow shop needs at least one job and one machine")
        if (p < 0).any():
            raise ValueError(f"{source}: negative processing time")
        n, m = p.shape
        return cls(p, np.ones(n, bool), np.ones(m, bool))


@struct.dataclass
class FJSPInstance:
    """Flexible job shop; the job shop is the case of one eligible machine per operation.

    Operations of a job form a prefix of length `num_ops[j]` along the ops axis.
    """

    processing_times: Any  # (max_jobs, max_ops, max_machines) int32, 0 where not eligible
    eligible: Any  # (max_jobs, max_ops, max_machines) bool
    num_ops: Any  # (max_jobs,) int32, 0 for padded jobs
    machine_mask: Any  # (max_machines,) bool, True for real machines (a prefix)

    @property
    def op_mask(self):
        """(max_jobs, max_ops) bool: the operation exists."""
        return self.num_ops[..., None] > np.arange(self.eligible.shape[-2])

    @property
    def job_mask(self):
        return self.num_ops > 0

    @property
    def num_jobs(self):
        return (self.num_ops > 0).sum(-1)

    @property
    def num_machines(self):
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
        return cls(p, e, num_ops, np.ones(num_machines, bool))

    @classmethod
    def from_job_shop(cls, machines, times, source: str = "<job shop>") -> FJSPInstance:
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


def _as_int_array(x, ndim: int, source: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != ndim:
        raise ValueError(f"{source}: expected a {ndim}-d array, got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{source}: times must be integers")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{source}: times must be integers, got dtype {a.dtype}")
    if a.size and np.abs(a).max() > np.iinfo(np.int32).max // 4:
        raise ValueError(f"{source}: value too large for int32 arithmetic")
    return a.astype(np.int32)


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


def _check_fits(what: str, have: int, limit: int, instance) -> None:
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
    padded = [pad(x, **full) for x in instances]
    return type(padded[0])(
        *[np.stack([np.asarray(getattr(x, f)) for x in padded]) for f in _fields(padded[0])]
    )


def _fields(instance) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(instance)]


def unstack(batch: Instance) -> list[Instance]:
    """Splits a stacked batch back into (still padded) NumPy instances."""
    leaves = {f: np.asarray(getattr(batch, f)) for f in _fields(batch)}
    size = next(iter(leaves.values())).shape[0]
    return [type(batch)(**{f: v[i] for f, v in leaves.items()}) for i in range(size)]
