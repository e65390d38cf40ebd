"""Policies for the Mini-Fab env and the one evaluation loop the CLI and the study share.

A fab method is a `Method` whose `act(observation) -> action` picks the day's weight row
(pure JAX, one fab; the evaluator vmaps it). `fab-rule:d1`..`d4` (or `fab-rule:K` for
row K) always play one row; learned agents (`ddqn`) register their own `act`.

`evaluate_fab(act, seeds=..., days=...)` plays `seeds` fabs in one jitted, vmapped
episode each (warm-up, then `days` decisions) and returns the JSON object of
`jaxshop eval --suite fab`: `days_in_band`, `mean_abs_deviation`, `daily_output`,
`mean_cycle_time` (means over seeds, with their spread) and `daily` records.

`fab_setting(method, regime=..., params_file=...)` says which fab a method is evaluated
on: a parameters file, else a regime given (`jaxshop.fab.regime`), else the fab a learned
policy was trained on (`FabPolicy.info`), else the default fab.

`fab_run(method, spec, ...)` is all of `jaxshop eval --suite fab` but the printing: the
fab (`fab_setting`), its env, the evaluation and the record of how the run was made.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxshop_baselines.methods import FabPolicy, Method, register_method

from jaxshop.fab import FIXED_RULES, FabEnv, FabParams, params_to_json
from jaxshop.fab.regime import (
    DEFAULT_REGIME,
    describe_regime,
    dest,
    load_params,
    regime_params,
)

FAB_DEFAULTS = {"seeds": 100, "days": 10, "warmup_days": 5}
Act = Callable[[Any], jax.Array]


def fab_method(name: str, act: Act, version: str | None = None) -> Method:
    """A `Method` that acts in the fab env (it solves no scheduling instance)."""
    method = Method(name, ("fab",), None, policy=FabPolicy(act))
    if version is not None:
        method.version = version
    return method


def rule_row(arg: str, num_actions: int) -> int:
    """Weight row of `d1`..`d4` or of an integer row index; ValueError otherwise."""
    names = list(FIXED_RULES)
    if arg in FIXED_RULES:
        return names.index(arg)
    if arg.isdigit() and int(arg) < num_actions:
        return int(arg)
    raise ValueError(f"fab-rule: unknown rule {arg!r}; use d1, d2, d3, d4 or a row index "
                     f"0..{num_actions - 1}")


@register_method(
    "fab-rule",
    "Mini-Fab: one fixed composite-rule weight row every day (fab-rule:d1 FIFO, d2 SPT, "
    "d3 least remaining work, d4 equal mix, or a row index)",
    options=(),
    arg="RULE",
    arg_required=True,
    problems=("fab",),
)
def fab_rule_method(arg: str | None = None, **_: Any) -> Method:
    row = rule_row(arg or "", FabEnv().num_actions(FabEnv().params))
    return fab_method(f"fab-rule:{arg}", lambda obs: jnp.int32(row))


@dataclasses.dataclass(frozen=True)
class FabSetting:
    """The fab a policy is evaluated on, and what the eval JSON says about it.

    `source`: "file" (`params_file`), "regime" (a regime given), "model" (the fab a
    learned policy was trained on) or "default"; `description` says which fab in words;
    `note` says, when a learned policy plays another fab than its own, which (None
    otherwise); `num_params` is the acting network's parameter count (None for rules).
    """

    params: FabParams
    source: str
    description: str
    note: str | None = None
    num_params: int | None = None


def fab_setting(method: Method, *, regime: dict[str, Any] | None = None,
                params_file: str | Path | None = None, total_days: int = 15) -> FabSetting:
    """Which fab `method` plays: `params_file`, else the (non-empty) `regime`, else the
    fab a learned policy was trained on, else the default fab. ValueError (naming the
    file and field) for a bad parameters file."""
    if regime and params_file is not None:
        raise ValueError("give a parameters file or a regime, not both")
    info = method.policy.info() if method.policy.info is not None else None
    num_params = method.num_params if info is None else info[0]
    if params_file is not None:
        setting = FabSetting(load_params(params_file, total_days), "file",
                             f"the parameters of {params_file}")
    elif regime:
        full = {**DEFAULT_REGIME, **regime}
        setting = FabSetting(regime_params(full), "regime", describe_regime(full))
    elif info is not None:
        return FabSetting(info[2], "model", info[1], num_params=num_params)
    else:
        return FabSetting(regime_params(DEFAULT_REGIME), "default",
                          describe_regime(DEFAULT_REGIME), num_params=num_params)
    note = None if info is None else (
        f"evaluating {method.name}, a model trained on {info[1]}, under {setting.description}")
    return dataclasses.replace(setting, note=note, num_params=num_params)


_EPISODES: dict[tuple, Callable] = {}


def _episodes(env: FabEnv, act: Act):
    """The jitted `(keys, params) -> per-day arrays` for one env and policy (cached)."""
    cache_key = (id(env), act)
    if cache_key not in _EPISODES:

        def one(key, params):
            state, ts = env.reset(key, params)
            wip0 = (state.lot_step >= 0).sum(dtype=jnp.int32)

            def day(carry, _):
                s, t = carry
                s, t = env.step(s, act(t.observation))
                e = t.extras
                return (s, t), (e["fab_oee"], e["invalid_action"], e["released"],
                                e["completed"], e["wip"], s.last_cycle_sum, t.reward)

            _, out = jax.lax.scan(day, (state, ts), None, length=env.days)
            return wip0, out

        _EPISODES[cache_key] = (env, jax.jit(jax.vmap(one, in_axes=(0, None))))
    return _EPISODES[cache_key][1]


def evaluate_fab(act: Act, *, seeds: int = 100, days: int = 10, warmup_days: int = 5,
                 seed: int = 0, params: FabParams | None = None,
                 env: FabEnv | None = None) -> dict:
    """Plays `seeds` fabs for `days` days after `warmup_days`; the eval JSON object.

    `daily` has one record per (seed, day): the day's fab `oee` and, cumulative from the
    start of the evaluation, `released` (the lots in the fab when it starts count as
    released on day 0), `completed` and `wip`, so `released == completed + wip`.
    """
    env = env or FabEnv(params, days=days, warmup_days=warmup_days)
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    run = _episodes(env, act)
    t0 = time.perf_counter()
    wip0, out = jax.block_until_ready(run(keys, jax.tree_util.tree_map(jnp.asarray,
                                                                         env.params)))
    seconds = time.perf_counter() - t0
    fab_oee, invalid, released, completed, wip, cycle_sum, reward = (np.asarray(x)
                                                                      for x in out)
    if invalid.any():
        raise ValueError(f"the policy chose {int(invalid.sum())} of {invalid.size} days an "
                         f"action that is no row of this fab's weights "
                         f"({env.num_actions(env.params)} rows)")
    lo = float(env.params.oee_target) - float(env.params.oee_half_width)
    hi = float(env.params.oee_target) + float(env.params.oee_half_width)
    in_band = (fab_oee >= lo) & (fab_oee <= hi)
    deviation = np.abs(fab_oee - float(env.params.oee_target))
    total_done = completed.sum(axis=1)
    cycle = np.where(total_done > 0, cycle_sum.sum(axis=1) / np.maximum(total_done, 1), 0.0)
    cum_released = np.asarray(wip0)[:, None] + np.cumsum(released, axis=1)
    cum_completed = np.cumsum(completed, axis=1)
    daily = [
        {"seed": s, "day": d, "oee": round(float(fab_oee[s, d]), 6),
         "released": int(cum_released[s, d]), "completed": int(cum_completed[s, d]),
         "wip": int(wip[s, d])}
        for s in range(seeds) for d in range(env.days)
    ]

    def stat(per_seed):
        return round(float(np.mean(per_seed)), 6), round(float(np.std(per_seed)), 6)

    band = stat(in_band.sum(axis=1))
    dev = stat(deviation.mean(axis=1))
    output = stat(completed.mean(axis=1))
    cycle_stat = stat(cycle)
    return {
        "suite": "fab",
        "seeds": seeds,
        "days": env.days,
        "warmup_days": env.warmup_days,
        "band": [round(lo, 6), round(hi, 6)],
        "days_in_band": band[0],
        "days_in_band_std": band[1],
        "mean_abs_deviation": dev[0],
        "mean_abs_deviation_std": dev[1],
        "daily_output": output[0],
        "daily_output_std": output[1],
        "mean_cycle_time": cycle_stat[0],
        "mean_cycle_time_std": cycle_stat[1],
        "mean_reward": round(float(reward.mean()), 6),
        "mean_oee": round(float(fab_oee.mean()), 6),
        "seconds": round(seconds, 3),
        "daily": daily,
    }


def fab_run(method: Method, spec: str, *, seeds: int | None = None, days: int | None = None,
            warmup_days: int | None = None, seed: int = 0,
            regime: dict[str, Any] | None = None, params_file: Path | None = None,
            note: Callable[[str], None] | None = None,
            status: Callable[[str], AbstractContextManager] | None = None) -> dict[str, Any]:
    """`method` (named `spec`) over `seeds` fabs for `days` days after `warmup_days` (None:
    `FAB_DEFAULTS`) on the fab `fab_setting` picks; the eval JSON object with the method,
    the fab and the run's options. `note(text)` hears when a learned policy plays another
    fab than its own; `status(message)` wraps the simulation (a spinner). ValueError (with
    the parameters file's name) for a fab the env refuses."""
    from jaxshop_baselines.parallel import run_info

    seeds = seeds or FAB_DEFAULTS["seeds"]
    days = days or FAB_DEFAULTS["days"]
    warmup = FAB_DEFAULTS["warmup_days"] if warmup_days is None else warmup_days
    setting = fab_setting(method, regime=regime, params_file=params_file,
                          total_days=days + warmup)
    if setting.note is not None and note is not None:
        note(setting.note)
    try:
        env = FabEnv(setting.params, days=days, warmup_days=warmup)
    except ValueError as err:  # what only the env checks (warm-up row, days): name the file
        where = "" if params_file is None else f"{params_file}: "
        raise ValueError(f"{where}{err}") from None
    with (status or _no_status)(f"fab · {spec}: {seeds} fabs x {days} days"):
        out = evaluate_fab(method.policy.act, seeds=seeds, seed=seed, env=env)
    regime = regime or {}
    out["method"] = spec
    out["num_params"] = setting.num_params
    out["fab"] = setting.description
    out["fab_params_source"] = setting.source
    out["fab_params"] = params_to_json(setting.params)
    out["options"] = {"method": spec, "method_version": method.version,
                      "num_params": setting.num_params, "seed": seed,
                      **{dest(key): regime.get(key) for key in DEFAULT_REGIME},
                      "fab_params": None if params_file is None else str(params_file)}
    out.update(run_info())
    return out


def _no_status(message: str) -> AbstractContextManager:
    return nullcontext()
