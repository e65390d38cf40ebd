"""The Mini-Fab discrete-event simulation in pure JAX (the model: docs/fab.md).

`simulate_day(state, weights)` advances one fab by one day with a `lax.while_loop` over
event times; every shape is static (a lot table of `L` slots, five machines), so it jits
and vmaps over many fabs. `initial_state` builds the state at time 0 from the random
inputs drawn at reset.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxshop.fab.types import (
    DAY,
    ID_RANGE,
    MAX_BATCH,
    NUM_MACHINES,
    NUM_PRODUCTS,
    NUM_STEPS,
    SCORE_SCALE,
    TW,
    FabParams,
    FabState,
)

NEVER = np.int32(2**31 - 1)  # never-coming due time (numpy: no device at import)

#: The day's running totals: minutes each machine held a batch ((5,) int32), then lots
#: completed, their summed cycle times and lots released (each () int32).
Totals = tuple[jax.Array, jax.Array, jax.Array, jax.Array]
#: What `_dispatch` passes from machine to machine: the state, the event time (() int32),
#: the weight row ((3,) int32) and `_lot_view` of the state.
DispatchCarry = tuple[FabState, jax.Array, jax.Array, dict[str, jax.Array]]


def initial_state(params: FabParams, release_counts: jax.Array, failure_gaps: jax.Array,
                  repair_times: jax.Array, max_lots: int) -> FabState:
    """An empty fab at time 0 (no lots, every machine idle); the random inputs are those of
    `draw_random_inputs`: `(T, 3)`, `(5, K)` and `(5, K)` int32."""
    p = jax.tree_util.tree_map(jnp.asarray, params)
    lots = jnp.full((max_lots,), -1, jnp.int32)
    zeros_m = jnp.zeros((NUM_MACHINES,), jnp.int32)
    fails = p.failure_mean > 0
    return FabState(
        params=p,
        lot_step=lots, lot_product=lots, lot_arrival=lots, lot_release=lots, lot_id=lots,
        lot_machine=lots,
        next_id=jnp.int32(0), lost_lots=jnp.int32(0),
        busy=jnp.zeros((NUM_MACHINES,), bool), busy_start=zeros_m, busy_until=zeros_m,
        down_until=zeros_m, last_step=zeros_m - 1,
        pm_due=jnp.where(p.pm_interval > 0, p.pm_interval, NEVER).astype(jnp.int32),
        fail_due=jnp.where(fails, failure_gaps[:, 0], NEVER).astype(jnp.int32),
        fail_count=zeros_m,
        release_counts=release_counts, failure_gaps=failure_gaps, repair_times=repair_times,
        day=jnp.int32(0), steps=jnp.int32(0), last_busy=zeros_m,
        last_released=jnp.int32(0), last_completed=jnp.int32(0), last_cycle_sum=jnp.int32(0),
    )


def waiting_lots(state: FabState) -> jax.Array:
    """(L,) bool: lots in the fab that no machine holds."""
    return (state.lot_step >= 0) & (state.lot_machine < 0)


def wip_per_step(state: FabState) -> jax.Array:
    """(6,) int32: lots at each step, waiting or in process."""
    onehot = state.lot_step[:, None] == jnp.arange(NUM_STEPS)[None, :]
    return onehot.sum(axis=0).astype(jnp.int32)


def queue_lengths(state: FabState) -> jax.Array:
    """(5,) int32: waiting lots each machine may process (shared queues counted twice)."""
    step = jnp.clip(state.lot_step, 0, NUM_STEPS - 1)
    eligible = state.params.step_machines[step] & waiting_lots(state)[:, None]  # (L, 5)
    return eligible.sum(axis=0).astype(jnp.int32)


# --- the event handlers (one event time t) ----------------------------------------------


def _complete(st: FabState, t: jax.Array, day0: jax.Array, acc: Totals
              ) -> tuple[FabState, Totals]:
    """Step 1: batches ending at t release their lots to the next step (or the exit)."""
    busy_acc, completed, cycle_sum, released = acc
    ending = st.busy & (st.busy_until == t)
    held = st.lot_machine >= 0
    done = held & ending[jnp.clip(st.lot_machine, 0, NUM_MACHINES - 1)]
    nxt = st.lot_step + 1
    leaves = done & (nxt >= NUM_STEPS)
    completed = completed + leaves.sum(dtype=jnp.int32)
    cycle_sum = cycle_sum + jnp.where(leaves, t - st.lot_release, 0).sum(dtype=jnp.int32)
    busy_acc = busy_acc + jnp.where(ending, jnp.maximum(t - jnp.maximum(st.busy_start, day0),
                                                        0), 0)
    st = st.replace(
        lot_step=jnp.where(leaves, -1, jnp.where(done, nxt, st.lot_step)),
        lot_machine=jnp.where(done, -1, st.lot_machine),
        lot_arrival=jnp.where(done & ~leaves, t, st.lot_arrival),
        busy=st.busy & ~ending,
    )
    return st, (busy_acc, completed, cycle_sum, released)


def _release(st: FabState, counts: jax.Array, t: jax.Array, acc: Totals
             ) -> tuple[FabState, Totals]:
    """Step 3: the day's lots (Pa, then Pb, then TW) take the lowest free slots."""
    busy_acc, completed, cycle_sum, released = acc
    wanted = counts.sum(dtype=jnp.int32)
    free = st.lot_step < 0
    n_free = free.sum(dtype=jnp.int32)
    n = jnp.minimum(wanted, n_free)
    rank = jnp.cumsum(free, dtype=jnp.int32) - 1
    take = free & (rank < n)
    product = jnp.where(rank < counts[0], 0, jnp.where(rank < counts[0] + counts[1], 1, TW))
    st = st.replace(
        lot_step=jnp.where(take, 0, st.lot_step),
        lot_product=jnp.where(take, product, st.lot_product).astype(jnp.int32),
        lot_arrival=jnp.where(take, t, st.lot_arrival),
        lot_release=jnp.where(take, t, st.lot_release),
        lot_id=jnp.where(take, st.next_id + rank, st.lot_id),
        lot_machine=jnp.where(take, -1, st.lot_machine),
        next_id=st.next_id + n,
        lost_lots=st.lost_lots + (wanted - n),
    )
    return st, (busy_acc, completed, cycle_sum, released + n)


