"""Mini-Fab parameters: the defaults of docs/fab.md, their variants, and their checks.

`default_params(...)` builds a `FabParams` (NumPy leaves); `validate_params` refuses a
bad one with a `ValueError` naming the field, before anything is compiled;
`draw_random_inputs` draws, once per episode, every random number the simulation uses.
"""

from __future__ import annotations

import itertools
from typing import NoReturn

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
    WEIGHT_SUM,
    FabParams,
    ParamArray,
)

# d1 = FIFO, d2 = SPT, d3 = LRW, d4 = equal mix (the fixed rules of the study), then a grid.
FIXED_RULES = {"d1": (6, 0, 0), "d2": (0, 6, 0), "d3": (0, 0, 6), "d4": (2, 2, 2)}
DEFAULT_GRID = ((3, 3, 0), (3, 0, 3), (0, 3, 3), (4, 1, 1), (1, 4, 1), (1, 1, 4))

# Equal-frequency WIP bin edges per step (5 bins) of the default fab: the WIP at the
# decision points of 16 episodes (5 warm-up days with d4, 10 days) of each fixed rule
# d1..d4, from `FabEnv().learn_wip_edges(jax.random.PRNGKey(0))`.
DEFAULT_WIP_EDGES = np.array(
    [[1, 7, 14, 19], [0, 0, 2, 3], [29, 41, 51, 62], [1, 1, 2, 3], [7, 12, 15, 22],
     [0, 0, 3, 18]],
    np.int32,
)

MAX_DAYS = 1000  # normalized FIFO scores (SCORE_SCALE x minutes) then stay below int32 max


def mixture_weights(parts: int | None = None) -> np.ndarray:
    """The action table: d1..d4, then a grid of mixtures (rows of integers summing to 6).

    `parts=None` gives the 10 default rows (d1..d4 and DEFAULT_GRID); `parts=k` (k divides
    6) gives d1..d4 and then every composition of 6 into multiples of 6 / k (k=6: 28 rows).
    """
    rows = [tuple(r) for r in FIXED_RULES.values()]
    if parts is None:
        extra = list(DEFAULT_GRID)
    else:
        if parts < 1 or WEIGHT_SUM % parts:
            raise ValueError(f"mixture parts must divide {WEIGHT_SUM}, got {parts}")
        unit = WEIGHT_SUM // parts
        extra = [(a * unit, b * unit, (parts - a - b) * unit)
                 for a, b in itertools.product(range(parts + 1), repeat=2) if a + b <= parts]
    rows += [r for r in extra if r not in rows]
    return np.array(rows, np.int32)


def default_params(
    *,
    setups: bool = False,
    maintenance: bool = False,
    breakdowns: bool = False,
    weekly: bool = False,
    release: tuple[int, int] = (8, 12),
    weights: np.ndarray | None = None,
    wip_edges: np.ndarray | None = None,
) -> FabParams:
    """The Intel Five-Machine Six-Step Mini-Fab of docs/fab.md (NumPy leaves).

    `release=(lo, hi)`: Pa and Pb lots per day, each uniform in [lo, hi]; TW 0..1.
    `weekly`: the original weekly starts Pa 51 / Pb 30 / TW 3 instead.
    """
    step_machines = np.zeros((NUM_STEPS, NUM_MACHINES), bool)
    for step, machines in enumerate(((0, 1), (2, 3), (4,), (2, 3), (0, 1), (4,))):
        step_machines[step, list(machines)] = True
    zeros_i = np.zeros(NUM_MACHINES, np.int32)
    zeros_f = np.zeros(NUM_MACHINES, np.float32)
    setup = zeros_i.copy()
    if setups:
        setup[4] = 20
    pm_interval, pm_duration = zeros_i.copy(), zeros_i.copy()
    if maintenance:
        pm_interval[:] = (720, 720, 360, 360, 360)
        pm_duration[:] = (75, 75, 120, 120, 30)
    fail_mean, fail_std = zeros_f.copy(), zeros_f.copy()
    rep_mean, rep_std = zeros_f.copy(), zeros_f.copy()
    if breakdowns:
        fail_mean[2:4], fail_std[2:4] = 50 * 60, 26 * 60
        rep_mean[2:4], rep_std[2:4] = 420, 60
    lo, hi = release
    return FabParams(
        step_machines=step_machines,
        process_time=np.array([225, 30, 55, 50, 255, 10], np.int32),
        load_time=np.array([15, 15, 15, 15, 10], np.int32),
        unload_time=np.array([15, 15, 15, 15, 10], np.int32),
        batch_size=np.array([3, 1, 1, 1, 3, 1], np.int32),
        mix_products=np.array([True, False, False, False, False, False]),
        setup_time=setup,
        pm_interval=pm_interval,
        pm_duration=pm_duration,
        failure_mean=fail_mean,
        failure_std=fail_std,
        repair_mean=rep_mean,
        repair_std=rep_std,
        release_low=np.array([lo, lo, 0], np.int32),
        release_high=np.array([hi, hi, 1], np.int32),
        weekly=np.array(weekly),
        weekly_starts=np.array([51, 30, 3], np.int32),
        weights=mixture_weights() if weights is None else np.asarray(weights, np.int32),
        wip_edges=DEFAULT_WIP_EDGES.copy() if wip_edges is None else np.asarray(
            wip_edges, np.int32),
        oee_target=np.float32(0.85),
        oee_half_width=np.float32(0.05),
    )


