"""Solution methods behind one interface, found by name in a registry.

A method spec is `name` or `name:arg` (`neh`, `ig`, `random`, `rule:MWKR-EF`,
`pointer:DIR`). `get_method(spec, **options)` builds a `Method` whose `solve` takes a list
of exact-size instances (one problem), pads them into one batch, solves them in one
jitted, vmapped call and returns a `Solution` per instance with its cropped schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

import jaxshop
from jaxshop.instances.types import Instance, problem_of
from jaxshop.schedule import Schedule


@dataclasses.dataclass(frozen=True)
class Solution:
    """A solved instance: makespan, schedule (exact size) and, for PFSP, the permutation."""

    makespan: int
    schedule: Schedule
    permutation: list[int] | None = None


@dataclasses.dataclass
class Method:
    """A named solver: `solve(instances, key) -> list[Solution]`."""

    name: str
    problems: tuple[str, ...]
    solve_batch: Callable[[list[Instance], jax.Array], list[Solution]]

    def solve(self, instances: Sequence[Instance], key: jax.Array | None = None) -> list[Solution]:
        instances = list(instances)
        for inst in instances:
            problem = problem_of(inst)
            if problem not in self.problems:
                raise ValueError(
                    f"method {self.name!r} solves {'/'.join(self.problems)}, not {problem}"
                )
        key = jax.random.PRNGKey(0) if key is None else key
        return self.solve_batch(instances, key)


MethodFactory = Callable[..., Method]
_METHODS: dict[str, tuple[MethodFactory, str]] = {}


def register_method(name: str, help: str) -> Callable[[MethodFactory], MethodFactory]:
    """Registers `factory(arg, **options) -> Method` under `name` (the part before ':')."""

    def deco(factory: MethodFactory) -> MethodFactory:
        _METHODS[name] = (factory, help)
        return factory

    return deco


def available_methods() -> dict[str, str]:
    _load_builtin_methods()
    return {name: help for name, (_, help) in sorted(_METHODS.items())}


def get_method(spec: str, **options: Any) -> Method:
    """Builds the method named by `spec` (`name` or `name:arg`)."""
    _load_builtin_methods()
    name, _, arg = spec.partition(":")
    if name not in _METHODS:
        raise ValueError(f"unknown method {spec!r}; available: {', '.join(sorted(_METHODS))}")
    return _METHODS[name][0](arg or None, **options)


def _load_builtin_methods() -> None:
    # Importing these modules runs their `register_method` decorators.
    import importlib

    for module in ("neh", "iterated_greedy", "rules", "pointer"):
        try:
            importlib.import_module(f"jaxshop_baselines.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"jaxshop_baselines.{module}":
                raise


def env_for(problem: str, mode: str = "append") -> jaxshop.Environment:
    """The constructive env that solves `problem` ('pfsp', 'jssp', 'fjsp')."""
    if problem == "pfsp":
        return jaxshop.make("pfsp")
    return jaxshop.make("fjsp", mode=mode)


def exact_shape(instance: Instance) -> tuple[int, int]:
    """`(num_jobs, num_ops)` of a schedule of this exact-size instance."""
    shape = instance.shape
    return (shape[0], shape[-1]) if problem_of(instance) == "pfsp" else (shape[0], shape[1])


def solutions_from_states(env, instances, final_states) -> list[Solution]:
    """Crops each batched final state's schedule back to its instance's exact size."""
    schedules = jax.device_get(jax.vmap(env.schedule)(final_states))
    out = []
    for i, inst in enumerate(instances):
        sched = schedules.index(i).crop(exact_shape(inst))
        perm = None
        if hasattr(final_states, "sequence"):
            seq = np.asarray(final_states.sequence[i])
            perm = [int(j) for j in seq if j >= 0]
        out.append(Solution(sched.makespan, sched, perm))
    return out


_ROLLOUTS: dict[tuple, Callable] = {}


def policy_rollout(env, make_policy: Callable, instances: list[Instance], key: jax.Array):
    """Runs one jitted, vmapped episode per instance with `make_policy(env)`; final states."""
    from jaxshop.rollout import rollout

    batch = jaxshop.stack(instances)
    steps = env.max_steps(jaxshop.unstack(batch)[0])
    cache_key = (id(env), make_policy, steps)
    if cache_key not in _ROLLOUTS:

        def run(batch, keys):
            states, _ = jax.vmap(env.reset)(keys, batch)
            finals, _, _ = jax.vmap(lambda s, k: rollout(env, s, k, make_policy(env), steps))(
                states, keys
            )
            return finals

        _ROLLOUTS[cache_key] = jax.jit(run)
    keys = jax.random.split(key, len(instances))
    return _ROLLOUTS[cache_key](batch, keys)


@register_method("random", "uniformly random valid decisions (any problem)")
def _random_method(arg: str | None = None, mode: str = "append", **_: Any) -> Method:
    from jaxshop.rollout import random_policy

    envs: dict[str, jaxshop.Environment] = {}

    def solve(instances, key):
        problem = problem_of(instances[0])
        env = envs.setdefault(problem, env_for(problem, mode))
        finals = policy_rollout(env, random_policy, instances, key)
        return solutions_from_states(env, instances, finals)

    return Method("random", ("pfsp", "jssp", "fjsp"), solve)
