"""Dispatch env for the flexible job shop; the job shop is the case of one eligible machine.

Each decision assigns the next unscheduled operation of one job to one of its eligible
machines. There is one code path: a job shop is an `FJSPInstance` whose operations have
a single eligible machine, so the same compiled `step` serves both problems.

- Action: flat index `job * max_machines + machine`; valid iff the job has an operation
  left and `machine` is eligible for it (`observation.action_mask`, `(J * M,)` bool).
- Mode (`mode=`), how the chosen operation is timed on its machine:
  "append" (default): `start = max(job ready, machine free)`, the operation goes after
  everything already on the machine (semi-active; Song et al. 2022, DANIEL).
  "insert": the earliest start `>= job ready` at which the operation fits on the machine,
  into an idle gap between scheduled operations if one is long enough, else after the
  last one (active schedules; L2D, Zhang et al. 2020). Gaps are scanned in machine order
  and an operation fits a gap `[prev_end, next_start)` when
  `max(ready, prev_end) + time <= next_start`. The state keeps a sorted per-machine
  timeline of `N` slots (`state.timeline`; `N = timeline_capacity`, default `J * O`, or
  the most operations any machine can receive, `timeline_capacity(instances)`) and the
  start of every (job, machine) pair; a step refreshes the chosen job's row and machine's
  column of those starts, O((J + M) * N), not the whole O(J * M * N) search. Append mode
  does a few single-entry gathers/scatters and one row of M, with no sorting and no
  reduction over the mask.
- State: the step keeps only cheap running quantities (`jaxshop.fjsp.types.FJSPState`);
  the observation's features (`jaxshop.fjsp.features`) are computed in `observe`, so a
  rollout that ignores them never computes them.
- Reward (`reward=`): "dense" (default) is minus the increase of the partial makespan
  (max end so far), so an episode returns exactly `-makespan`; "normalized" divides each
  dense reward by `makespan_lower_bound(instance)` (return `-makespan / lb`); "terminal"
  pays `-makespan` on the last step only.
- Invalid action (masked or out of range): replaced by the lowest-index valid action and
  flagged with `extras["invalid_action"]`. A finished state is a no-op.
- Padded jobs, operations and machines are never eligible, so they can never be chosen
  and never change the makespan.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxshop.env import SchedulingEnvironment, compiled_call, register
from jaxshop.fjsp import features as F
from jaxshop.fjsp.generator import FJSPGenerator, JobShopGenerator
from jaxshop.fjsp.types import TIMELINE_EMPTY, FJSPObservation, FJSPState, MachineTimeline
from jaxshop.instances.types import FJSPInstance
from jaxshop.schedule import Schedule
from jaxshop.specs import ArraySpec

MODES = ("append", "insert")


def timeline_capacity(instance: FJSPInstance) -> int:
    """The most operations that can land on one machine (host-side, concrete instances,
    batched or not): a safe `timeline_capacity` for insert mode on these instances."""
    import numpy as np

    can_run = np.asarray(instance.eligible) & np.asarray(instance.op_mask)[..., None]
    return max(1, int(can_run.sum(axis=(-3, -2)).max()))


def _first_fit(row_start: jax.Array, row_end: jax.Array, ready: jax.Array,
               times: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The gap search: timelines `(..., N)`, job ready times and op times `(...)`
    (broadcast together) -> `(start, slot)`, each `(...)` int32: the earliest fitting
    start (the first gap, else after the last op) and the timeline slot it goes into."""
    prev_end = jnp.concatenate([jnp.zeros_like(row_end[..., :1]), row_end[..., :-1]], axis=-1)
    cand = jnp.maximum(jnp.asarray(ready)[..., None], prev_end)
    # Subtraction, not `cand + time`: empty slots hold int32 max and must not overflow.
    # The first empty slot always fits.
    slot = jnp.argmax(row_start - cand >= jnp.asarray(times)[..., None], axis=-1)
    return jnp.take_along_axis(cand, slot[..., None], axis=-1)[..., 0], slot


