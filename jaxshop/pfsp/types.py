"""State and observation of the permutation flow-shop env."""

from __future__ import annotations

from typing import Any

from flax import struct

from jaxshop.instances.types import PFSPInstance


@struct.dataclass
class PFSPState:
    instance: PFSPInstance
    sequence: Any  # (max_jobs,) int32: job at each position, -1 after the last scheduled
    scheduled: Any  # (max_jobs,) bool
    completion: Any  # (max_machines,) int32: completion of the sequence's last job per machine
    end_times: Any  # (max_jobs, max_machines) int32: end of job j on machine k, -1 if not yet
    num_scheduled: Any  # () int32
    normalizer: Any  # () float32: makespan lower bound used by the normalized reward


@struct.dataclass
class PFSPObservation:
    processing_times: Any  # (max_jobs, max_machines) float32, static, / max time
    completion: Any  # (max_machines,) float32, dynamic, / normalizer
    scheduled: Any  # (max_jobs,) bool, dynamic
    action_mask: Any  # (max_jobs,) bool: unscheduled real jobs
