"""Any jaxshop env (with its generator) as a `jumanji.Environment`.

    from jaxshop.adapters.jumanji import to_jumanji
    env = to_jumanji(jaxshop.make("pfsp"))
    state, timestep = env.reset(jax.random.PRNGKey(0))   # jumanji TimeStep
    state, timestep = env.step(state, action)            # action: () int32 flat index

Mapping: jaxshop's `TimeStep` fields (`step_type`, `reward`, `discount`, `observation`,
`extras`) map one to one onto jumanji's; the observation is the env's own dataclass (it
carries `action_mask`, as jumanji agents expect). The specs are the env's declared ones
(`env.observation_spec` / `env.action_spec`, see `jaxshop.specs`) for the shape of a
generated instance, so every episode must use the generator's (padded) shape: fields
with both bounds become `BoundedArray`s, the others `Array`s; the action spec is a
`DiscreteArray`.
The jumanji state is `JumanjiState(inner, key)`: jumanji's `State` protocol wants a key.

`jumanji` is imported lazily: importing this module works without it, and using the
adapter raises an `ImportError` that says how to install it.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

from jaxshop.env import Environment, InstanceT, ObsT, StateT
from jaxshop.specs import ArraySpec
from jaxshop.types import TimeStep

InnerT = TypeVar("InnerT")  # the wrapped jaxshop env's state
# Types of the optional, lazily imported `jumanji` (not nameable without it):
JumanjiSpec = Any  # a `jumanji.specs.Spec` (`Array`, `BoundedArray`, `DiscreteArray`, ...)
JumanjiTimeStep = Any  # a `jumanji.types.TimeStep`
JumanjiEnv = Any  # a `jumanji.Environment` (`JumanjiAdapter`)

INSTALL_HINT = (
    "the Jumanji adapter needs the optional dependency `jumanji`; install it with "
    "`pip install 'jaxshop[bench]'` or `pip install jumanji`"
)

__all__ = ["JumanjiState", "require_jumanji", "to_jumanji"]  # and `JumanjiAdapter` (lazy)


@struct.dataclass
class JumanjiState(Generic[InnerT]):
    """The adapter's state: the jaxshop state and a PRNG key (jumanji's `State` protocol)."""

    inner: InnerT  # the jaxshop env's state
    key: jax.Array  # PRNG key (split from the one given to `reset`)


def require_jumanji() -> types.ModuleType:
    """Imports and returns the `jumanji` module, or raises `ImportError` with install help."""
    try:
        import jumanji
        import jumanji.specs  # noqa: F401
        import jumanji.types  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from err
    return jumanji


def _array_spec(specs: types.ModuleType, spec: ArraySpec, name: str) -> JumanjiSpec:
    """A jumanji spec for one declared `ArraySpec` (bounded when both bounds are known)."""
    if spec.bounded:
        return specs.BoundedArray(spec.shape, spec.dtype, minimum=spec.minimum,
                                  maximum=spec.maximum, name=name)
    return specs.Array(spec.shape, spec.dtype, name=name)


def _tree_spec(specs: types.ModuleType, value: object, name: str) -> JumanjiSpec:
    """A jumanji spec for the env's declared observation spec (a dataclass of specs;
    `value` is one of its `ArraySpec`s or dataclasses)."""
    if isinstance(value, ArraySpec):
        return _array_spec(specs, value, name)
    if dataclasses.is_dataclass(value):
        children = {
            f.name: _tree_spec(specs, getattr(value, f.name), f.name)
            for f in dataclasses.fields(value)
        }
        return specs.Spec(type(value), name, **children)
    raise TypeError(
        f"cannot build a jumanji spec for observation field {name!r} of type {type(value)}"
    )


@functools.cache
def _adapter_class() -> type:
    jumanji = require_jumanji()
    specs = jumanji.specs
    JTimeStep = jumanji.types.TimeStep

    class JumanjiAdapter(jumanji.Environment):
        """A jaxshop env behind jumanji's `Environment` API (see the module docstring)."""

        def __init__(self, env: Environment,
                     generator: Callable[[jax.Array], object] | None = None):
            self.env = env
            self.generator = generator or env.generator
            if self.generator is None:
                raise ValueError("the Jumanji adapter needs an env with a generator, or one")
            self._instance_shape = jax.eval_shape(self.generator, jax.random.PRNGKey(0))
            super().__init__()

        def __repr__(self) -> str:
            return f"JumanjiAdapter({type(self.env).__name__}, problem={self.env.problem!r})"

        @staticmethod
        def _convert(ts: TimeStep) -> JumanjiTimeStep:
            return JTimeStep(
                step_type=ts.step_type,
                reward=ts.reward,
                discount=ts.discount,
                observation=ts.observation,
                extras=ts.extras,
            )

        def reset(self, key: jax.Array) -> tuple[JumanjiState, JumanjiTimeStep]:
            key, sub = jax.random.split(key)
            inner, ts = self.env.reset(sub, self.generator(sub))
            return JumanjiState(inner=inner, key=key), self._convert(ts)

        def step(self, state: JumanjiState, action: jax.Array
                 ) -> tuple[JumanjiState, JumanjiTimeStep]:
            inner, ts = self.env.step(state.inner, action)
            return state.replace(inner=inner), self._convert(ts)

        @functools.cached_property
        def observation_spec(self) -> JumanjiSpec:
            declared = self.env.observation_spec(self._instance_shape)
            return _tree_spec(specs, declared, "observation")

        @functools.cached_property
        def action_spec(self) -> JumanjiSpec:
            declared = self.env.action_spec(self._instance_shape)
            return specs.DiscreteArray(declared.num_values, dtype=jnp.int32, name="action")

    return JumanjiAdapter


def to_jumanji(env: Environment[InstanceT, StateT, ObsT],
               generator: Callable[[jax.Array], InstanceT] | None = None) -> JumanjiEnv:
    """Wraps `env` (reset on `generator(key)`, default `env.generator`) as a jumanji env."""
    return _adapter_class()(env, generator)


def __getattr__(name: str) -> type:
    if name == "JumanjiAdapter":
        return _adapter_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
