"""Swap-improvement flow-shop env: the state is a complete permutation, an action swaps two jobs.

- State (`SwapState`): a permutation of one PFSP instance's jobs, its makespan and the
  makespans of all its swap neighbours (`jaxshop.pfsp_swap.swaps.swap_makespans`).
  `start=` picks the first permutation: "random" (default; a uniform permutation drawn
  per job slot, so padding does not change it), "neh" or "identity";
  `env.reset_from(instance, permutation)` starts from a given one; inside `jit`,
  `env.state_at(instance, permutation)` is that state and `env.move_to(state,
  permutation, makespan)` the one transition to another permutation (a swap, or a
  search's kick), which `step` uses too.
- Action: the flat index of a swap `sw(f, g)`, `f < g`, over `N (N - 1) / 2` pairs for
  `N` padded jobs (`swaps.pair_index`); swaps touching a padded position are masked.
- Reward (`reward=`): "improvement" (default) is the decrease of the makespan (negative
  for a worsening swap), so an episode returns `Cmax(start) - Cmax(end)`; "normalized"
  divides it by the machine-load lower bound.
- Episode: at most `max_swaps` swaps (truncation: the LAST step keeps discount 1); with
  `stop_at_local_optimum` (default) the episode terminates (discount 0) as soon as no
  swap lowers the makespan. An instance with fewer than two jobs has no action and starts
  terminated.
- Observation (`SwapObservation`): the n-independent state and action features of
  `jaxshop.pfsp_swap.features`, the permutation and the flat action mask.
- Invalid action: the lowest-index valid swap, flagged (shared rule of `Environment`).
- `extras`: `makespan` (of the current permutation) and `invalid_action`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxshop.env import REWARDS as SCHEDULING_REWARDS
from jaxshop.env import SchedulingEnvironment, compiled_call, register
from jaxshop.instances.types import PFSPInstance, validate_instance
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.pfsp.makespan import completion_times
from jaxshop.pfsp_swap.features import (
    ACTION_DIM,
    STATE_DIM,
    action_features,
    load_bound,
    state_features,
)
from jaxshop.pfsp_swap.swaps import (
    neh_permutation,
    num_swaps,
    pair_table,
    sequence_makespan,
    swap_makespans,
    swap_positions,
    valid_swaps,
)
from jaxshop.pfsp_swap.types import SwapObservation, SwapState
from jaxshop.schedule import Schedule
from jaxshop.specs import ArraySpec
from jaxshop.types import restart
from jaxshop.utils import tree_select


def _improvement(before: jax.Array, after: jax.Array, normalizer: jax.Array,
                 done: jax.Array) -> jax.Array:
    return (before - after).astype(jnp.float32)


#: reward mode -> `f(makespan before, makespan after, normalizer, done)`
SWAP_REWARDS = {"improvement": _improvement, "normalized": SCHEDULING_REWARDS["normalized"]}
REWARDS = tuple(SWAP_REWARDS)
STARTS = ("random", "neh", "identity")


def random_permutation(key: jax.Array, job_mask: jax.Array) -> jax.Array:
    """Uniform permutation of the real jobs (then -1); slot `i` draws from `fold_in(key, i)`,
    so the order of the real jobs does not depend on the padded size."""
    slots = jnp.arange(job_mask.shape[0])
    u = jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i)))(slots)
    order = jnp.argsort(jnp.where(job_mask, u, 2.0)).astype(jnp.int32)
    return jnp.where(slots < job_mask.sum(), order, -1).astype(jnp.int32)


class SwapFlowShop(SchedulingEnvironment[PFSPInstance, SwapState, SwapObservation]):
    problem = "pfsp"
    reward_modes = SWAP_REWARDS

    def __init__(self, generator=None, reward: str = "improvement", max_swaps: int = 32,
                 start: str = "random", stop_at_local_optimum: bool = True):
        super().__init__(generator or UniformPFSPGenerator(), reward)
        if start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {start!r}")
        if not (isinstance(max_swaps, int) and max_swaps >= 1):
            raise ValueError(f"max_swaps must be an integer >= 1, got {max_swaps!r}")
        self.max_swaps = max_swaps
        self.start_mode = start
        self.stop_at_local_optimum = bool(stop_at_local_optimum)

    # --- sizes ---------------------------------------------------------------------------

    def num_actions(self, instance: PFSPInstance) -> int:
        return num_swaps(instance.shape[0])

    def max_steps(self, instance: PFSPInstance) -> int:
        return self.max_swaps

    # --- reset ---------------------------------------------------------------------------

    def state_at(self, instance: PFSPInstance, permutation: jax.Array) -> SwapState:
        """The state at `permutation` (real jobs first, then -1), its swap table computed."""
        instance = jax.tree_util.tree_map(jnp.asarray, instance)
        perm = jnp.asarray(permutation, jnp.int32)
        n = instance.job_mask.sum()
        spans = swap_makespans(instance.processing_times, perm, n)
        cmax = sequence_makespan(instance.processing_times, perm)
        return SwapState(
            instance=instance, permutation=perm, makespan=cmax, swap_makespans=spans,
            best_makespan=cmax, steps=jnp.zeros((), jnp.int32),
            normalizer=load_bound(instance),
        )

    def _reset(self, instance: PFSPInstance, key: jax.Array) -> SwapState:
        jm = jnp.asarray(instance.job_mask)
        if self.start_mode == "random":
            perm = random_permutation(jax.random.fold_in(key, 0x5A5), jm)
        elif self.start_mode == "neh":
            perm = neh_permutation(instance.processing_times, jm)
        else:
            slots = jnp.arange(jm.shape[0], dtype=jnp.int32)
            perm = jnp.where(slots < jm.sum(), slots, -1)
        return self.state_at(instance, perm)

    def reset_from(self, instance: PFSPInstance, permutation: jax.Array):
        """`(state, timestep)` starting from a given permutation (real jobs first, then -1)."""
        if not any(isinstance(x, jax.core.Tracer)
                   for x in jax.tree_util.tree_leaves((instance, permutation))):
            validate_instance(instance, source="SwapFlowShop.reset_from")
        return compiled_call(self, "_given_observed", instance, permutation)

    def _given_observed(self, instance, permutation):
        state = self.state_at(instance, permutation)
        ts = restart(self.observe(state), self.extras(state, False))
        return state, ts

    # --- step ----------------------------------------------------------------------------

    def move_to(self, state: SwapState, permutation: jax.Array, makespan: jax.Array
                ) -> SwapState:
        """The state one step on, at `permutation` of makespan `makespan` (its swap table
        recomputed, the only O(N^2 M) part): a swap's makespan is read off the current
        table; a search's kick computes it (`sequence_makespan`)."""
        n = state.instance.job_mask.sum()
        return state.replace(
            permutation=permutation, makespan=makespan,
            swap_makespans=swap_makespans(state.instance.processing_times, permutation, n),
            best_makespan=jnp.minimum(state.best_makespan, makespan), steps=state.steps + 1,
        )

    def _step(self, state: SwapState, action: jax.Array, live: jax.Array) -> SwapState:
        f_idx, g_idx = pair_table(state.permutation.shape[0])
        f, g = jnp.asarray(f_idx)[action], jnp.asarray(g_idx)[action]
        perm = jnp.where(live, swap_positions(state.permutation, f, g), state.permutation)
        return tree_select(live, self.move_to(state, perm, state.swap_makespans[action]),
                           state)

    # --- queries -------------------------------------------------------------------------

    def improving(self, state: SwapState) -> jax.Array:
        """() bool: some valid swap lowers the makespan."""
        return jnp.any(state.swap_makespans < state.makespan)

    def is_terminal(self, state: SwapState) -> jax.Array:
        """() bool: ended inside the env (local optimum with the stop on, or < 2 jobs)."""
        few = state.instance.job_mask.sum() < 2
        if self.stop_at_local_optimum:
            return few | ~self.improving(state)
        return few

    def is_done(self, state: SwapState) -> jax.Array:
        return (state.steps >= self.max_swaps) | self.is_terminal(state)

    def action_mask(self, state: SwapState) -> jax.Array:
        n = state.instance.job_mask.sum()
        return valid_swaps(state.permutation.shape[0], n) & ~self.is_done(state)

    def current_makespan(self, state: SwapState) -> jax.Array:
        return state.makespan

    def observe(self, state: SwapState) -> SwapObservation:
        mask = self.action_mask(state)
        return SwapObservation(
            state_features=state_features(state.instance, state.permutation),
            action_features=action_features(state.instance, state.permutation, state.makespan,
                                            state.swap_makespans, mask),
            permutation=state.permutation,
            action_mask=mask,
        )

    def observation_spec(self, instance: PFSPInstance) -> SwapObservation:
        n = instance.shape[0]
        a = num_swaps(n)
        return SwapObservation(
            state_features=ArraySpec((STATE_DIM,), jnp.float32, None, None, "state_features"),
            action_features=ArraySpec((a, ACTION_DIM), jnp.float32, None, None,
                                      "action_features"),
            permutation=ArraySpec((n,), jnp.int32, -1, n - 1, "permutation"),
            action_mask=ArraySpec.boolean((a,), "action_mask"),
        )

    def schedule(self, state: SwapState) -> Schedule:
        p = state.instance.processing_times
        n, m = p.shape
        perm = state.permutation
        rows = completion_times(p, perm)  # (n, m) in sequence order
        target = jnp.where(perm >= 0, perm, n)
        end = jnp.full((n, m), -1, jnp.int32).at[target].set(rows.astype(jnp.int32),
                                                            mode="drop")
        real = (end >= 0) & state.instance.machine_mask[None, :]
        end = jnp.where(real, end, -1)
        machine = jnp.where(real, jnp.arange(m, dtype=jnp.int32)[None, :], -1)
        start = jnp.where(real, end - p, -1)
        return Schedule(machine=machine, start=start, end=end)


@register("pfsp_swap")
def _make_pfsp_swap(**kwargs) -> SwapFlowShop:
    return SwapFlowShop(**kwargs)
