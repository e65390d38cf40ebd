"""Constructive permutation flow-shop env: each action appends one job to the sequence.

- Action: a job id in `[0, max_jobs)`; valid iff the job is real and not yet scheduled.
- Reward (`reward=`): "dense" (default) is minus the increase of the partial makespan, so
  an episode returns exactly `-makespan`; "normalized" divides that by the instance's
  machine-load lower bound (return `-makespan / lb`); "terminal" gives `-makespan` on the
  last step only.
- Invalid action: replaced by the lowest-index valid job, `extras["invalid_action"]`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxshop.env import SchedulingEnvironment, register
from jaxshop.instances.types import PFSPInstance
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.pfsp.makespan import append_job
from jaxshop.pfsp.types import PFSPObservation, PFSPState
from jaxshop.schedule import Schedule
from jaxshop.specs import ArraySpec


def machine_load_bound(instance: PFSPInstance) -> jax.Array:
    """max over machines of its total work: a makespan lower bound (>= 1)."""
    return jnp.maximum(instance.processing_times.sum(-2).max(-1), 1).astype(jnp.float32)


class PermutationFlowShop(SchedulingEnvironment[PFSPInstance, PFSPState, PFSPObservation]):
    problem = "pfsp"

    def __init__(self, generator=None, reward: str = "dense"):
        super().__init__(generator or UniformPFSPGenerator(), reward)

    def num_actions(self, instance: PFSPInstance) -> int:
        return instance.shape[0]

    def max_steps(self, instance: PFSPInstance) -> int:
        return instance.shape[0]

    def _reset(self, instance: PFSPInstance, key: jax.Array) -> PFSPState:
        instance = jax.tree_util.tree_map(jnp.asarray, instance)
        n, m = instance.shape
        return PFSPState(
            instance=instance,
            sequence=jnp.full(n, -1, jnp.int32),
            scheduled=jnp.zeros(n, bool),
            completion=jnp.zeros(m, jnp.int32),
            end_times=jnp.full((n, m), -1, jnp.int32),
            num_scheduled=jnp.zeros((), jnp.int32),
            normalizer=machine_load_bound(instance),
        )

    def action_mask(self, state: PFSPState) -> jax.Array:
        return state.instance.job_mask & ~state.scheduled

    def is_done(self, state: PFSPState) -> jax.Array:
        return state.num_scheduled >= state.instance.job_mask.sum()

    def current_makespan(self, state: PFSPState) -> jax.Array:
        return state.completion[-1]

    def observe(self, state: PFSPState) -> PFSPObservation:
        p = state.instance.processing_times
        scale = jnp.maximum(p.max(), 1).astype(jnp.float32)
        return PFSPObservation(
            processing_times=p.astype(jnp.float32) / scale,
            completion=state.completion.astype(jnp.float32) / state.normalizer,
            scheduled=state.scheduled,
            action_mask=self.action_mask(state),
        )

    def observation_spec(self, instance: PFSPInstance) -> PFSPObservation:
        n, m = instance.shape
        return PFSPObservation(
            processing_times=ArraySpec((n, m), jnp.float32, 0.0, 1.0, "processing_times"),
            completion=ArraySpec((m,), jnp.float32, 0.0, None, "completion"),
            scheduled=ArraySpec.boolean((n,), "scheduled"),
            action_mask=ArraySpec.boolean((n,), "action_mask"),
        )

    def _step(self, state: PFSPState, job: jax.Array, live: jax.Array) -> PFSPState:
        new_completion = append_job(state.completion, state.instance.processing_times[job])
        # A finished state is left untouched; only the touched rows are selected, so the
        # no-op costs O(machines), not O(jobs x machines).
        keep = ~live
        position = jnp.minimum(state.num_scheduled, state.sequence.shape[0] - 1)
        new_row = jnp.where(state.instance.machine_mask, new_completion, -1)
        return state.replace(
            sequence=state.sequence.at[position].set(
                jnp.where(keep, state.sequence[position], job)
            ),
            scheduled=state.scheduled.at[job].set(state.scheduled[job] | ~keep),
            completion=jnp.where(keep, state.completion, new_completion),
            end_times=state.end_times.at[job].set(
                jnp.where(keep, state.end_times[job], new_row)
            ),
            num_scheduled=state.num_scheduled + (~keep).astype(jnp.int32),
        )

    def schedule(self, state: PFSPState) -> Schedule:
        end = state.end_times
        p = state.instance.processing_times
        n, m = p.shape
        machine = jnp.where(end >= 0, jnp.arange(m, dtype=jnp.int32)[None, :], -1)
        start = jnp.where(end >= 0, end - p, -1)
        return Schedule(machine=machine, start=start, end=end)


@register("pfsp")
def _make_pfsp(**kwargs) -> PermutationFlowShop:
    return PermutationFlowShop(**kwargs)
