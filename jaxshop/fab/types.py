"""Parameters, state and observation of the Mini-Fab env (the model: docs/fab.md).

Sizes: 5 machines (Ma, Mb, Mc, Md, Me), 6 steps (S1..S6), 3 products (Pa, Pb, TW),
`A` actions (weight rows), `B` WIP bins, `L = max_lots` lot slots, `T` simulated days
(warm-up included), `K = max_failures` failure draws per machine.
"""

from __future__ import annotations

from typing import Any

from flax import struct

NUM_MACHINES = 5
NUM_STEPS = 6
NUM_PRODUCTS = 3
MACHINE_NAMES = ("Ma", "Mb", "Mc", "Md", "Me")
STEP_NAMES = ("S1", "S2", "S3", "S4", "S5", "S6")
PRODUCT_NAMES = ("Pa", "Pb", "TW")
TW = 2  # product index of test wafers
DAY = 1440  # minutes
WEIGHT_SUM = 6  # every weight row sums to this (so 1/2, 1/3 and 1/6 are exact)
SCORE_SCALE = 1000  # normalized heuristic scores are integers in [0, SCORE_SCALE]
MAX_BATCH = 4  # largest batch size a parameter set may ask for
ID_RANGE = 2**18  # lot ids stay below this, so (score, id) packs into one int32 key


@struct.dataclass
class FabParams:
    """One fab variant; every field is an array so variants stack and vmap together."""

    step_machines: Any  # (6, 5) bool: machine m may process step s
    process_time: Any  # (6,) int32 minutes per step
    load_time: Any  # (5,) int32 minutes per batch
    unload_time: Any  # (5,) int32 minutes per batch
    batch_size: Any  # (6,) int32 in [1, MAX_BATCH]: lots per batch (exactly)
    mix_products: Any  # (6,) bool: a batch at this step may hold both Pa and Pb
    setup_time: Any  # (5,) int32: paid when a machine changes step (0 = none)
    pm_interval: Any  # (5,) int32: preventive maintenance period (0 = none)
    pm_duration: Any  # (5,) int32
    failure_mean: Any  # (5,) float32: mean minutes between failures (0 = never fails)
    failure_std: Any  # (5,) float32
    repair_mean: Any  # (5,) float32
    repair_std: Any  # (5,) float32
    release_low: Any  # (3,) int32: lots per day per product, uniform in [low, high]
    release_high: Any  # (3,) int32
    weekly: Any  # () bool: use the weekly plan `weekly_starts` instead
    weekly_starts: Any  # (3,) int32 lots per week per product
    weights: Any  # (A, 3) int32, rows sum to WEIGHT_SUM: FIFO, SPT, LRW weights
    wip_edges: Any  # (6, B - 1) int32 ascending: WIP bin edges per step
    oee_target: Any  # () float32
    oee_half_width: Any  # () float32

    @property
    def num_actions(self) -> int:
        return self.weights.shape[-2]

    @property
    def num_bins(self) -> int:
        return self.wip_edges.shape[-1] + 1


@struct.dataclass
class FabState:
    """A fab at the start of a day (between two agent decisions)."""

    params: FabParams
    # lot table (a slot with lot_step == -1 is free)
    lot_step: Any  # (L,) int32: current step 0..5, -1 = free slot
    lot_product: Any  # (L,) int32
    lot_arrival: Any  # (L,) int32: time the lot joined its current queue
    lot_release: Any  # (L,) int32: release time
    lot_id: Any  # (L,) int32: global release number
    lot_machine: Any  # (L,) int32: machine holding the lot, -1 while waiting
    next_id: Any  # () int32
    lost_lots: Any  # () int32: releases that found no free slot (0 when sized right)
    # machines
    busy: Any  # (5,) bool: holds a batch
    busy_start: Any  # (5,) int32: start of the batch's occupation (after any setup)
    busy_until: Any  # (5,) int32: completion time of the batch
    down_until: Any  # (5,) int32: end of the current maintenance or repair
    last_step: Any  # (5,) int32: step of the machine's previous batch, -1 = none
    pm_due: Any  # (5,) int32: due time of the next preventive maintenance
    fail_due: Any  # (5,) int32: due time of the next failure
    fail_count: Any  # (5,) int32: failures so far
    # random inputs drawn at reset
    release_counts: Any  # (T, 3) int32
    failure_gaps: Any  # (5, K) int32
    repair_times: Any  # (5, K) int32
    # the day just simulated
    day: Any  # () int32: days simulated since time 0 (warm-up included)
    steps: Any  # () int32: agent decisions so far
    last_busy: Any  # (5,) int32: minutes each machine held a batch that day
    last_released: Any  # () int32
    last_completed: Any  # () int32
    last_cycle_sum: Any  # () int32: summed cycle times of the lots completed that day


@struct.dataclass
class FabObservation:
    """What the agent sees at the start of a day, before the day's releases."""

    wip: Any  # (6,) int32: lots at each step, waiting or in process
    wip_bin: Any  # (6,) int32 in [0, B): `wip` coded by `params.wip_edges`
    releases: Any  # (3,) int32: the day's lots per product
    queue: Any  # (5,) int32: lots waiting in each machine's queue
    oee: Any  # (5,) float32: each machine's OEE on the previous day
    day: Any  # () int32: agent days played
    features: Any  # (6 B + 14,) float32: flat network input, see FabEnv
    action_mask: Any  # (A,) bool
