"""Up-front refusal of work that would not finish in reasonable time on a CPU.

A command that would run for hours with no end in sight is worse than a clear error, so
`check_workload` estimates the work of a method on a batch of instances before anything is
compiled and raises `ValueError` saying why and what to do instead. The limits come from
measurements on a 2-core CPU (see the constants); everything below them finishes within
minutes there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxshop.instances.types import Instance, PFSPInstance

#: Insert mode's per-decision cost grows with the machines' timelines: a 3,000-operation
#: job shop took 76 s (rule:MWKR-EF), 1,000 operations 1.1 s; 10,000 would take hours.
MAX_INSERT_OPERATIONS = 2_000
#: The pointer net scores every (job, machine) pair at every decision: 0.8-2e6
#: pair-decisions per second on the CPU (greedy: 3,000 decisions x 3,000 pairs in 4.6 s,
#: 10,000 x 10,000 in 82 s; best of 8 on 3,000 x 3,000 in 90 s). The limit is minutes.
MAX_POINTER_PAIR_DECISIONS = 200_000_000


def operations(instance: Instance) -> int:
    """Real operations of one unbatched instance (jobs x machines for a flow shop)."""
    if isinstance(instance, PFSPInstance):
        return int(np.asarray(instance.job_mask).sum() * np.asarray(instance.machine_mask).sum())
    return int(np.asarray(instance.num_ops).sum())


def check_workload(instances: Sequence[Instance], spec: str, options: dict[str, Any]) -> None:
    """Raises `ValueError` when `spec` with `options` would not finish in reasonable time."""
    name = spec.partition(":")[0]
    mode = options.get("mode") or "append"
    largest = max(instances, key=operations)
    ops = operations(largest)
    if mode == "insert" and not isinstance(largest, PFSPInstance) and ops > MAX_INSERT_OPERATIONS:
        raise ValueError(
            f"an instance has {ops:,} operations: insert mode is limited to "
            f"{MAX_INSERT_OPERATIONS:,} (its cost per decision grows with the machine "
            "timelines, so this would take hours); use --mode append"
        )
    if name == "pointer" and not isinstance(largest, PFSPInstance):
        jobs, _, machines = largest.shape
        samples = max(1, int(options.get("sample") or 1))
        work = samples * ops * jobs * machines * len(instances)
        if work > MAX_POINTER_PAIR_DECISIONS:
            raise ValueError(
                f"pointer{'' if samples == 1 else f' with --sample {samples}'} on "
                f"{len(instances)} instance(s) of up to {ops:,} operations x {jobs * machines:,} "
                f"(job, machine) pairs would score {work:.1e} pairs (limit "
                f"{MAX_POINTER_PAIR_DECISIONS:.0e}, minutes on a CPU); use fewer samples, "
                "fewer instances per call, or a dispatching rule"
            )
