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

#: Insert mode refreshes one job's row and one machine's column of the cached gap search
#: per decision: about `(jobs + machines) * slots` work, `slots` the timeline capacity
#: (the most operations one machine can get). Measured (rule:MWKR-EF, warm): a 200x50 job
#: shop (10,000 ops, 200 slots, 5e8 slot-steps) 2.1 s; a 200-job FJSP of 10,045 ops on 50
#: machines (5,258 slots, 1.3e10) 17 s, i.e. ~8e8 slot-steps/s. The limit is about a minute.
MAX_INSERT_SLOT_STEPS = 50_000_000_000
#: The pointer net scores every (job, machine) pair at every decision: 0.8-2e6
#: pair-decisions per second on the CPU (greedy: 3,000 decisions x 3,000 pairs in 4.6 s,
#: 10,000 x 10,000 in 82 s; best of 8 on 3,000 x 3,000 in 90 s). The limit is minutes.
MAX_POINTER_PAIR_DECISIONS = 200_000_000


def operations(instance: Instance) -> int:
    """Real operations of one unbatched instance (jobs x machines for a flow shop)."""
    if isinstance(instance, PFSPInstance):
        return int(np.asarray(instance.job_mask).sum() * np.asarray(instance.machine_mask).sum())
    return int(np.asarray(instance.num_ops).sum())


def insert_slot_steps(instances: Sequence[Instance]) -> int:
    """Insert-mode work of solving `instances` as one padded batch: instances x decisions
    x (jobs + machines) x timeline slots (see `MAX_INSERT_SLOT_STEPS`)."""
    from jaxshop.fjsp.env import timeline_capacity

    jobs = max(np.shape(x.eligible)[0] for x in instances)
    machines = max(np.shape(x.eligible)[-1] for x in instances)
    slots = max(timeline_capacity(x) for x in instances)
    decisions = max(operations(x) for x in instances)
    return len(instances) * decisions * (jobs + machines) * slots


def check_workload(instances: Sequence[Instance], spec: str, options: dict[str, Any]) -> None:
    """Raises `ValueError` when `spec` with `options` would not finish in reasonable time."""
    name = spec.partition(":")[0]
    mode = options.get("mode") or "append"
    largest = max(instances, key=operations)
    ops = operations(largest)
    if mode == "insert" and not isinstance(largest, PFSPInstance):
        work = insert_slot_steps(instances)
        if work > MAX_INSERT_SLOT_STEPS:
            raise ValueError(
                f"insert mode on {len(instances)} instance(s) of up to {ops:,} operations "
                f"would take {work:.1e} slot-steps (limit {MAX_INSERT_SLOT_STEPS:.0e}, about "
                "a minute on a CPU); use --mode append or fewer instances per call"
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
