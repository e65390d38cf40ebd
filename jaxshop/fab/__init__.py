"""Dynamic semiconductor fab (Intel Mini-Fab): discrete-event env with an OEE-band reward."""

from jaxshop.fab.env import FabEnv
from jaxshop.fab.generator import (
    DEFAULT_WIP_EDGES,
    FIXED_RULES,
    default_params,
    draw_random_inputs,
    mixture_weights,
    validate_params,
    weekly_plan,
)
from jaxshop.fab.regime import (
    describe_regime,
    load_params,
    params_from_json,
    params_to_json,
    regime_params,
)
from jaxshop.fab.sim import initial_state, queue_lengths, simulate_day, wip_per_step
from jaxshop.fab.types import FabObservation, FabParams, FabState

__all__ = [
    "DEFAULT_WIP_EDGES",
    "FIXED_RULES",
    "FabEnv",
    "FabObservation",
    "FabParams",
    "FabState",
    "default_params",
    "describe_regime",
    "draw_random_inputs",
    "initial_state",
    "load_params",
    "mixture_weights",
    "params_from_json",
    "params_to_json",
    "queue_lengths",
    "regime_params",
    "simulate_day",
    "validate_params",
    "weekly_plan",
    "wip_per_step",
]
