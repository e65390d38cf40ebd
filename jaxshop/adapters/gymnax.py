"""Any jaxshop env as a gymnax `Environment` (`to_gymnax`).

    from jaxshop.adapters.gymnax import to_gymnax
    env = to_gymnax(jaxshop.make("fjsp"))
    params = env.default_params                       # the instance distribution
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

Params are the instance distribution: `GymnaxParams(instances=None)` draws every episode
from the env's generator; `instances=` a stacked suite (`jaxshop.stack`) draws them
uniformly from the suite by key. `max_steps_in_episode` (static) truncates; by default it
is the env's `max_steps`, so only completed schedules end episodes.

`step` auto-resets like gymnax's own envs (the returned observation and state belong to
the new episode when an episode ends; `terminated`/`truncated` say why), but with one
`observe` per step: the finished episode's observation is not computed, so `info` has no
`final_observation`; it carries the env's `extras` (`makespan`, `invalid_action`),
`discount`, `terminated` and `truncated`. Observations are the env's observation
dataclass (with `action_mask`); `observation_space` is a `spaces.Dict` keyed by its field
names, built from the env's declared `observation_spec`; `action_space` is `Discrete`.

`gymnax` is imported lazily (optional extra: `pip install 'jaxshop[bench]'`).
"""

from __future__ import annotations

import functools
import types
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxshop.env import Environment, InstanceT, ObsT, StateT
from jaxshop.specs import ArraySpec, is_spec

InnerT = TypeVar("InnerT")  # the wrapped jaxshop env's state
# Types of the optional, lazily imported `gymnax` (not nameable without it):
GymnaxSpace = Any  # a `gymnax.environments.spaces` space (`Box`, `Discrete`, `Dict`)
GymnaxEnv = Any  # a `gymnax.environments.environment.Environment` (`GymnaxAdapter`)

INSTALL_HINT = (
    "the gymnax adapter needs the optional dependency `gymnax`; install it with "
    "`pip install 'jaxshop[bench]'` or `pip install gymnax`"
)

__all__ = ["GymnaxParams", "GymnaxState", "require_gymnax", "to_gymnax"]


@struct.dataclass
class GymnaxParams(Generic[InstanceT]):
    """The instance distribution: a stacked suite, or None for the env's generator."""

    instances: InstanceT | None = None  # stacked instances (leading axis: the suite)
    max_steps_in_episode: int = struct.field(pytree_node=False, default=1)


@struct.dataclass
class GymnaxState(Generic[InnerT]):
    inner: InnerT  # the jaxshop state
    time: jax.Array  # () int32: steps in this episode


def require_gymnax() -> types.ModuleType:
    """Imports and returns the `gymnax` module, or raises `ImportError` with install help."""
    try:
        import gymnax
        from gymnax.environments import environment, spaces  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from err
    return gymnax


def _box(spaces: types.ModuleType, spec: ArraySpec) -> GymnaxSpace:
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "b":
        low, high = 0, 1
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        low = info.min if spec.minimum is None else spec.minimum
        high = info.max if spec.maximum is None else spec.maximum
    else:
        low = -np.inf if spec.minimum is None else spec.minimum
        high = np.inf if spec.maximum is None else spec.maximum
    return spaces.Box(low, high, spec.shape, spec.dtype)


