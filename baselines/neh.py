"""The `neh` method: NEH (Taillard's acceleration) on batches of PFSP instances.

The algorithm and its kernels (`neh`, `neh_batch`, `best_insertion`, `insert_at`,
`remove_at`, `neh_order`) live in the env package, `jaxshop.pfsp.neh` (the swap env
starts from it too); they are re-exported here. This module adds the method wrapper:
registration, stacking instances into a padded batch, and `Solution`s with schedules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jaxshop_baselines.limits import estimate_neh
from jaxshop_baselines.methods import Method, Solution, register_method

from jaxshop.instances.types import PFSPInstance, stack
from jaxshop.pfsp.makespan import heads_and_tails
from jaxshop.pfsp.neh import best_insertion, insert_at, neh, neh_batch, neh_order, remove_at
from jaxshop.schedule import permutation_schedule

__all__ = [
    "best_insertion",
    "heads_and_tails",
    "insert_at",
    "neh",
    "neh_batch",
    "neh_order",
    "permutation_solutions",
    "remove_at",
]


def permutation_solutions(
    instances: Sequence[PFSPInstance], permutations: jax.Array
) -> list[Solution]:
    """`Solution`s (makespan, exact-size schedule, permutation) from `(B, max_jobs)` perms."""
    perms = np.asarray(permutations)
    out = []
    for inst, row in zip(instances, perms, strict=True):
        perm = [int(j) for j in row if j >= 0]
        schedule = permutation_schedule(inst, perm)
        out.append(Solution(schedule.makespan, schedule, perm))
    return out


@register_method("neh", "NEH with Taillard's acceleration (PFSP)", options=(), problems=("pfsp",),
                 estimate=estimate_neh)
def _neh_method(arg: str | None = None, **_: Any) -> Method:
    """The `neh` method of the CLI / method registry (no options)."""

    def solve(instances: list[PFSPInstance], key: jax.Array, progress=None) -> list[Solution]:
        batch = stack(instances)
        perms, _ = neh_batch(batch.processing_times, batch.job_mask)
        return permutation_solutions(instances, perms)

    def makespans(instances: PFSPInstance, keys: jax.Array) -> jax.Array:
        return jax.vmap(neh)(instances.processing_times, instances.job_mask)[1]

    return Method("neh", ("pfsp",), solve, batch_makespans=makespans)
