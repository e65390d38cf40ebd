"""Random flow-shop instances, jit-able from a key."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxshop.instances.types import PFSPInstance, check_worst_case


class UniformPFSPGenerator:
    """`U[low, high]` integer times like Taillard's, optionally padded to a larger shape."""

    def __init__(self, num_jobs: int = 20, num_machines: int = 5, low: int = 1, high: int = 99,
                 max_jobs: int | None = None, max_machines: int | None = None):
        if not (1 <= num_jobs and 1 <= num_machines):
            raise ValueError("need at least one job and one machine")
        if not 0 <= low <= high:
            raise ValueError(f"need 0 <= low <= high, got {low}, {high}")
        check_worst_case(num_jobs * num_machines, high, "UniformPFSPGenerator")
        self.num_jobs, self.num_machines = num_jobs, num_machines
        self.low, self.high = low, high
        self.max_jobs = max_jobs or num_jobs
        self.max_machines = max_machines or num_machines
        if self.max_jobs < num_jobs or self.max_machines < num_machines:
            raise ValueError("padded size smaller than the instance size")

    def __call__(self, key: jax.Array) -> PFSPInstance:
        times = jax.random.randint(
            key, (self.num_jobs, self.num_machines), self.low, self.high + 1, dtype=jnp.int32
        )
        padded = jnp.zeros((self.max_jobs, self.max_machines), jnp.int32)
        padded = padded.at[: self.num_jobs, : self.num_machines].set(times)
        return PFSPInstance(
            processing_times=padded,
            job_mask=jnp.arange(self.max_jobs) < self.num_jobs,
            machine_mask=jnp.arange(self.max_machines) < self.num_machines,
        )
