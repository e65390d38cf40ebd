"""State and observation of the swap-improvement flow-shop env."""

from __future__ import annotations

from typing import Any

from flax import struct

from jaxshop.instances.types import PFSPInstance


@struct.dataclass
class SwapState:
    instance: PFSPInstance
    permutation: Any  # (N,) int32: the real jobs first, then -1
    makespan: Any  # () int32: makespan of `permutation`
    swap_makespans: Any  # (A,) int32: makespan after each swap (BIG when invalid)
    best_makespan: Any  # () int32: best makespan of the episode
    steps: Any  # () int32: swaps done
    normalizer: Any  # () float32: machine-load lower bound (>= 1)


@struct.dataclass
class SwapObservation:
    state_features: Any  # (STATE_DIM,) float32, see `jaxshop.pfsp_swap.features`
    action_features: Any  # (A, ACTION_DIM) float32
    permutation: Any  # (N,) int32
    action_mask: Any  # (A,) bool
