"""Instances: types, padding and stacking (loaders, generators and bounds live beside)."""

from jaxshop.instances.bounds import best_known, best_known_for, instance_fingerprint
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
    Suite,
    builtin_names,
    data_dir,
    list_suites,
    load,
    packaged_data_dir,
    size_group,
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
    "Suite",
    "best_known",
    "best_known_for",
    "builtin_names",
    "data_dir",
    "detect_format",
    "instance_fingerprint",
    "list_suites",
    "load",
    "packaged_data_dir",
    "pad",
    "parse_instance",
    "problem_of",
    "read_instance",
    "size_group",
    "stack",
    "suite",
    "taillard_jssp",
    "taillard_pfsp",
    "unstack",
    "write_instance",
]
