"""How long a method will take on a batch, estimated before anything is compiled, and
up-front refusal of work beyond the limits.

Each method declares its own estimate (`register_method(..., estimate=...)`, one of the
calibrated estimators below); `estimate(instances, spec, options)` asks the method named
by `spec` for it. An estimate models a method's work as jitted calls of lockstep steps,
`seconds = steps x (per_step + per_unit x units per step)` with the rates of one
calibration table (`CALIBRATION`, measured warm on a busy 2-core CPU at XLA's default
optimization level; `tests/evaluation/test_progress_limits.py` checks it against measured runs
within 2x). `check_workload` refuses, with the estimate, work that would either

* run longer than `MAX_CALL_SECONDS` in one device call, which nothing interrupts
  (Ctrl-C waits for it): a greedy decode or an insert-mode rollout of a huge instance,
  one chunk of best-of-N decoding, one search move; or
* take longer than `MAX_TOTAL_SECONDS` in all, even in chunks with progress and Ctrl-C
  between them (ig / kernel-q iteration budgets, best-of-N decoding, `eval --random`).

Work that is merely long runs in chunks (`baselines/methods.py` `CHUNK_SECONDS`) with a
progress bar and its ETA.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxshop.instances.types import Instance, PFSPInstance

#: One device call estimated to run longer than this is refused: nothing interrupts it
#: (Ctrl-C waits for its end). Greedy pointer decoding of 10 of Taillard's 100x20 job
#: shops, the largest benchmark group, is one call of about 12 s; of one 200x50 job shop
#: (10,000 operations) 33 s, refused.
MAX_CALL_SECONDS = 20.0
#: Chunked work estimated to take longer than this in all is refused: a week, the longest
#: `--time-limit` the command line takes.
MAX_TOTAL_SECONDS = 7 * 24 * 3600.0
#: `eval --random` chunks aim at about this many seconds each (`generated_chunk_size`).
GENERATED_CHUNK_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Rate:
    """Seconds of one lockstep step of a batch: `per_step + per_item x items + per_unit x
    units`, `items` the batch's instances (episodes, runs), `units` its work (what a unit
    is depends on the method, see `CALIBRATION`)."""

    per_step: float
    per_item: float
    per_unit: float

    def seconds(self, steps: float, items: float, units: float) -> float:
        return float(steps) * (self.per_step + self.per_item * float(items)
                               + self.per_unit * float(units))


#: The calibration table (warm runs, compile excluded, XLA's default optimization; a run
#: at `--xla_backend_optimization_level=0`, as in the tests, is about 3x slower). The
#: measurements below ran on a 2-core CPU shared with other jobs: the same run took up to
#: 2.5x longer at a load of 7 than at 2; the rates lie between, so that estimates stay
#: within 2x of both.
CALIBRATION: dict[str, Rate] = {
    # ig: a step is one best insertion (Taillard's acceleration) of every run in lockstep;
    # items: runs (instances x restarts); units: runs x jobs x machines. Measured (10
    # runs, at different loads of the machine): Taillard 20x5 81-187 us/step, 20x20
    # 185-275 us, 50x20 423-527 us, 100x10 430 us; one run of 20x5 about 11 us.
    "ig": Rate(0.0, 7e-6, 30e-9),
    # kernel-q: a step is one tabu move of every instance (all swap makespans, features,
    # Q); items: instances x jobs (the swap scan is sequential over positions); units:
    # instances x jobs^2 x machines^2. Measured (10 Taillard instances): 20x5 1.6-3.9
    # ms/move, 20x20 17-26 ms, 50x20 91-118 ms, 100x5 46-52 ms.
    "kernel-q": Rate(0.0, 8e-6, 6.5e-9),
    # pointer: a step is one decision of a batch of episodes; items: episodes; units:
    # episodes x (job, machine) pairs scored. Measured (one process, warm): best of 64 on
    # 5 Lawrence 10x5 7.2 ms/step (320 episodes, 16,000 units; best of 32, 160 and 8,000:
    # 2.1 ms on a quiet machine, 3.7 ms busy), best of 16 on 10
    # Taillard 15x15 4.5 ms (60, 13,500), best of 8 on 10 of 20x20 2.4 ms (20, 8,000),
    # best of 2 on 10 of 50x20 1.1 ms (4, 4,000); greedy on 10 of 30x15 1.1 ms (10,
    # 4,500), on 10 of 50x20 2.8 ms (10, 10,000); on one 100x30 1.2 ms (1, 3,000), on one
    # 200x50 3.3 ms (1, 10,000).
    "pointer": Rate(0.0, 6e-6, 250e-9),
    # Dispatching rules and random decisions (append mode): a step is one decision of a
    # batch of episodes; units: episodes x (job, machine) pairs. Measured (`eval --random`
    # chunks): rule:MWKR-EF jssp 10x5 0.5-0.9 us per instance-step, 30x20 3.3-5.4 us;
    # random fjsp 10x5 1.2 us.
    "rule": Rate(24e-6, 0.4e-6, 6.4e-9),
    "random": Rate(24e-6, 0.64e-6, 8e-9),
    # Random decisions on flow shops: units: episodes x (jobs + machines). Measured: pfsp
    # 50x10 3.4 us per instance-step.
    "random-pfsp": Rate(24e-6, 0.4e-6, 38e-9),
    # NEH: a step is one insertion of every instance; units: instances x jobs x machines.
    # Measured (`eval --random` chunks): pfsp 20x5 3-11 us per instance-insertion, 100x20
    # 93-156 us.
    "neh": Rate(12e-6, 1.5e-6, 30e-9),
    # Insert mode refreshes one job's row and one machine's column of the cached gap
    # search per decision: units are slot-steps (`insert_slot_steps`). Measured
    # (rule:MWKR-EF): a 200x50 job shop (5e8 slot-steps) 2.1 s; a 200-job FJSP of 10,045
    # ops on 50 machines (1.3e10) 17 s, i.e. ~8e8 slot-steps/s.
    "insert": Rate(0.0, 0.0, 1 / 8e8),
}

#: Methods' default budgets (see their modules), for estimates when none is given.
DEFAULT_IG_ITERATIONS = 100
DEFAULT_KERNEL_Q_MOVES = 200
#: ig: lockstep steps of the NEH + local search start, and of one iteration, per job
#: (measured on Taillard's flow shops: ~6 n and ~d + 2.3 n, the slowest of 10 runs).
IG_START_STEPS_PER_JOB = 6.0
IG_STEPS_PER_JOB = 2.3


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Estimated seconds of a method on a batch: `total` in all, `call` the longest
    single device call; `what` describes the work (for messages).

    What a refusal says comes from the method too: `label` follows its name (` with
    --sample 4`), `call_advice` / `total_advice` replace the generic advice when one call
    or the whole work is too long (`one_item_advice` when that call holds one item)."""

    total: float
    call: float
    what: str
    items: int = 0  # episodes (runs, instances) of the longest call, where it matters
    label: str = ""
    call_advice: str | None = None
    total_advice: str | None = None
    one_item_advice: str | None = None


