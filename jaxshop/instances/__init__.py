"""Instances: types, padding and stacking (loaders, generators and bounds live beside)."""

from jaxshop.instances.bounds import best_known
from jaxshop.instances.formats import (
    FORMATS,
    InstanceFormatError,
    detect_format,
    parse_instance,
    read_instance,
    write_instance,
)
from jaxshop.instances.registry import (
    SUITES,
    NamedInstance,
    builtin_names,
    data_dir,
    load,
    suite,
)
from jaxshop.instances.taillard import taillard_jssp, taillard_pfsp
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
    "FORMATS",
    "Instance",
    "InstanceFormatError",
    "NamedInstance",
    "PFSPInstance",
    "SUITES",
    "best_known",
    "builtin_names",
    "data_dir",
    "detect_format",
    "load",
    "pad",
    "parse_instance",
    "problem_of",
    "read_instance",
    "stack",
    "suite",
    "taillard_jssp",
    "taillard_pfsp",
    "unstack",
    "write_instance",
]
