"""Permutation flow shop: env, generator, max-plus makespan kernels, NEH."""

from jaxshop.pfsp.env import PermutationFlowShop, machine_load_bound
from jaxshop.pfsp.generator import UniformPFSPGenerator
from jaxshop.pfsp.makespan import append_job, batched_makespan, completion_times, makespan
from jaxshop.pfsp.neh import neh_batch, neh_permutation
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
    "neh_batch",
    "neh_permutation",
]
