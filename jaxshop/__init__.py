"""jaxshop: pure-functional, vectorized production-scheduling environments in JAX."""

import jaxshop.fab  # noqa: F401  (registers the "fab" env)
import jaxshop.pfsp_swap  # noqa: F401  (registers the "pfsp_swap" env)
from jaxshop import fjsp, interop, pfsp
from jaxshop.env import Environment, cached_make, make, register, registered
from jaxshop.instances.registry import data_dir, load
from jaxshop.instances.types import FJSPInstance, PFSPInstance, pad, problem_of, stack, unstack
from jaxshop.replay import replay, replay_makespan
from jaxshop.schedule import Schedule, Validation, validate
from jaxshop.types import StepType, TimeStep

__version__ = "0.1.0"

__all__ = [
    "Environment",
    "FJSPInstance",
    "PFSPInstance",
    "Schedule",
    "StepType",
    "TimeStep",
    "Validation",
    "cached_make",
    "data_dir",
    "fjsp",
    "interop",
    "load",
    "make",
    "pad",
    "pfsp",
    "problem_of",
    "register",
    "registered",
    "replay",
    "replay_makespan",
    "stack",
    "unstack",
    "validate",
]