def makespan_lower_bound(instance: FJSPInstance) -> jax.Array:
    """() float32 makespan lower bound (>= 1) of one instance; the "normalized" divisor.

    The max of: the longest job (sum of each op's shortest time), the total shortest work
    spread over the real machines (rounded up), and the largest load of any machine from
    operations that can run on it only (for a job shop: the classic machine-load bound).
    """
    min_times = F.op_min_times(instance)  # (J, O)
    job_bound = min_times.sum(-1).max(-1)
    num_machines = jnp.maximum(instance.machine_mask.sum(-1), 1).astype(jnp.int32)
    total = min_times.sum((-2, -1))
    spread = (total + num_machines - 1) // num_machines
    single = instance.eligible.sum(-1, keepdims=True) == 1  # (J, O, 1)
    fixed_load = jnp.where(instance.eligible & single, instance.processing_times, 0)
    machine_bound = fixed_load.sum((-3, -2)).max(-1)
    bound = jnp.maximum(jnp.maximum(job_bound, spread), machine_bound)
    return jnp.maximum(bound, 1).astype(jnp.float32)


def _clean(instance: FJSPInstance) -> FJSPInstance:
    """As jnp arrays of the documented dtypes, with eligibility limited to real ops/machines."""
    p = jnp.asarray(instance.processing_times, jnp.int32)
    num_ops = jnp.asarray(instance.num_ops, jnp.int32)
    mm = jnp.asarray(instance.machine_mask, bool)
    op_mask = num_ops[:, None] > jnp.arange(p.shape[1], dtype=jnp.int32)
    elig = jnp.asarray(instance.eligible, bool) & op_mask[:, :, None] & mm[None, None, :]
    return FJSPInstance(
        processing_times=jnp.where(elig, p, 0), eligible=elig, num_ops=num_ops, machine_mask=mm
    )