def _fail(field: str, message: str, source: str) -> NoReturn:
    raise ValueError(f"{source}: {field} {message}")


def _array(params: FabParams, field: str, shape: tuple[int, ...], kind: str, source: str
           ) -> np.ndarray:
    value = np.asarray(getattr(params, field))
    if value.shape != shape:
        _fail(field, f"must have shape {shape}, got {value.shape}", source)
    if kind == "b" and value.dtype != np.bool_:
        _fail(field, f"must be bool, got {value.dtype}", source)
    if kind == "i" and value.dtype.kind not in "iu":
        _fail(field, f"must hold integers, got {value.dtype}", source)
    if kind == "f":
        if value.dtype.kind not in "fiu":
            _fail(field, f"must hold numbers, got {value.dtype}", source)
        if not np.isfinite(value).all():
            _fail(field, "must be finite", source)
    return value


def weekly_plan(weekly_starts: ParamArray, total_days: int) -> np.ndarray:
    """(T, 3) lots per day of the weekly plan: floor((d+1) W / 7) - floor(d W / 7)."""
    d = np.arange(total_days, dtype=np.int64)[:, None]
    w = np.asarray(weekly_starts, np.int64)[None, :]
    return ((d + 1) * w // 7 - d * w // 7).astype(np.int32)


def worst_case_lots(params: FabParams, total_days: int) -> int:
    """Most lots that can be in the fab after `total_days` days: every release, none done
    (the largest day's releases times the days)."""
    if bool(np.asarray(params.weekly)):
        per_day = int(weekly_plan(params.weekly_starts, total_days).sum(axis=1).max())
    else:
        per_day = int(np.asarray(params.release_high).sum())
    return per_day * total_days


def validate_params(params: FabParams, *, total_days: int, max_lots: int,
                    source: str = "FabParams") -> None:
    """Refuses parameters the simulator cannot run exactly (ValueError naming the field).

    Checks shapes, dtypes and ranges, then rules out overflow and a full lot table up
    front: the worst-case lots in the fab over `total_days` must fit `max_lots`.
    """
    leaves = jax.tree_util.tree_leaves(params)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return  # under a transformation: the caller checks the concrete values once
    m, s, p = NUM_MACHINES, NUM_STEPS, NUM_PRODUCTS
    sm = _array(params, "step_machines", (s, m), "b", source)
    if not sm.any(axis=1).all():
        _fail("step_machines", f"leaves step S{int(np.argmin(sm.any(axis=1))) + 1} "
              "with no machine (zero machines)", source)
    for field, shape in (("process_time", (s,)), ("load_time", (m,)), ("unload_time", (m,)),
                         ("setup_time", (m,)), ("pm_interval", (m,)), ("pm_duration", (m,)),
                         ("release_low", (p,)), ("release_high", (p,)),
                         ("weekly_starts", (p,))):
        value = _array(params, field, shape, "i", source)
        if (value < 0).any():
            _fail(field, f"must be >= 0, got {value.tolist()}", source)
        if (value > DAY * 7).any():
            _fail(field, f"must be <= {DAY * 7}, got {value.tolist()}", source)
    pt = np.asarray(params.process_time)
    if (pt < 1).any():
        _fail("process_time", f"must be >= 1 minute, got {pt.tolist()}", source)
    b = _array(params, "batch_size", (s,), "i", source)
    if ((b < 1) | (b > MAX_BATCH)).any():
        _fail("batch_size", f"must be in [1, {MAX_BATCH}], got {b.tolist()}", source)
    _array(params, "mix_products", (s,), "b", source)
    for field in ("failure_mean", "failure_std", "repair_mean", "repair_std"):
        value = _array(params, field, (m,), "f", source)
        if (value < 0).any() or (value > 1e6).any():
            _fail(field, f"must be in [0, 1e6], got {value.tolist()}", source)
    lo, hi = np.asarray(params.release_low), np.asarray(params.release_high)
    if (lo > hi).any():
        _fail("release_low", f"must be <= release_high, got {lo.tolist()} > {hi.tolist()}",
              source)
    weekly = np.asarray(params.weekly)
    if weekly.shape != () or weekly.dtype != np.bool_:
        _fail("weekly", "must be a bool scalar", source)
    w = np.asarray(params.weights)
    if w.ndim != 2 or w.shape[1] != 3 or w.shape[0] < 1 or w.dtype.kind not in "iu":
        _fail("weights", f"must be an (A, 3) integer array, got {w.shape} {w.dtype}", source)
    if (w < 0).any() or (w.sum(axis=1) != WEIGHT_SUM).any():
        _fail("weights", f"rows must be >= 0 and sum to {WEIGHT_SUM}", source)
    e = np.asarray(params.wip_edges)
    if e.ndim != 2 or e.shape[0] != s or e.dtype.kind not in "iu":
        _fail("wip_edges", f"must be a (6, B-1) integer array, got {e.shape} {e.dtype}", source)
    if e.shape[1] and (np.diff(e, axis=1) < 0).any():
        _fail("wip_edges", "must be ascending along each row", source)
    for field in ("oee_target", "oee_half_width"):
        value = np.asarray(getattr(params, field))
        if value.shape != () or not np.isfinite(value) or not 0 < value <= 1:
            _fail(field, f"must be a number in (0, 1], got {value}", source)
    if not 1 <= total_days <= MAX_DAYS:
        raise ValueError(f"{source}: warm-up plus episode days must be in [1, {MAX_DAYS}], "
                         f"got {total_days}")
    worst = worst_case_lots(params, total_days)
    per_day = worst // total_days
    if worst > max_lots:
        raise ValueError(
            f"{source}: up to {worst} lots may be in the fab over {total_days} days "
            f"({per_day} per day), more than max_lots={max_lots}; raise max_lots")
    if worst >= ID_RANGE:
        raise ValueError(f"{source}: {worst} lots exceed the id range {ID_RANGE}")


def draw_random_inputs(key: jax.Array, params: FabParams, total_days: int,
                       max_failures: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`(release_counts (T,3), failure_gaps (5,K), repair_times (5,K))`, all int32."""
    k_release, k_gap, k_repair = jax.random.split(key, 3)
    lo = jnp.asarray(params.release_low, jnp.int32)
    hi = jnp.asarray(params.release_high, jnp.int32)
    uniform = jax.random.randint(k_release, (total_days, NUM_PRODUCTS), lo, hi + 1,
                                 dtype=jnp.int32)
    d = jnp.arange(total_days, dtype=jnp.int32)[:, None]
    w = jnp.asarray(params.weekly_starts, jnp.int32)[None, :]
    plan = (d + 1) * w // 7 - d * w // 7
    releases = jnp.where(params.weekly, plan, uniform).astype(jnp.int32)

    def normal_minutes(k: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
        x = jax.random.normal(k, (NUM_MACHINES, max_failures))
        x = jnp.round(mean[:, None] + std[:, None] * x)
        return jnp.clip(x, 1, 10**7).astype(jnp.int32)

    gaps = normal_minutes(k_gap, jnp.asarray(params.failure_mean, jnp.float32),
                          jnp.asarray(params.failure_std, jnp.float32))
    repairs = normal_minutes(k_repair, jnp.asarray(params.repair_mean, jnp.float32),
                             jnp.asarray(params.repair_std, jnp.float32))
    return releases, gaps, repairs
