"""Parameters, state and observation of the Mini-Fab env (the model: docs/fab.md).

Sizes: 5 machines (Ma, Mb, Mc, Md, Me), 6 steps (S1..S6), 3 products (Pa, Pb, TW),
`A` actions (weight rows), `B` WIP bins, `L = max_lots` lot slots, `T` simulated days
(warm-up included), `K = max_failures` failure draws per machine. `observation_spec`
fills a `FabObservation` with `ArraySpec`s in place of the arrays.
"""

from __future__ import annotations

import jax
import numpy as np
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

#: A `FabParams` leaf: NumPy on the host (built or read from a file), JAX inside the env.
ParamArray = jax.Array | np.ndarray


@struct.dataclass
class FabParams:
    """One fab variant; every field is an array so variants stack and vmap together.

    Leaves are NumPy as `default_params` and parameter files build them (the OEE fields
    NumPy float32 scalars there), JAX arrays once the env holds them.
    """

    step_machines: ParamArray  # (6, 5) bool: machine m may process step s
    process_time: ParamArray  # (6,) int32 minutes per step
    load_time: ParamArray  # (5,) int32 minutes per batch
    unload_time: ParamArray  # (5,) int32 minutes per batch
    batch_size: ParamArray  # (6,) int32 in [1, MAX_BATCH]: lots per batch (exactly)
    mix_products: ParamArray  # (6,) bool: a batch at this step may hold both Pa and Pb
    setup_time: ParamArray  # (5,) int32: paid when a machine changes step (0 = none)
    pm_interval: ParamArray  # (5,) int32: preventive maintenance period (0 = none)
    pm_duration: ParamArray  # (5,) int32
    failure_mean: ParamArray  # (5,) float32: mean minutes between failures (0 = never fails)
    failure_std: ParamArray  # (5,) float32
    repair_mean: ParamArray  # (5,) float32
    repair_std: ParamArray  # (5,) float32
    release_low: ParamArray  # (3,) int32: lots per day per product, uniform in [low, high]
    release_high: ParamArray  # (3,) int32
    weekly: ParamArray  # () bool: use the weekly plan `weekly_starts` instead
    weekly_starts: ParamArray  # (3,) int32 lots per week per product
    weights: ParamArray  # (A, 3) int32, rows sum to WEIGHT_SUM: FIFO, SPT, LRW weights
    wip_edges: ParamArray  # (6, B - 1) int32 ascending: WIP bin edges per step
    oee_target: ParamArray | np.float32  # () float32
    oee_half_width: ParamArray | np.float32  # () float32

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
    lot_step: jax.Array  # (L,) int32: current step 0..5, -1 = free slot
    lot_product: jax.Array  # (L,) int32
    lot_arrival: jax.Array  # (L,) int32: time the lot joined its current queue
    lot_release: jax.Array  # (L,) int32: release time
    lot_id: jax.Array  # (L,) int32: global release number
    lot_machine: jax.Array  # (L,) int32: machine holding the lot, -1 while waiting
    next_id: jax.Array  # () int32
    lost_lots: jax.Array  # () int32: releases that found no free slot (0 when sized right)
    # machines
    busy: jax.Array  # (5,) bool: holds a batch
    busy_start: jax.Array  # (5,) int32: start of the batch's occupation (after any setup)
    busy_until: jax.Array  # (5,) int32: completion time of the batch
    down_until: jax.Array  # (5,) int32: end of the current maintenance or repair
    last_step: jax.Array  # (5,) int32: step of the machine's previous batch, -1 = none
    pm_due: jax.Array  # (5,) int32: due time of the next preventive maintenance
    fail_due: jax.Array  # (5,) int32: due time of the next failure
    fail_count: jax.Array  # (5,) int32: failures so far
    # random inputs drawn at reset
    release_counts: jax.Array  # (T, 3) int32
    failure_gaps: jax.Array  # (5, K) int32
    repair_times: jax.Array  # (5, K) int32
    # the day just simulated
    day: jax.Array  # () int32: days simulated since time 0 (warm-up included)
    steps: jax.Array  # () int32: agent decisions so far
    last_busy: jax.Array  # (5,) int32: minutes each machine held a batch that day
    last_released: jax.Array  # () int32
    last_completed: jax.Array  # () int32
    last_cycle_sum: jax.Array  # () int32: summed cycle times of the lots completed that day


@struct.dataclass
class FabObservation:
    """What the agent sees at the start of a day, before the day's releases."""

    wip: jax.Array  # (6,) int32: lots at each step, waiting or in process
    wip_bin: jax.Array  # (6,) int32 in [0, B): `wip` coded by `params.wip_edges`
    releases: jax.Array  # (3,) int32: the day's lots per product
    queue: jax.Array  # (5,) int32: lots waiting in each machine's queue
    oee: jax.Array  # (5,) float32: each machine's OEE on the previous day
    day: jax.Array  # () int32: agent days played
    features: jax.Array  # (6 B + 14,) float32: flat network input, see FabEnv
    action_mask: jax.Array  # (A,) bool