class FlexibleJobShop(SchedulingEnvironment[FJSPInstance, FJSPState, FJSPObservation]):
    """Flexible job-shop (and job-shop) dispatching; see the module docstring."""

    problem = "fjsp"

    def __init__(self, generator=None, reward: str = "dense", mode: str = "append",
                 timeline_capacity: int | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if timeline_capacity is not None and (
                isinstance(timeline_capacity, bool) or not isinstance(timeline_capacity, int)
                or timeline_capacity < 1):
            raise ValueError(f"timeline_capacity must be a positive int or None, got "
                             f"{timeline_capacity!r}")
        super().__init__(generator or FJSPGenerator(), reward)
        self.mode = mode
        #: insert-mode slots per machine (None: J * O); must be at least the most
        #: operations any machine can receive (`timeline_capacity(instances)`)
        self.timeline_capacity = timeline_capacity

    def num_actions(self, instance: FJSPInstance) -> int:
        num_jobs, _, num_machines = instance.shape
        return num_jobs * num_machines

    def max_steps(self, instance: FJSPInstance) -> int:
        num_jobs, num_ops, _ = instance.shape
        return num_jobs * num_ops

    def _reset(self, instance: FJSPInstance, key: jax.Array) -> FJSPState:
        instance = _clean(instance)
        J, O, M = instance.shape  # noqa: E741
        has_op = (instance.num_ops > 0)[:, None]
        timeline = None
        if self.mode == "insert":
            slots = J * O if self.timeline_capacity is None else min(J * O,
                                                                    self.timeline_capacity)
            empty = jnp.full((M, slots), TIMELINE_EMPTY, jnp.int32)
            # An empty machine starts every op at its job's ready time, 0.
            timeline = MachineTimeline(start=empty, end=empty,
                                       pair_start=jnp.zeros((J, M), jnp.int32))
        return FJSPState(
            instance=instance,
            next_op=jnp.zeros(J, jnp.int32),
            next_times=jnp.where(has_op, instance.processing_times[:, 0, :], 0),
            next_eligible=instance.eligible[:, 0, :] & has_op,
            job_ready=jnp.zeros(J, jnp.int32),
            machine_free=jnp.zeros(M, jnp.int32),
            machine_busy=jnp.zeros(M, jnp.int32),
            machine=jnp.full((J, O), -1, jnp.int32),
            start=jnp.full((J, O), -1, jnp.int32),
            end=jnp.full((J, O), -1, jnp.int32),
            num_scheduled=jnp.zeros((), jnp.int32),
            makespan=jnp.zeros((), jnp.int32),
            normalizer=makespan_lower_bound(instance),
            timeline=timeline,
        )

    def action_mask(self, state: FJSPState) -> jax.Array:
        return state.next_eligible.reshape(-1)

    def is_done(self, state: FJSPState) -> jax.Array:
        return state.num_scheduled >= state.instance.num_ops.sum()

    def current_makespan(self, state: FJSPState) -> jax.Array:
        return state.makespan

    def pair_start_times(self, state: FJSPState) -> jax.Array:
        """(J, M) int32: start the next op of each job would get on each machine (this mode).

        Defined for every pair; only meaningful where `state.next_eligible`.
        """
        if self.mode == "append":
            return jnp.maximum(state.job_ready[:, None], state.machine_free[None, :])
        return state.timeline.pair_start  # kept up to date by every step

    def feature_parts(self, state: FJSPState) -> F.FeatureParts:
        """`observe(state).pair_features` by group, without the repetition
        (`jaxshop.fjsp.features.feature_parts`): what a per-group first layer reads."""
        return F.feature_parts(state, self.pair_start_times(state))

    def observe(self, state: FJSPState) -> FJSPObservation:
        return compiled_call(self, "_observe_impl", state)

    def _observe_impl(self, state: FJSPState) -> FJSPObservation:
        inst = state.instance
        return FJSPObservation(
            pair_features=F.pair_features(state, self.pair_start_times(state)),
            processing_times=inst.processing_times,
            eligible=inst.eligible,
            op_mask=inst.op_mask,
            next_op=state.next_op,
            op_machine=state.machine,
            op_start=state.start,
            op_end=state.end,
            job_ready=state.job_ready,
            machine_free=state.machine_free,
            action_mask=self.action_mask(state),
        )

    def observation_spec(self, instance: FJSPInstance) -> FJSPObservation:
        J, O, M = instance.shape  # noqa: E741
        big = int(TIMELINE_EMPTY)
        return FJSPObservation(
            pair_features=ArraySpec((J, M, F.NUM_FEATURES), jnp.float32, name="pair_features"),
            processing_times=ArraySpec((J, O, M), jnp.int32, 0, None, "processing_times"),
            eligible=ArraySpec.boolean((J, O, M), "eligible"),
            op_mask=ArraySpec.boolean((J, O), "op_mask"),
            next_op=ArraySpec((J,), jnp.int32, 0, O, "next_op"),
            op_machine=ArraySpec((J, O), jnp.int32, -1, M - 1, "op_machine"),
            op_start=ArraySpec((J, O), jnp.int32, -1, big, "op_start"),
            op_end=ArraySpec((J, O), jnp.int32, -1, big, "op_end"),
            job_ready=ArraySpec((J,), jnp.int32, 0, big, "job_ready"),
            machine_free=ArraySpec((M,), jnp.int32, 0, big, "machine_free"),
            action_mask=ArraySpec.boolean((J * M,), "action_mask"),
        )

    @staticmethod
    def _insert(timeline: MachineTimeline, mach, write_row, ready, time):
        """Earliest fitting start on machine `mach`, and the timeline with the op inserted.

        `write_row` is `mach`, or out of range (a dropped write) for a finished state.
        """
        row_start, row_end = timeline.start[mach], timeline.end[mach]  # (N,)
        start, pos = _first_fit(row_start, row_end, ready, time)
        idx = jnp.arange(row_start.shape[0])

        def put(row, value):  # insert at `pos`, shifting the tail right by one
            shifted = jnp.concatenate([row[:1], row[:-1]])
            return jnp.where(idx < pos, row, jnp.where(idx == pos, value, shifted))

        return start, timeline.replace(
            start=timeline.start.at[write_row].set(put(row_start, start), mode="drop"),
            end=timeline.end.at[write_row].set(put(row_end, start + time), mode="drop"),
        )

    @staticmethod
    def _refresh_pair_starts(timeline: MachineTimeline, job, mach, j, m, job_ready,
                             next_times) -> MachineTimeline:
        """After job `job`'s op went to machine `mach`: only that machine's timeline, that
        job's ready time and its next op changed, so only column `mach` and row `job` of
        the cached pair starts change (`j`, `m`: the same, out of range when finished)."""
        column, _ = _first_fit(timeline.start[mach], timeline.end[mach], job_ready,
                               next_times[:, mach])  # (J,)
        row, _ = _first_fit(timeline.start, timeline.end, job_ready[job], next_times[job])
        pair_start = timeline.pair_start.at[:, m].set(column, mode="drop")
        return timeline.replace(pair_start=pair_start.at[j].set(row, mode="drop"))

    def _step(self, state: FJSPState, action: jax.Array, live: jax.Array) -> FJSPState:
        inst = state.instance
        J, O, M = inst.shape  # noqa: E741
        job, mach = action // M, action % M

        # Single-entry scatters; a finished state writes out of range, which is dropped.
        j = jnp.where(live, job, J)
        m = jnp.where(live, mach, M)

        op = state.next_op[job]
        time = inst.processing_times[job, op, mach]
        ready = state.job_ready[job]
        timeline = state.timeline
        if self.mode == "append":
            start = jnp.maximum(ready, state.machine_free[mach])
        else:
            start, timeline = self._insert(timeline, mach, m, ready, time)
        end = start + time

        # The job's following op becomes its next one (a zero row once the job is done).
        nxt = jnp.minimum(op + 1, O - 1)
        has_next = op + 1 < inst.num_ops[job]
        next_times = state.next_times.at[j].set(
            jnp.where(has_next, inst.processing_times[job, nxt], 0), mode="drop")
        next_elig = inst.eligible[job, nxt] & has_next
        job_ready = state.job_ready.at[j].set(end, mode="drop")
        if self.mode == "insert":
            timeline = self._refresh_pair_starts(timeline, job, mach, j, m, job_ready,
                                                 next_times)
        return state.replace(
            next_op=state.next_op.at[j].add(1, mode="drop"),
            next_times=next_times,
            next_eligible=state.next_eligible.at[j].set(next_elig, mode="drop"),
            job_ready=job_ready,
            machine_free=state.machine_free.at[m].max(end, mode="drop"),
            machine_busy=state.machine_busy.at[m].add(time, mode="drop"),
            machine=state.machine.at[j, op].set(mach, mode="drop"),
            start=state.start.at[j, op].set(start, mode="drop"),
            end=state.end.at[j, op].set(end, mode="drop"),
            num_scheduled=state.num_scheduled + live,
            makespan=jnp.where(live, jnp.maximum(state.makespan, end), state.makespan),
            timeline=timeline,
        )

    def schedule(self, state: FJSPState) -> Schedule:
        return Schedule(machine=state.machine, start=state.start, end=state.end)


@register("fjsp")
def _make_fjsp(**kwargs) -> FlexibleJobShop:
    return FlexibleJobShop(**kwargs)


@register("jssp")
def _make_jssp(generator=None, **kwargs) -> FlexibleJobShop:
    return FlexibleJobShop(generator=generator or JobShopGenerator(), **kwargs)
