"""Features of swap-improvement states and actions that do not depend on the job count n.

Notation (one instance, `n` real jobs, `m` real machines): `P = p / max(p)` the
processing times normalized per instance (in [0, 1]); `LB = max_k sum_j p[j, k]` (the
machine-load lower bound, >= 1); `C_k` the completion time of the current permutation on
machine `k`, `Cmax = C_{m-1}`; `load_k = sum_j p[j, k]`. Per job `j`:
`tot_j = mean_k P[j, k]` (its mean normalized time) and
`imb_j = mean_k w_k P[j, k]` with `w_k = 1 - 2k / (m - 1)` (+1 on the first machine, -1
on the last, 0 when `m = 1`): positive for jobs heavy on early machines. `corr` is
Pearson's correlation over the positions `i = 0..n-1` of the permutation (0 when a
variance is zero); `x_i = i / (n - 1)` (0 when `n = 1`).

State vector (`STATE_DIM = 10`):

| # | feature |
|---|---|
| 0 | `Cmax / LB - 1` (relative gap to the load bound) |
| 1 | mean over machines of `idle_k = (C_k - load_k) / Cmax` (machine completion times) |
| 2 | max over machines of `idle_k` |
| 3 | mean over machines of `mean_j P[j, k]` (longitudinal: per-machine mean) |
| 4 | mean over machines of `std_j P[j, k]` (longitudinal: per-machine spread) |
| 5 | std over machines of `mean_j P[j, k]` |
| 6 | `corr(x_i, tot_{pi_i})` (transverse: do long jobs come late?) |
| 7 | `corr(x_i, imb_{pi_i})` (transverse: Johnson-like order indicator) |
| 8 | `C_0 / Cmax` (first machine's completion) |
| 9 | `C_{(m-1)//2} / Cmax` (middle machine's completion) |

Action vector of `sw(f, g)`, `f < g` (`ACTION_DIM = 9`; all zeros for a masked action):

| # | feature |
|---|---|
| 0, 1, 2 | `f / (n-1)`, `g / (n-1)`, `(g - f) / (n-1)` (relative positions) |
| 3, 4 | `tot` of the jobs at `f` and at `g` |
| 5, 6 | `imb` of the jobs at `f` and at `g` |
| 7 | `100 (Cmax(sw(f, g)) - Cmax) / LB` (makespan change, % of the bound) |
| 8 | `1` if the swap lowers the makespan, else `0` |

`features(...)` concatenates them: `[state (10), action (9)]`, `FEATURE_DIM = 19` per
action. Everything is float32, finite, and unchanged by padding jobs or machines.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxshop.instances.types import PFSPInstance
from jaxshop.pfsp.makespan import machine_completions
from jaxshop.pfsp_swap.swaps import pair_table
from jaxshop.utils import safe_div

STATE_DIM = 10
ACTION_DIM = 9
FEATURE_DIM = STATE_DIM + ACTION_DIM


def load_bound(instance: PFSPInstance) -> jax.Array:
    """`max_k sum_j p[j, k]` as float32, at least 1."""
    return jnp.maximum(instance.processing_times.sum(-2).max(-1), 1).astype(jnp.float32)


def _job_stats(instance: PFSPInstance):
    p = instance.processing_times.astype(jnp.float32)
    mm = instance.machine_mask
    scale = jnp.maximum(p.max(), 1.0)
    P = p / scale
    m = jnp.maximum(mm.sum(), 1).astype(jnp.float32)
    k = jnp.arange(p.shape[1], dtype=jnp.float32)
    w = jnp.where(m > 1, 1.0 - 2.0 * k / jnp.maximum(m - 1.0, 1.0), 0.0) * mm
    tot = P.sum(-1) / m
    imb = (P * w).sum(-1) / m
    return P, m, tot, imb


def _corr(x, y, mask):
    cnt = jnp.maximum(mask.sum(), 1).astype(jnp.float32)
    mx = jnp.sum(x * mask) / cnt
    my = jnp.sum(y * mask) / cnt
    dx, dy = (x - mx) * mask, (y - my) * mask
    den = jnp.sqrt(jnp.sum(dx * dx) * jnp.sum(dy * dy))
    return jnp.clip(safe_div(jnp.sum(dx * dy), den), -1.0, 1.0)


def state_features(instance: PFSPInstance, permutation: jax.Array) -> jax.Array:
    """`(STATE_DIM,)` float32 features of a permutation of `instance` (see module doc)."""
    P, m, tot, imb = _job_stats(instance)
    jm, mm = instance.job_mask, instance.machine_mask
    n = jnp.maximum(jm.sum(), 1).astype(jnp.float32)
    lb = load_bound(instance)
    c = machine_completions(instance.processing_times, permutation).astype(jnp.float32)
    cmax = jnp.maximum(c[-1], 1.0)
    load = instance.processing_times.sum(0).astype(jnp.float32)
    idle = jnp.where(mm, (c - load) / cmax, 0.0)
    jmf = jm[:, None].astype(jnp.float32)
    mean_k = (P * jmf).sum(0) / n
    var_k = jnp.maximum((P * P * jmf).sum(0) / n - mean_k**2, 0.0)
    std_k = jnp.sqrt(var_k)
    mean_m = jnp.sum(mean_k * mm) / m
    spread_m = jnp.sqrt(jnp.maximum(jnp.sum(mean_k**2 * mm) / m - mean_m**2, 0.0))
    filled = permutation >= 0
    job = jnp.maximum(permutation, 0)
    x = jnp.arange(permutation.shape[0], dtype=jnp.float32)
    mid = ((m.astype(jnp.int32) - 1) // 2).astype(jnp.int32)
    return jnp.stack([
        c[-1] / lb - 1.0,
        jnp.sum(idle) / m,
        jnp.max(idle),
        mean_m,
        jnp.sum(std_k * mm) / m,
        spread_m,
        _corr(x, tot[job], filled),
        _corr(x, imb[job], filled),
        c[0] / cmax,
        c[mid] / cmax,
    ]).astype(jnp.float32)


def action_features(instance: PFSPInstance, permutation: jax.Array, makespan: jax.Array,
                    swap_makespans: jax.Array, mask: jax.Array) -> jax.Array:
    """`(A, ACTION_DIM)` float32 features of every swap (zeros where `mask` is False)."""
    _, _, tot, imb = _job_stats(instance)
    f_idx, g_idx = pair_table(permutation.shape[0])
    n = instance.job_mask.sum().astype(jnp.float32)
    denom = jnp.maximum(n - 1.0, 1.0)
    jf = jnp.maximum(permutation[f_idx], 0)
    jg = jnp.maximum(permutation[g_idx], 0)
    ff = jnp.asarray(f_idx, jnp.float32)
    gg = jnp.asarray(g_idx, jnp.float32)
    change = (swap_makespans - makespan).astype(jnp.float32)
    change = jnp.where(mask, change, 0.0)
    feats = jnp.stack([
        ff / denom, gg / denom, (gg - ff) / denom,
        tot[jf], tot[jg], imb[jf], imb[jg],
        100.0 * change / load_bound(instance),
        (change < 0).astype(jnp.float32),
    ], axis=-1)
    return jnp.where(mask[:, None], feats, 0.0).astype(jnp.float32)


def features(state_feats: jax.Array, action_feats: jax.Array) -> jax.Array:
    """`(A, FEATURE_DIM)`: the state vector repeated beside every action vector."""
    rep = jnp.broadcast_to(state_feats, (action_feats.shape[0], state_feats.shape[-1]))
    return jnp.concatenate([rep, action_feats], axis=-1)
