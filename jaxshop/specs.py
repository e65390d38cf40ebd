"""Declared specs: shape, dtype and bounds of observations and actions.

`env.observation_spec(instance)` returns the env's observation dataclass with an
`ArraySpec` in every field; `env.action_spec(instance)` a `DiscreteSpec`. Both depend only
on the instance's padded shape (a `jax.ShapeDtypeStruct` instance works too). A spec
checks a value (`spec.validate(x)` raises `ValueError`), makes a zero-like example
(`spec.zeros()`) and converts to other libraries' specs (the Jumanji and gymnax adapters).
Float values must be finite; bounds are inclusive, `None` is unbounded.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

#: A value `ArraySpec.validate` checks and hands back unchanged.
_Value = TypeVar("_Value", bound=npt.ArrayLike)


@dataclasses.dataclass(frozen=True)
class ArraySpec:
    """An array of fixed `shape` and `dtype` with inclusive scalar bounds (None: open)."""

    shape: tuple[int, ...]
    dtype: npt.DTypeLike  # stored as an `np.dtype` (`__post_init__`)
    minimum: float | int | bool | None = None
    maximum: float | int | bool | None = None
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    @classmethod
    def boolean(cls, shape: tuple[int, ...], name: str = "") -> ArraySpec:
        return cls(shape, bool, False, True, name)

    @property
    def bounded(self) -> bool:
        return self.minimum is not None and self.maximum is not None

    def zeros(self) -> jax.Array:
        """An example value: zeros, moved into the bounds."""
        low = 0 if self.minimum is None else self.minimum
        value = low if self.maximum is None else min(max(0, low), self.maximum)
        return jnp.full(self.shape, value, self.dtype)

    def validate(self, value: _Value) -> _Value:
        """Returns `value` if it matches (shape, dtype, bounds, finite); else `ValueError`."""
        x = np.asarray(value)
        where = f"spec {self.name or '<array>'}"
        if x.shape != self.shape:
            raise ValueError(f"{where}: shape {x.shape} != {self.shape}")
        if x.dtype != self.dtype:
            raise ValueError(f"{where}: dtype {x.dtype} != {self.dtype}")
        if x.size == 0:
            return value
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise ValueError(f"{where}: non-finite values")
        if self.minimum is not None and x.min() < self.minimum:
            raise ValueError(f"{where}: value {x.min()} below minimum {self.minimum}")
        if self.maximum is not None and x.max() > self.maximum:
            raise ValueError(f"{where}: value {x.max()} above maximum {self.maximum}")
        return value


@dataclasses.dataclass(frozen=True)
class DiscreteSpec(ArraySpec):
    """A scalar int32 in `[0, num_values)`."""

    num_values: int = 1

    def __init__(self, num_values: int, name: str = "action"):
        super().__init__((), jnp.int32, 0, int(num_values) - 1, name)
        object.__setattr__(self, "num_values", int(num_values))


def is_spec(x: object) -> bool:
    return isinstance(x, ArraySpec)


def spec_leaves(spec_tree: Any) -> list[ArraySpec]:
    return jax.tree_util.tree_leaves(spec_tree, is_leaf=is_spec)


def validate(spec_tree: Any, value_tree: Any, batch_dims: int = 0) -> None:
    """Checks every leaf of `value_tree` against the spec tree (same structure).

    `batch_dims` leading axes of every value are allowed (e.g. a vmapped batch).
    """
    specs, spec_def = jax.tree_util.tree_flatten(spec_tree, is_leaf=is_spec)
    values, value_def = jax.tree_util.tree_flatten(value_tree)
    if len(specs) != len(values):
        raise ValueError(f"structure mismatch: spec {spec_def} vs value {value_def}")
    for spec, value in zip(specs, values, strict=True):
        x = np.asarray(value)
        if batch_dims:
            x = x.reshape((-1, *x.shape[batch_dims:]))
            for row in x:
                spec.validate(row)
        else:
            spec.validate(x)


def shape_dtypes(spec_tree: Any) -> Any:
    """The same tree with `jax.ShapeDtypeStruct` leaves (what `eval_shape` gives)."""
    return jax.tree_util.tree_map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype), spec_tree, is_leaf=is_spec
    )


def zeros(spec_tree: Any) -> Any:
    """An example value of a spec tree (zeros within bounds)."""
    return jax.tree_util.tree_map(lambda s: s.zeros(), spec_tree, is_leaf=is_spec)