def _maintain(st: FabState, t: jax.Array) -> FabState:
    """Step 4: an idle machine starts a due repair, else a due preventive maintenance."""
    p = st.params
    k_max = st.failure_gaps.shape[1]
    idle = ~st.busy & (st.down_until <= t)
    k = st.fail_count
    rows = jnp.arange(NUM_MACHINES)
    fail = idle & (p.failure_mean > 0) & (k < k_max) & (st.fail_due <= t)
    repair = st.repair_times[rows, jnp.clip(k, 0, k_max - 1)]
    gap = st.failure_gaps[rows, jnp.clip(k + 1, 0, k_max - 1)]
    next_fail = jnp.where(k + 1 < k_max, t + repair + gap, NEVER)
    pm = idle & ~fail & (p.pm_interval > 0) & (st.pm_due <= t)
    down = jnp.where(fail, t + repair, jnp.where(pm, t + p.pm_duration, st.down_until))
    return st.replace(
        down_until=down.astype(jnp.int32),
        fail_due=jnp.where(fail, next_fail, st.fail_due).astype(jnp.int32),
        fail_count=st.fail_count + fail.astype(jnp.int32),
        pm_due=jnp.where(pm, st.pm_due + p.pm_interval, st.pm_due).astype(jnp.int32),
    )


