"""Flexible job shop (and job shop) dispatching: env, generators, pair features."""

from jaxshop.fjsp.env import MODES, FlexibleJobShop, makespan_lower_bound
from jaxshop.fjsp.features import (
    DYNAMIC_FEATURES,
    NUM_FEATURES,
    STATIC_FEATURES,
    FeatureParts,
    assemble,
    feature_parts,
    op_min_times,
    pair_features,
    remaining_ops,
    remaining_work,
)
from jaxshop.fjsp.generator import FJSPGenerator, JobShopGenerator
from jaxshop.fjsp.types import TIMELINE_EMPTY, FJSPObservation, FJSPState, MachineTimeline

__all__ = [
    "DYNAMIC_FEATURES",
    "FJSPGenerator",
    "FJSPObservation",
    "FJSPState",
    "FlexibleJobShop",
    "JobShopGenerator",
    "MODES",
    "MachineTimeline",
    "NUM_FEATURES",
    "STATIC_FEATURES",
    "TIMELINE_EMPTY",
    "FeatureParts",
    "assemble",
    "feature_parts",
    "makespan_lower_bound",
    "op_min_times",
    "pair_features",
    "remaining_ops",
    "remaining_work",
]