#: A method's declared estimate: `(instances, options) -> Estimate`, or None where it has
#: no calibration for these instances (`MethodInfo.estimate`).
EstimateFn = Callable[[Sequence[Instance], dict[str, Any]], "Estimate | None"]


def operations(instance: Instance) -> int:
    """Real operations of one unbatched instance (jobs x machines for a flow shop)."""
    if isinstance(instance, PFSPInstance):
        return int(np.asarray(instance.job_mask).sum() * np.asarray(instance.machine_mask).sum())
    return int(np.asarray(instance.num_ops).sum())


def insert_slot_steps(instances: Sequence[Instance]) -> int:
    """Insert-mode work of solving `instances` as one padded batch: instances x decisions
    x (jobs + machines) x timeline slots."""
    from jaxshop.fjsp.env import timeline_capacity

    jobs = max(np.shape(x.eligible)[0] for x in instances)
    machines = max(np.shape(x.eligible)[-1] for x in instances)
    slots = max(timeline_capacity(x) for x in instances)
    decisions = max(operations(x) for x in instances)
    return len(instances) * decisions * (jobs + machines) * slots


def _padded(instances: Sequence[Instance]) -> tuple[int, int, int]:
    """`(jobs, operations per job, machines)` of the padded batch (flow shops: ops = 1)."""
    shapes = np.array([x.shape if len(x.shape) == 3 else (x.shape[0], 1, x.shape[1])
                       for x in instances])
    jobs, ops, machines = (int(v) for v in shapes.max(axis=0))
    return jobs, ops, machines