def _normalized(score: jax.Array, in_queue: jax.Array) -> jax.Array:
    """floor(SCORE_SCALE (s - min) / (max - min)) over the queue; 0 elsewhere or if flat."""
    lo = jnp.min(jnp.where(in_queue, score, NEVER))
    hi = jnp.max(jnp.where(in_queue, score, -1))
    span = jnp.maximum(hi - lo, 1)
    scaled = jnp.where(in_queue, score - lo, 0) * SCORE_SCALE  # < 2^31: see MAX_DAYS
    # floor(scaled / span) exactly, without a per-lot integer division (not vectorized on
    # CPU): a float32 estimate is within 1 of it (q <= 1000), then one integer correction.
    q = jnp.floor(scaled.astype(jnp.float32) * (1.0 / span.astype(jnp.float32)))
    q = jnp.clip(q, 0, SCORE_SCALE).astype(jnp.int32)
    q = q + ((q + 1) * span <= scaled).astype(jnp.int32) - (q * span > scaled).astype(jnp.int32)
    return jnp.where(hi > lo, q, 0)


def _per_lot(onehot: jax.Array, table: jax.Array) -> jax.Array:
    """`table[step]` for every lot as a one-hot dot product (XLA CPU gathers under vmap
    cost far more than this)."""
    return (onehot * table[None, :]).sum(axis=1).astype(table.dtype)


def _lot_view(st: FabState) -> dict[str, jax.Array]:
    """Per-lot attributes that no dispatch within one event time changes."""
    p = st.params
    step = st.lot_step
    onehot = (step[:, None] == jnp.arange(NUM_STEPS)[None, :]).astype(jnp.int32)  # (L, 6)
    prod = (st.lot_product[:, None] == jnp.arange(NUM_PRODUCTS)[None, :]).astype(jnp.int32)
    remaining = jnp.cumsum(p.process_time[::-1])[::-1]
    eligible = (onehot[:, :, None] * p.step_machines[None].astype(jnp.int32)).sum(axis=1) > 0
    return {
        "onehot": onehot,
        "prod": prod,
        "tw": st.lot_product == TW,
        "eligible": eligible,  # (L, 5)
        "process": _per_lot(onehot, p.process_time),
        "remaining": _per_lot(onehot, remaining),
        "size": _per_lot(onehot, p.batch_size),
        "mix": _per_lot(onehot, p.mix_products.astype(jnp.int32)) > 0,
    }


def _dispatch(m: jax.Array, carry: DispatchCarry) -> DispatchCarry:
    """Step 5 for machine m: start the composite rule's best feasible batch, if any."""
    st, t, w, view = carry
    p = st.params
    idle = ~st.busy[m] & (st.down_until[m] <= t)
    waiting = waiting_lots(st)
    in_queue = waiting & view["eligible"][:, m]
    score = (w[0] * _normalized(st.lot_arrival, in_queue)
             + w[1] * _normalized(view["process"], in_queue)
             + w[2] * _normalized(view["remaining"], in_queue))
    rank_key = score * ID_RANGE + st.lot_id  # (c, id) in one int32: c <= 6000, id < 2^18

    tw, onehot, prod = view["tw"], view["onehot"], view["prod"]
    # waiting lots per (step, product), then each lot's row of it
    # (float32 matmuls: exact for counts below 2^24, and BLAS-fast unlike int32 dots)
    f_onehot = onehot.astype(jnp.float32)
    counts = (f_onehot * waiting[:, None]).T @ prod.astype(jnp.float32)  # (6, 3)
    mine = (f_onehot @ counts).astype(jnp.int32)  # (L, 3): waiting per product at its step
    same = jnp.where(view["mix"], mine[:, 0] + mine[:, 1], (mine * prod).sum(axis=1))
    size = view["size"]
    can_lead = in_queue & ((size == 1) | (~tw & (same + jnp.minimum(mine[:, TW], 1) >= size)))
    # Keys are unique (ids are), so "key == min key" marks the best lot: plain min
    # reductions instead of argmin (a slow variadic reduce on XLA CPU).
    lead_key = jnp.min(jnp.where(can_lead, rank_key, NEVER))
    start = idle & (lead_key < NEVER)
    leader = can_lead & (rank_key == lead_key)

    def of_leader(x: jax.Array) -> jax.Array:
        return jnp.where(leader, x, 0).sum(dtype=x.dtype)

    lead_step = of_leader(st.lot_step)
    lead_mix = of_leader(view["mix"].astype(jnp.int32)) > 0
    lead_product = of_leader(st.lot_product)
    compatible = (in_queue & (st.lot_step == lead_step)
                  & (lead_mix | (st.lot_product == lead_product) | tw))
    lead_size = of_leader(size)
    member = leader & start
    has_tw = (member & tw).any()
    taken = jnp.int32(1)
    for _ in range(MAX_BATCH - 1):  # static, at most 3 more lots
        pick_ok = compatible & ~member & ~(tw & has_tw) & (taken < lead_size) & start
        pick_key = jnp.min(jnp.where(pick_ok, rank_key, NEVER))
        pick = pick_ok & (rank_key == pick_key)
        member = member | pick
        has_tw = has_tw | (pick & tw).any()
        taken = taken + (pick_key < NEVER).astype(jnp.int32)

    setup = jnp.where((st.last_step[m] >= 0) & (st.last_step[m] != lead_step),
                      p.setup_time[m], 0)
    occupied = p.load_time[m] + of_leader(view["process"]) + p.unload_time[m]
    st = st.replace(
        lot_machine=jnp.where(member, m, st.lot_machine),
        busy=st.busy.at[m].set(st.busy[m] | start),
        busy_start=st.busy_start.at[m].set(jnp.where(start, t + setup, st.busy_start[m])),
        busy_until=st.busy_until.at[m].set(
            jnp.where(start, t + setup + occupied, st.busy_until[m])),
        last_step=st.last_step.at[m].set(jnp.where(start, lead_step, st.last_step[m])),
    )
    return st, t, w, view


