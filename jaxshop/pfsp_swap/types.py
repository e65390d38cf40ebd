"""State and observation of the swap-improvement flow-shop env.

`N = max_jobs` (the padded job slots), `A = N (N - 1) / 2` swap actions (every position
pair `f < g`). `observation_spec` fills a `SwapObservation` with `ArraySpec`s.
"""

from __future__ import annotations

import jax
from flax import struct

from jaxshop.instances.types import PFSPInstance


@struct.dataclass
class SwapState:
    instance: PFSPInstance
    permutation: jax.Array  # (N,) int32: the real jobs first, then -1
    makespan: jax.Array  # () int32: makespan of `permutation`
    swap_makespans: jax.Array  # (A,) int32: makespan after each swap (BIG when invalid)
    best_makespan: jax.Array  # () int32: best makespan of the episode
    steps: jax.Array  # () int32: swaps done
    normalizer: jax.Array  # () float32: machine-load lower bound (>= 1)


@struct.dataclass
class SwapObservation:
    state_features: jax.Array  # (STATE_DIM,) float32, see `jaxshop.pfsp_swap.features`
    action_features: jax.Array  # (A, ACTION_DIM) float32
    permutation: jax.Array  # (N,) int32
    action_mask: jax.Array  # (A,) bool
