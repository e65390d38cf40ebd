"""State and observation of the permutation flow-shop env.

`observation_spec` fills a `PFSPObservation` with `ArraySpec`s.
"""

from __future__ import annotations

import jax
from flax import struct

from jaxshop.instances.types import PFSPInstance


@struct.dataclass
class PFSPState:
    instance: PFSPInstance
    sequence: jax.Array  # (max_jobs,) int32: job at each position, -1 after the last scheduled
    scheduled: jax.Array  # (max_jobs,) bool
    completion: jax.Array  # (max_machines,) int32: end of the sequence's last job per machine
    end_times: jax.Array  # (max_jobs, max_machines) int32: end of job j on machine k, -1 if not yet
    num_scheduled: jax.Array  # () int32
    normalizer: jax.Array  # () float32: makespan lower bound used by the normalized reward


@struct.dataclass
class PFSPObservation:
    processing_times: jax.Array  # (max_jobs, max_machines) float32, static, / max time
    completion: jax.Array  # (max_machines,) float32, dynamic, / normalizer
    scheduled: jax.Array  # (max_jobs,) bool, dynamic
    action_mask: jax.Array  # (max_jobs,) bool: unscheduled real jobs