@functools.cache
def _adapter_class() -> type:
    require_gymnax()
    from gymnax.environments import environment, spaces

    class GymnaxAdapter(environment.Environment):
        """A jaxshop env behind gymnax's `Environment` API (see the module docstring)."""

        def __init__(self, env: Environment, instances: object = None,
                     max_steps_in_episode: int | None = None):
            super().__init__()
            if instances is None and env.generator is None:
                raise ValueError("the gymnax adapter needs instances or an env with a generator")
            self.env = env
            if instances is not None:
                instances = jax.tree_util.tree_map(jnp.asarray, instances)
            self._instances = instances
            self._shape = self._instance_shape(instances)
            self._max_steps = max_steps_in_episode or env.max_steps(self._shape)

        def _instance_shape(self, instances: object) -> object:
            """One instance's shapes and dtypes (`jax.ShapeDtypeStruct` leaves)."""
            if instances is None:
                return jax.eval_shape(self.env.generator, jax.random.PRNGKey(0))
            return jax.tree_util.tree_map(
                lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), instances
            )

        def __repr__(self) -> str:
            return f"GymnaxAdapter({type(self.env).__name__}, problem={self.env.problem!r})"

        @property
        def name(self) -> str:
            return f"jaxshop-{self.env.problem}"

        @property
        def default_params(self) -> GymnaxParams:
            return GymnaxParams(self._instances, self._max_steps)

        @property
        def num_actions(self) -> int:
            return self.env.num_actions(self._shape)

        def _pick(self, key: jax.Array, params: GymnaxParams) -> object:
            """The instance of a new episode (None: the env's generator draws it)."""
            if params.instances is None:
                return None
            size = jax.tree_util.tree_leaves(params.instances)[0].shape[0]
            index = jax.random.randint(key, (), 0, size)
            return jax.tree_util.tree_map(lambda x: x[index], params.instances)

        def _start(self, key: jax.Array, params: GymnaxParams) -> GymnaxState:
            key_pick, key_reset = jax.random.split(key)
            inner, _ = self.env.start(key_reset, self._pick(key_pick, params))
            return GymnaxState(inner, jnp.zeros((), jnp.int32))

        def reset_env(self, key: jax.Array, params: GymnaxParams) -> tuple[object, GymnaxState]:
            state = self._start(key, params)
            return self.env.observe(state.inner), state

        def step_env(self, key: jax.Array, state: GymnaxState, action: jax.Array,
                     params: GymnaxParams
                     ) -> tuple[object, GymnaxState, jax.Array, jax.Array, dict]:
            inner, ts = self.env.step(state.inner, action)
            info = {**ts.extras, "discount": ts.discount}
            return ts.observation, GymnaxState(inner, state.time + 1), ts.reward, \
                ts.terminated(), info

        @functools.partial(jax.jit, static_argnames=("self",))
        def step(self, key: jax.Array, state: GymnaxState, action: jax.Array,
                 params: GymnaxParams | None = None
                 ) -> tuple[object, GymnaxState, jax.Array, jax.Array, jax.Array, dict]:
            """gymnax's auto-resetting step, with one `observe` (of the returned state)."""
            if params is None:
                params = self.default_params
            _, key_reset = jax.random.split(key)
            inner, ts = self.env.transition(state.inner, action)
            stepped = GymnaxState(inner, state.time + 1)
            terminated = ts.terminated()
            truncated = self.is_truncated(stepped, params) & ~terminated
            done = terminated | truncated
            fresh = self._start(key_reset, params)
            new = jax.tree_util.tree_map(
                lambda a, b: jax.lax.select(done, a, b), fresh, stepped
            )
            info = {**ts.extras, "discount": ts.discount, "terminated": terminated,
                    "truncated": truncated}
            return self.env.observe(new.inner), new, ts.reward, terminated, truncated, info

        def get_obs(self, state: GymnaxState, params: GymnaxParams | None = None,
                    key: jax.Array | None = None) -> object:
            return self.env.observe(state.inner)

        def is_terminated(self, state: GymnaxState, params: GymnaxParams) -> jax.Array:
            return self.env.is_done(state.inner)

        def action_space(self, params: GymnaxParams | None = None) -> GymnaxSpace:
            return spaces.Discrete(self.num_actions)

        def observation_space(self, params: GymnaxParams | None = None) -> GymnaxSpace:
            declared = self.env.observation_spec(self._shape)
            leaves = {f: getattr(declared, f) for f in declared.__dataclass_fields__}
            return spaces.Dict({k: _box(spaces, v) for k, v in leaves.items() if is_spec(v)})

        def state_space(self, params: GymnaxParams | None = None) -> GymnaxSpace:
            raise NotImplementedError("jaxshop states carry their instance; no state space")

    return GymnaxAdapter


def to_gymnax(env: Environment[InstanceT, StateT, ObsT], instances: InstanceT | None = None,
              max_steps_in_episode: int | None = None) -> GymnaxEnv:
    """Wraps `env` as a gymnax env; `instances` (stacked) replaces the generator."""
    return _adapter_class()(env, instances, max_steps_in_episode)


def __getattr__(name: str) -> type:
    if name == "GymnaxAdapter":
        return _adapter_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
