"""Permutation flow shop: env, generator, makespan kernels."""

from jaxshop.pfsp.env import PermutationFlowShop, machine_load_bound
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.pfsp.makespan import append_job, batched_makespan, completion_times, makespan
from jaxshop.pfsp.types import PFSPObservation, PFSPState

__all__ = [
    "PFSPObservation",
    "PFSPState",
    "PermutationFlowShop",
    "UniformPFSPGenerator",
    "append_job",
    "batched_makespan",
    "completion_times",
    "machine_load_bound",
    "makespan",
]
