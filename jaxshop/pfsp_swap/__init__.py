"""Swap-improvement flow-shop env (`jaxshop.make("pfsp_swap")`), swap kernels, features."""

from jaxshop.pfsp_swap.env import SwapFlowShop, random_permutation
from jaxshop.pfsp_swap.features import (
    ACTION_DIM,
    FEATURE_DIM,
    STATE_DIM,
    action_features,
    features,
    state_features,
)
from jaxshop.pfsp_swap.swaps import (
    batched_swap_makespans,
    neh_permutation,
    pair_index,
    pair_table,
    sequence_makespan,
    swap_makespans,
    swap_positions,
)
from jaxshop.pfsp_swap.types import SwapObservation, SwapState

__all__ = [
    "ACTION_DIM",
    "FEATURE_DIM",
    "STATE_DIM",
    "SwapFlowShop",
    "SwapObservation",
    "SwapState",
    "action_features",
    "batched_swap_makespans",
    "features",
    "neh_permutation",
    "pair_index",
    "pair_table",
    "random_permutation",
    "sequence_makespan",
    "state_features",
    "swap_makespans",
    "swap_positions",
]
