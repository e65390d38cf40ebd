"""Solution methods behind one interface, found by name in a registry.

A method spec is `name` or `name:arg` (`neh`, `ig`, `random`, `rule:MWKR-EF`,
`pointer:DIR`). `get_method(spec, **options)` builds a `Method` whose `solve` takes a list
of exact-size instances (one problem), pads them into shape buckets (`shape_buckets`: no
instance pays more than `MAX_PADDING_COST` times its own cost), solves each bucket in one
jitted, vmapped call and returns a `Solution` per instance with its cropped schedule.
Long searches (ig, kernel-q, best-of-N pointer) run each bucket as a host loop over jitted
chunks of about `CHUNK_SECONDS`, reporting `solve(..., progress=fn)` between them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jaxshop_baselines.limits import EstimateFn, rollout_estimate

import jaxshop
from jaxshop.instances.types import Instance, problem_of, validate_instance
from jaxshop.schedule import Schedule


@dataclasses.dataclass(frozen=True)
class Solution:
    """A solved instance: makespan, schedule (exact size) and, for PFSP, the permutation."""

    makespan: int
    schedule: Schedule
    permutation: list[int] | None = None
    #: exact methods (`cpsat`): the proven lower bound, the solver's status ("optimal" or
    #: "feasible") and the seconds it took; None for the others
    lower_bound: int | None = None
    status: str | None = None
    seconds: float | None = None


#: A padded instance costs at most this many times its own cost (`shape_buckets`)...
MAX_PADDING_COST = 2.0
#: ...unless the padded shape is this cheap anyway (a 30x10 job shop is 9e4): below it a
#: compile costs more than the padding, so small mixed sizes stay one batch.
SMALL_PADDED_COST = 100_000


def padded_cost(shape: Sequence[int]) -> int:
    """Relative work of solving one instance of padded `shape` (jobs first): decisions
    (jobs x ops, or jobs) times the candidates scored per decision (jobs x machines)."""
    return int(np.prod(shape, dtype=np.int64)) * int(shape[0])


def shape_buckets(shapes: Sequence[Sequence[int]], max_cost: float = MAX_PADDING_COST,
                  small: int | None = None) -> list[list[int]]:
    """Groups instance shapes into buckets solved as one padded batch each, so that no
    instance pays more than `max_cost` times its own `padded_cost` (or a padded cost under
    `small`). Largest first; each bucket lists indices into `shapes` in their original
    order. Same shapes always share a bucket (one compile per bucket shape)."""
    small = SMALL_PADDED_COST if small is None else small
    same: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        same.setdefault(tuple(int(x) for x in shape), []).append(i)
    buckets: list[tuple[tuple[int, ...], list[int]]] = []
    for shape in sorted(same, key=lambda x: -padded_cost(x)):
        for b, (top, members) in enumerate(buckets):
            merged = tuple(max(a, c) for a, c in zip(top, shape, strict=True))
            cost = padded_cost(merged)
            if cost <= small or cost <= max_cost * padded_cost(shape):
                buckets[b] = (merged, members + same[shape])
                break
        else:
            buckets.append((shape, list(same[shape])))
    return [sorted(members) for _, members in buckets]


@dataclasses.dataclass(frozen=True)
class FabPolicy:
    """How a method acts in the fab env, which has no instances to solve.

    `act(observation) -> action` is pure JAX for one env (callers vmap it); `info()`, for
    a learned policy, loads its model on first use and returns `(num_params, trained_on,
    fab_params)`: the size of the network `act` runs, a description of the fab it was
    trained on and that fab's `FabParams`, where `jaxshop eval --suite fab` evaluates it
    unless told otherwise (None: a rule, at home on any fab).
    """

    act: Callable[[Any], Any]
    info: Callable[[], tuple[int, str, Any]] | None = None


#: `solve_batch(instances, key, progress)`: one padded batch of same-problem instances to a
#: `Solution` each; `progress(fraction done)` may be called between jitted chunks (long
#: searches do; a single jitted call does not need to).
SolveBatch = Callable[[list[Instance], jax.Array, "ProgressFn | None"], list["Solution"]]


@dataclasses.dataclass
class Method:
    """A named method: `solve(instances, key, progress) -> list[Solution]` for its
    scheduling problems, and `policy` for the fab (an env without instances).

    `version` names what produced a solution (the library version, plus the model's
    identity for learned methods), for the records of a run; `num_params` is a learned
    method's size (its acting network's parameters, in every eval JSON).
    `batch_makespans(instances, keys) -> (B,) int32` is the pure JAX form of `solve`'s
    makespans on a stacked same-shape batch (-1: unfinished), which generated suites
    (`eval --random`) run whole under one `jit` where a method has it.
    """

    name: str
    problems: tuple[str, ...]
    solve_batch: SolveBatch | None  # None: a fab policy only (problems ("fab",))
    version: str = jaxshop.__version__
    num_params: int | None = None
    batch_makespans: Callable[[Any, jax.Array], jax.Array] | None = None
    policy: FabPolicy | None = None

    def solve(self, instances: Sequence[Instance], key: jax.Array | None = None,
              progress: ProgressFn | None = None) -> list[Solution]:
        """Solves `instances` (one problem), one padded batch per `shape_buckets` bucket;
        `progress(fraction done)` between chunks of work, 1.0 at the end."""
        instances = list(instances)
        if self.solve_batch is None:
            raise ValueError(f"method {self.name!r} is a fab policy: use `jaxshop eval "
                             "--suite fab`")
        for i, inst in enumerate(instances):
            validate_instance(inst, source=f"{self.name}: instance {i}")
            problem = problem_of(inst)
            if problem not in self.problems:
                raise ValueError(
                    f"method {self.name!r} solves {'/'.join(self.problems)}, not {problem}"
                )
        key = jax.random.PRNGKey(0) if key is None else key
        if progress is not None:
            progress = _increasing(progress)
        buckets = shape_buckets([inst.shape for inst in instances])
        # Each bucket's share of the progress: its instances times their padded cost.
        weights = [len(m) * padded_cost(np.max([instances[i].shape for i in m], axis=0))
                   for m in buckets]
        total, before = float(sum(weights)), 0.0
        solutions: list[Solution | None] = [None] * len(instances)
        for b, members in enumerate(buckets):  # each bucket one padded batch, its own key
            part = [instances[i] for i in members]
            sub = key if len(buckets) == 1 else jax.random.fold_in(key, b)
            share, start = weights[b] / total, before
            solved = self.solve_batch(
                part, sub, None if progress is None
                else (lambda f, s=share, a=start: progress(a + s * f)))
            before = 1.0 if b == len(buckets) - 1 else min(1.0, before + weights[b] / total)
            if progress is not None:
                progress(before)
            if len(buckets) == 1:
                return solved
            for i, sol in zip(members, solved, strict=True):
                solutions[i] = sol
        return solutions  # type: ignore[return-value]


MethodFactory = Callable[..., Method]


#: What a long solve reports between its jitted chunks: the fraction done, 0..1
#: (non-decreasing, 1 at the end). Called on the host, so it may draw a progress bar.
ProgressFn = Callable[[float], None]
#: Wall time a chunked search aims at per jitted call: between calls the host reports
#: progress, checks time limits and can be interrupted (Ctrl-C), so no single device call
#: should run much longer than this.
CHUNK_SECONDS = 0.5


def _increasing(progress: ProgressFn) -> ProgressFn:
    """`progress`, called only with fractions above the last one reported."""
    last = [-1.0]

    def report(fraction: float) -> None:
        if fraction > last[0]:
            last[0] = fraction
            progress(fraction)

    return report


def next_chunk(chunk: int, units: int, seconds: float, target: float = CHUNK_SECONDS,
               most: int = 1 << 20) -> int:
    """The next chunk size (in units of work: steps, moves) of a host loop over jitted
    calls, after a call did `units` of them in `seconds`: aims at `target` seconds per
    call, grows at most 4x per call (a noisy fast call does not overshoot much), and stays
    within `1..most`."""
    per_unit = seconds / max(1, units)
    aim = int(target / per_unit) if per_unit > 0 else most
    return max(1, min(most, 4 * max(1, chunk), aim))


@dataclasses.dataclass(frozen=True)
class MethodInfo:
    """A registered method: its factory, a help line, and what it accepts.

    `options` names the keyword options the factory uses (None: not declared, anything
    goes); `arg` names the `name:ARG` argument (None: the method takes none);
    `arg_required` says the bare name is not enough (`rule` needs `rule:JOB-MACHINE`).
    `estimate(instances, options) -> Estimate | None` is the method's declared workload
    (`jaxshop_baselines.limits`), from which the command line refuses work up front and
    sizes `eval --random` chunks; None: no calibration, nothing refused.
    """

    factory: MethodFactory
    help: str
    options: tuple[str, ...] | None = None
    arg: str | None = None
    arg_required: bool = False
    problems: tuple[str, ...] = ("pfsp", "jssp", "fjsp")
    estimate: EstimateFn | None = None


_METHODS: dict[str, MethodInfo] = {}

#: The method `solve`/`eval` use when none is given, by problem.
DEFAULT_METHODS = {"pfsp": "neh", "jssp": "rule:MWKR-EF", "fjsp": "rule:MWKR-EF",
                   "fab": "fab-rule:d4"}


def register_method(
    name: str,
    help: str,
    options: tuple[str, ...] | None = None,
    arg: str | None = None,
    arg_required: bool = False,
    problems: tuple[str, ...] = ("pfsp", "jssp", "fjsp"),
    estimate: EstimateFn | None = None,
) -> Callable[[MethodFactory], MethodFactory]:
    """Registers `factory(arg, **options) -> Method` under `name` (the part before ':'),
    with the workload `estimate` it declares (`MethodInfo`)."""

    def deco(factory: MethodFactory) -> MethodFactory:
        _METHODS[name] = MethodInfo(factory, help, options, arg, arg_required, problems,
                                    estimate)
        return factory

    return deco


def available_methods() -> dict[str, str]:
    _load_builtin_methods()
    return {name: info.help for name, info in sorted(_METHODS.items())}


def method_info(spec: str) -> MethodInfo:
    """The registry entry of `spec` (`name` or `name:arg`); ValueError when unknown."""
    _load_builtin_methods()
    name = spec.partition(":")[0].strip()
    if name not in _METHODS:
        raise ValueError(f"unknown method {spec!r}; available: {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def default_method(problem: str) -> str:
    """The method used when none is given for `problem` ('pfsp', 'jssp', 'fjsp')."""
    return DEFAULT_METHODS[problem]


def get_method(spec: str, **options: Any) -> Method:
    """Builds the method named by `spec` (`name` or `name:arg`).

    Raises `ValueError` for an unknown name, an argument the method does not take (or a
    missing one it needs), and an option the method would ignore.
    """
    info = method_info(spec)
    name, colon, arg = spec.strip().partition(":")
    if colon and info.options is not None:
        if info.arg is None:
            raise ValueError(f"method {name!r} takes no ':argument', got {spec!r}")
        if not arg:
            raise ValueError(f"method {spec!r}: empty {info.arg} after ':'")
    if info.arg_required and not arg:
        raise ValueError(f"method {name!r} needs an argument: {name}:{info.arg} ({info.help})")
    if info.options is not None:
        ignored = sorted(set(options) - set(info.options))
        if ignored:
            takes = ", ".join(info.options) or "no options"
            raise ValueError(
                f"method {name!r} does not use {', '.join(ignored)} (it takes: {takes})"
            )
    return info.factory(arg or None, **options)


def _load_builtin_methods() -> None:
    # Importing these modules runs their `register_method` decorators.
    import importlib

    for module in ("neh", "iterated_greedy", "rules", "pointer", "ppo", "kernel_q", "ddqn",
                   "evaluation.fab", "distill", "cpsat"):
        try:
            importlib.import_module(f"jaxshop_baselines.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"jaxshop_baselines.{module}":
                raise


def env_for(problem: str, mode: str = "append",
            capacity: int | None = None) -> jaxshop.Environment:
    """The constructive env that solves `problem` ('pfsp', 'jssp', 'fjsp'); insert mode
    with `capacity` timeline slots per machine (`jaxshop.fjsp.env.timeline_capacity`)."""
    if problem == "pfsp":
        return jaxshop.cached_make("pfsp")
    if mode == "insert":
        return jaxshop.cached_make("fjsp", mode=mode, timeline_capacity=capacity)
    return jaxshop.cached_make("fjsp", mode=mode)


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


def policy_makespans(make_policy: Callable, mode: str = "append"
                     ) -> Callable[[Any, jax.Array], jax.Array]:
    """`Method.batch_makespans` of a policy `make_policy(env)`: one rollout per instance
    with its own key (reset and run keys split from it), -1 when it did not finish."""
    from jaxshop.instances.types import PFSPInstance
    from jaxshop.rollout import rollout

    def run(instances, keys):
        env = env_for("pfsp" if isinstance(instances, PFSPInstance) else "fjsp", mode)
        steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances))

        def one(instance, key):
            k_reset, k_run = jax.random.split(key)
            state, _ = env.reset(k_reset, instance)
            final, _, _ = rollout(env, state, k_run, make_policy(env), steps)
            return jax.numpy.where(env.is_done(final), env.current_makespan(final), -1)

        return jax.vmap(one)(instances, keys)

    return run


@register_method(
    "random", "uniformly random valid decisions (any problem)", options=("seed", "mode"),
    estimate=rollout_estimate("random"),
)
def _random_method(arg: str | None = None, mode: str = "append", **_: Any) -> Method:
    from jaxshop.fjsp.env import timeline_capacity
    from jaxshop.rollout import random_policy

    envs: dict[tuple[str, int | None], jaxshop.Environment] = {}

    def solve(instances, key, progress=None):
        problem = problem_of(instances[0])
        capacity = None
        if mode == "insert" and problem != "pfsp":
            capacity = timeline_capacity(jaxshop.stack(instances))
        if (problem, capacity) not in envs:
            envs[problem, capacity] = env_for(problem, mode, capacity)
        env = envs[problem, capacity]
        finals = policy_rollout(env, random_policy, instances, key)
        return solutions_from_states(env, instances, finals)

    return Method("random", ("pfsp", "jssp", "fjsp"), solve,
                  batch_makespans=policy_makespans(random_policy, mode))