def format_seconds(seconds: float) -> str:
    """A duration for people: `42 s`, `3.5 min`, `2.1 h`, `4.0 days`."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.2g} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def estimate_pointer(instances: Sequence[Instance], options: dict[str, Any]) -> Estimate | None:
    """The pointer net's decoding (greedy, or best of `sample` in chunks); job shops only."""
    if isinstance(instances[0], PFSPInstance):
        return None
    samples = int(options.get("sample") or 1)
    jobs, ops, machines = _padded(instances)
    pairs, steps, batch = jobs * machines, jobs * ops, len(instances)
    rate = CALIBRATION["pointer"]
    label = f" with --sample {samples}" if samples > 1 else ""
    total_advice = "use fewer samples or fewer instances per call"
    if samples <= 1:  # greedy: one call
        seconds = rate.seconds(steps, batch, batch * pairs)
        advice = ("use fewer instances per call or a dispatching rule" if batch > 1 else
                  "one episode of an instance this size is one call; use a dispatching rule")
        return Estimate(seconds, seconds, f"greedy decoding ({steps:,} decisions x "
                        f"{batch:,} instance(s) x {pairs:,} pairs)", label=label,
                        call_advice=advice, total_advice=total_advice)
    from jaxshop_baselines.pointer.inference import call_group, chunk_size

    per_chunk = chunk_size(samples, batch, pairs)
    group = call_group(per_chunk, batch, steps, pairs)
    calls = -(-samples // per_chunk) * -(-batch // group)
    call = rate.seconds(steps, group * per_chunk, group * per_chunk * pairs)
    # Calls of best-of-N hold one instance's candidates at least (`call_group`).
    return Estimate(calls * call, call,
                    f"best of {samples} in {calls:,} call(s) of {per_chunk} candidate(s) x "
                    f"{group:,} instance(s), {steps:,} decisions x {pairs:,} pairs each",
                    group * per_chunk, label=label,
                    call_advice="use fewer samples or a dispatching rule",
                    total_advice=total_advice,
                    one_item_advice="one episode of an instance this size is one call, which "
                    "fewer samples or instances do not shorten; use a dispatching rule")


def estimate_ig(instances: Sequence[Instance], options: dict[str, Any]) -> Estimate:
    """Iterated greedy: the NEH + local search start, then `iterations` (or a time limit)."""
    jobs, _, machines = _padded(instances)
    runs = len(instances) * int(options.get("restarts") or 1)
    per_step = CALIBRATION["ig"].seconds(1, runs, runs * jobs * machines)
    start = IG_START_STEPS_PER_JOB * jobs * per_step
    if options.get("time_limit") is not None and options.get("iterations") is None:
        total = float(options["time_limit"])  # the start included
        return Estimate(total, per_step, f"a time limit of {format_seconds(total)}")
    iterations = options.get("iterations")
    iterations = DEFAULT_IG_ITERATIONS if iterations is None else int(iterations)
    steps = iterations * (4 + IG_STEPS_PER_JOB * jobs)
    return Estimate(start + steps * per_step, per_step,
                    f"{iterations:,} iterations x {runs:,} run(s) of {jobs}x{machines}")


def estimate_kernel_q(instances: Sequence[Instance], options: dict[str, Any]) -> Estimate:
    """Kernel-Q tabu search: `iterations` moves (or a time limit) of the whole batch."""
    jobs, _, machines = _padded(instances)
    batch = len(instances)
    per_move = CALIBRATION["kernel-q"].seconds(1, batch * jobs, batch * jobs**2 * machines**2)
    if options.get("time_limit") is not None and options.get("iterations") is None:
        total = float(options["time_limit"])
        return Estimate(total, per_move, f"a time limit of {format_seconds(total)}")
    moves = options.get("iterations")
    moves = DEFAULT_KERNEL_Q_MOVES if moves is None else int(moves)
    return Estimate((moves + 1) * per_move, per_move,
                    f"{moves:,} moves x {len(instances):,} instance(s) of {jobs}x{machines}")


def estimate_neh(instances: Sequence[Instance], options: dict[str, Any]) -> Estimate:
    """NEH: one jitted call of `jobs` insertions of every instance."""
    jobs, _, machines = _padded(instances)
    batch = len(instances)
    seconds = CALIBRATION["neh"].seconds(jobs, batch, batch * jobs * machines)
    return Estimate(seconds, seconds, f"NEH on {batch:,} instance(s) of {jobs}x{machines}")


def rollout_estimate(rate: str) -> EstimateFn:
    """The estimate of one jitted rollout of a batch (dispatching rules, random decisions
    in append mode) at job-shop rate `CALIBRATION[rate]` (flow shops: `random-pfsp`)."""

    def estimate_rollout(instances: Sequence[Instance], options: dict[str, Any]) -> Estimate:
        jobs, ops, machines = _padded(instances)
        batch = len(instances)
        if isinstance(instances[0], PFSPInstance):
            steps, r, units = jobs, CALIBRATION["random-pfsp"], batch * (jobs + machines)
        else:
            steps, r, units = jobs * ops, CALIBRATION[rate], batch * jobs * machines
        seconds = r.seconds(steps, batch, units)
        return Estimate(seconds, seconds, f"{steps:,} decisions x {batch:,} instance(s)")

    return estimate_rollout


def _insert_mode(instances: Sequence[Instance], options: dict[str, Any]) -> bool:
    return (options.get("mode") or "append") == "insert" and not isinstance(instances[0],
                                                                           PFSPInstance)


def estimate(instances: Sequence[Instance], spec: str, options: dict[str, Any],
             count: int | None = None, chunk: int | None = None) -> Estimate | None:
    """Estimated seconds of method `spec` with `options` on `instances` solved as one
    padded batch (compile excluded), or None for a method without a calibration: what the
    method declares (`MethodInfo.estimate`), except that any job-shop construction in
    insert mode is estimated by its slot-steps.

    `count`: `eval --random`, `count` instances like `instances[0]`, solved in chunks of
    `chunk` instances (default `generated_chunk_size`).
    """
    from jaxshop_baselines.methods import method_info

    try:
        declared = method_info(spec).estimate
    except ValueError:  # not a registered method: no calibration
        declared = None
    if count is not None:
        chunk = min(count, chunk or generated_chunk_size(instances[0], spec, options))
        one = estimate([instances[0]] * chunk, spec, options)
        if one is None:
            return None
        outer = estimate(instances, spec, options)  # what a refusal says
        chunks = -(-count // chunk)
        return dataclasses.replace(
            outer or one, total=chunks * one.total, call=one.total, items=0,
            what=f"{count:,} instances in {chunks:,} chunk(s) of {chunk:,}")
    own = None if declared is None else declared(instances, options)
    if _insert_mode(instances, options):
        work = insert_slot_steps(instances)
        seconds = CALIBRATION["insert"].seconds(1, 0, work)
        return Estimate(seconds, seconds, f"{work:.1e} insert-mode slot-steps",
                        label="" if own is None else own.label,
                        call_advice="use --mode append or fewer instances per call")
    return own


def generated_chunk_size(instance: Instance, spec: str, options: dict[str, Any],
                         most: int = 4096) -> int:
    """Instances per jitted chunk of `eval --random` with instances like `instance`: about
    `GENERATED_CHUNK_SECONDS` per chunk (so that progress and Ctrl-C get a turn), a power
    of two in 1..`most` (`most` for a method without a calibration)."""
    one = estimate([instance], spec, options)
    two = estimate([instance, instance], spec, options)
    if one is None or two is None:
        return most
    per_instance = max(two.total - one.total, 1e-12)  # the per-step overhead is shared
    fit = GENERATED_CHUNK_SECONDS / per_instance
    if fit >= most:
        return most
    return max(1, 2 ** int(math.floor(math.log2(max(1.0, fit)))))


def check_workload(instances: Sequence[Instance], spec: str, options: dict[str, Any],
                   count: int | None = None, chunk: int | None = None) -> Estimate | None:
    """Raises `ValueError` (one line, with the estimate) when `spec` with `options` on
    `instances` (or `count` instances like them, `eval --random`) would run longer than
    `MAX_CALL_SECONDS` in one device call or `MAX_TOTAL_SECONDS` in all; returns the
    estimate otherwise (None: no calibration for the method)."""
    est = estimate(instances, spec, options, count, chunk)
    if est is None:
        return None
    largest = max(instances, key=operations)
    ops = operations(largest)
    where = (f"{count:,} instances" if count is not None else f"{len(instances)} instance(s)"
             ) + f" of up to {ops:,} operations"
    label = spec + est.label
    insert = _insert_mode([largest], options)
    if est.call > MAX_CALL_SECONDS:
        advice = ((est.one_item_advice if est.items == 1 else None) or est.call_advice
                  or "use fewer or smaller instances per call")
        raise ValueError(
            f"{label}{' in insert mode' if insert else ''} on {where} would run about "
            f"{format_seconds(est.call)} in one device call that cannot be interrupted "
            f"({est.what}; limit {format_seconds(MAX_CALL_SECONDS)} on a CPU); {advice}"
        )
    if est.total > MAX_TOTAL_SECONDS:
        if count is not None:
            advice = "use fewer instances"
        else:
            advice = est.total_advice or "use a smaller --iterations or a --time-limit"
        raise ValueError(
            f"{label} on {where} would take about {format_seconds(est.total)} ({est.what}; "
            f"limit {format_seconds(MAX_TOTAL_SECONDS)} on a CPU); {advice}"
        )
    return est
