"""Instances: types, padding and stacking (loaders, generators and bounds live beside)."""

from jaxshop.instances.types import (
    FJSPInstance,
    Instance,
    PFSPInstance,
    pad,
    problem_of,
    stack,
    unstack,
)

__all__ = [
    "FJSPInstance",
    "Instance",
    "PFSPInstance",
    "pad",
    "problem_of",
    "stack",
    "unstack",
]
