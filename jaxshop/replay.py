"""Any feasible schedule as a constructive env's action sequence (`jaxshop.replay`).

`replay(env, instance, schedule) -> actions` orders the schedule's operations by start
time (ties by job) and turns each into the env's action: the job for the flow-shop env
(`pfsp`, the permutation), `job * max_machines + machine` for the job-shop envs (`fjsp`,
`jssp`, either mode). Stepping the env with those actions never starts an operation later
than the schedule does: every operation that started before it ended before its slot on
its machine, and its job's previous operation ended no later (by induction), so the
append mode places it after them and the insert mode finds that slot or an earlier one.
So the replayed makespan is never larger: equal for a left-justified schedule (a
solver's optimum, any schedule an env of that mode built), smaller when the schedule
left idle time that the env's mode removes. `replay_makespan` steps the env to check.

`schedule` is a `Schedule` (what a method returns) or the records of a solve JSON
(`[{job, op, machine, start, end}, ...]`), of the instance's exact or padded shape.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxshop.env import Environment
from jaxshop.instances.types import FJSPInstance, Instance, PFSPInstance
from jaxshop.schedule import Schedule, validate


def _as_schedule(instance: Instance, schedule: Schedule | Sequence[dict]) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    shape = instance.shape
    ops = shape[1] if isinstance(instance, FJSPInstance) else shape[-1]
    return Schedule.from_records(list(schedule), (shape[0], ops))


def replay(env: Environment, instance: Instance, schedule: Schedule | Sequence[dict]
           ) -> np.ndarray:
    """`(operations,)` int32: the env's actions that rebuild `schedule` on `instance`;
    ValueError when the schedule is not feasible for the instance or the env is not a
    constructive env of its problem."""
    schedule = _as_schedule(instance, schedule)
    check = validate(instance, schedule)
    if not check:
        raise ValueError(f"replay: the schedule is not feasible: {check.reason}")
    problem = getattr(env.unwrapped, "problem", None)
    machine = np.asarray(schedule.machine)
    start = np.asarray(schedule.start)
    if isinstance(instance, PFSPInstance):
        if problem != "pfsp" or not hasattr(env.unwrapped, "schedule"):
            raise ValueError(f"replay: a flow-shop schedule needs the pfsp env, not "
                             f"{type(env.unwrapped).__name__}")
        jobs = np.flatnonzero(machine[:, 0] >= 0)
        return jobs[np.argsort(start[jobs, 0], kind="stable")].astype(np.int32)
    if problem not in ("jssp", "fjsp"):
        raise ValueError(f"replay: a job-shop schedule needs the fjsp or jssp env, not "
                         f"{type(env.unwrapped).__name__}")
    jobs, ops = np.nonzero(machine >= 0)
    order = np.lexsort((ops, jobs, start[jobs, ops]))  # by start, then job, then op
    width = instance.shape[-1]
    return (jobs[order] * width + machine[jobs[order], ops[order]]).astype(np.int32)


@functools.partial(jax.jit, static_argnums=0)
def _stepped(env: Environment, instance: Instance, actions: jax.Array):
    """`(makespan, done, invalid per action)` of stepping `env` with `actions` (one
    compile per env and shape)."""
    state, _ = env.reset(jax.random.PRNGKey(0), instance)

    def step(s, a):
        s, ts = env.step(s, a)
        return s, ts.extras["invalid_action"]

    final, invalid = jax.lax.scan(step, state, actions)
    return env.current_makespan(final), env.is_done(final), invalid


def replay_makespan(env: Environment, instance: Instance, actions: np.ndarray) -> int:
    """The makespan of stepping `env` from `instance` with `actions`; ValueError naming
    the first invalid action, or when they do not finish the episode."""
    makespan, done, invalid = _stepped(env, instance, jnp.asarray(actions, jnp.int32))
    if np.asarray(invalid).any():
        raise ValueError(f"replay: action {int(np.argmax(np.asarray(invalid)))} is not valid")
    if not bool(done):
        raise ValueError("replay: the actions do not finish the episode")
    return int(makespan)