def _next_event(st: FabState, t: jax.Array, day_end: jax.Array) -> jax.Array:
    """The smallest event time after t (capped at the day's end)."""
    k_max = st.failure_gaps.shape[1]
    fails = (st.params.failure_mean > 0) & (st.fail_count < k_max)
    times = jnp.stack([
        jnp.where(st.busy, st.busy_until, NEVER),
        jnp.where(st.down_until > t, st.down_until, NEVER),
        jnp.where(st.pm_due > t, st.pm_due, NEVER),
        jnp.where(fails & (st.fail_due > t), st.fail_due, NEVER),
    ])
    return jnp.minimum(times.min(), day_end)


def simulate_day(st: FabState, weights: jax.Array) -> FabState:
    """Advances one fab through the day [1440 d, 1440 (d + 1)) with one weight row."""
    weights = jnp.asarray(weights, jnp.int32)
    day0 = st.day * DAY
    day_end = day0 + DAY
    counts = st.release_counts[jnp.clip(st.day, 0, st.release_counts.shape[0] - 1)]
    zero = jnp.int32(0)
    acc = (jnp.zeros((NUM_MACHINES,), jnp.int32), zero, zero, zero)

    def event(carry: tuple[FabState, jax.Array, Totals]
              ) -> tuple[FabState, jax.Array, Totals]:
        st, t, acc = carry
        st, acc = _complete(st, t, day0, acc)
        st, acc = _release(st, jnp.where(t == day0, counts, 0), t, acc)
        st = _maintain(st, t)
        st, _, _, _ = jax.lax.fori_loop(0, NUM_MACHINES, _dispatch,
                                        (st, t, weights, _lot_view(st)))
        return st, _next_event(st, t, day_end), acc

    st, _, acc = jax.lax.while_loop(lambda c: c[1] < day_end, event, (st, day0, acc))
    busy_acc, completed, cycle_sum, released = acc
    busy_acc = busy_acc + jnp.where(
        st.busy, jnp.maximum(day_end - jnp.maximum(st.busy_start, day0), 0), 0)
    return st.replace(day=st.day + 1, last_busy=busy_acc.astype(jnp.int32),
                      last_released=released, last_completed=completed,
                      last_cycle_sum=cycle_sum)
