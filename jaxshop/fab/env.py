"""Dynamic semiconductor fab: the Intel Five-Machine Six-Step Mini-Fab, one decision a day.

The full model (machines, batching, maintenance, failures, event order) is docs/fab.md;
`jaxshop.fab.sim` simulates it event by event in a `lax.while_loop` with static shapes,
so many fabs step together under `jit` + `vmap`.

- Observation (`FabObservation`, at the start of a day, before its releases): `wip` (6,)
  lots per step; `wip_bin` (6,) that count coded by the equal-frequency edges
  `params.wip_edges`; `releases` (3,) the day's lots per product; `queue` (5,) lots
  waiting for each machine; `oee` (5,) each machine's OEE of the previous day; `day`;
  `features`, the flat vector `[one_hot(wip_bin) (6 B), releases / 20 (3),
  min(queue / 50, 1) (5), oee (5), day / days (1)]`; `action_mask` (A,).
- Action: the row of `params.weights` (FIFO, SPT, LRW weights summing to 6) that ranks
  waiting lots at every machine decision of the day: rows 0..3 are d1 = FIFO, d2 = SPT,
  d3 = LRW, d4 = equal mix, then a grid of mixtures (`mixture_weights`).
- Reward: `1 - |OEE - 0.85| / 0.05` for the day's fab OEE (mean over the five machines
  of the fraction of the day each holds a batch, load and unload included): 1 at 0.85,
  0 at the band's edges 0.8 and 0.9, negative outside.
- Termination: after `days` decisions (discount 0). `reset` first simulates
  `warmup_days` days with the weight row `warmup_action` (d4).
- `extras`: `oee` (5,) and its numerator `busy_minutes` (5,) int32, `fab_oee`,
  `released` and `completed` (lots that day), `wip` (lots in the fab at the day's end),
  `cycle_time` (mean over the day's completed lots, 0 if none),
  `lost_lots` (always 0: the lot table is sized up front), `invalid_action`. Its
  episode metric (`episode_metrics`, carried by `AutoReset` as `final_wip`) is `wip`,
  the lots an episode leaves in the fab.

The instance argument of `reset(key, params)` is a `FabParams`; without one the env's
own parameters are used. Randomness (daily releases, failure and repair draws) is drawn
once at reset from the key. The env sits on the generic `Environment`: a fab has no
makespan and builds no static schedule (`render` draws the OEE and WIP instead).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxshop.env import Environment, register
from jaxshop.fab.generator import (
    default_params,
    draw_random_inputs,
    validate_params,
    worst_case_lots,
)
from jaxshop.fab.sim import initial_state, queue_lengths, simulate_day, wip_per_step
from jaxshop.fab.types import (
    DAY,
    ID_RANGE,
    NUM_MACHINES,
    NUM_PRODUCTS,
    NUM_STEPS,
    FabObservation,
    FabParams,
    FabState,
)
from jaxshop.specs import ArraySpec
from jaxshop.utils import tree_select

RELEASE_SCALE = 20.0  # releases / 20 in the features
QUEUE_SCALE = 50.0  # min(queue / 50, 1) in the features


class ParamsGenerator:
    """The env's 'generator': always the same parameters (randomness comes from the key)."""

    def __init__(self, params: FabParams):
        self.params = params

    def __call__(self, key: jax.Array) -> FabParams:
        return jax.tree_util.tree_map(jnp.asarray, self.params)


class FabEnv(Environment[FabParams, FabState, FabObservation]):
    """Mini-Fab env: `reset(key, params=None)`, `step(state, action)`; see the module doc."""

    problem = "fab"
    episode_metrics = ("wip",)

    def __init__(self, params: FabParams | None = None, days: int = 10, warmup_days: int = 5,
                 warmup_action: int = 3, max_lots: int | None = None,
                 max_failures: int = 64):
        for name, value, low in (("days", days, 1), ("warmup_days", warmup_days, 0),
                                 ("max_lots", 1 if max_lots is None else max_lots, 1),
                                 ("max_failures", max_failures, 2),
                                 ("warmup_action", warmup_action, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"FabEnv: {name} must be an integer >= {low}, got {value!r}")
        params = default_params() if params is None else params
        self.days, self.warmup_days = int(days), int(warmup_days)
        if max_lots is None:  # the worst case of these params, in whole 32-lot blocks
            validate_params(params, total_days=self.days + self.warmup_days,
                            max_lots=ID_RANGE - 1, source="FabEnv")
            worst = worst_case_lots(params, self.days + self.warmup_days)
            max_lots = max(32, -(-worst // 32) * 32)
        self.max_lots, self.max_failures = int(max_lots), int(max_failures)
        self.warmup_action = int(warmup_action)
        self.check_params(params)
        super().__init__(ParamsGenerator(params))
        self.params = params

    @property
    def fixed_episode_length(self) -> int:
        """Every episode lasts exactly `days` decisions (agents may rely on it)."""
        return self.days

    @property
    def total_days(self) -> int:
        return self.warmup_days + self.days

    def check_params(self, params: FabParams, source: str = "FabEnv") -> None:
        """ValueError naming the field when `params` cannot run in this env."""
        validate_params(params, total_days=self.total_days, max_lots=self.max_lots,
                        source=source)
        num_actions = params.weights.shape[0]
        if self.warmup_action >= num_actions:
            raise ValueError(f"{source}: warmup_action {self.warmup_action} is not a row of "
                             f"weights ({num_actions} rows)")

    # --- sizes -----------------------------------------------------------------------------

    def num_actions(self, params: FabParams) -> int:
        return params.weights.shape[-2]

    def max_steps(self, params: FabParams) -> int:
        return self.days

    # --- reset / step ----------------------------------------------------------------------

    def check_instance(self, params: FabParams, source: str = "FabEnv") -> None:
        """What `reset` checks before it runs (wrappers' `reset` call it too): concrete
        `params` this env can run, else a ValueError naming the field."""
        if not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(params)):
            self.check_params(params, source=source)

    def _reset(self, params: FabParams, key: jax.Array) -> FabState:
        """Draws the episode's random inputs from `key` and runs the warm-up."""
        params = jax.tree_util.tree_map(jnp.asarray, params)
        releases, gaps, repairs = draw_random_inputs(key, params, self.total_days,
                                                     self.max_failures)
        state = initial_state(params, releases, gaps, repairs, self.max_lots)
        if self.warmup_days:  # (no warm-up: no simulator in the reset program to compile)
            warm = params.weights[self.warmup_action]
            state = jax.lax.fori_loop(0, self.warmup_days,
                                      lambda _, s: simulate_day(s, warm), state)
        return state

    def _step(self, state: FabState, action: jax.Array, live: jax.Array) -> FabState:
        new = simulate_day(state, state.params.weights[action])
        new = new.replace(steps=state.steps + 1)
        return tree_select(live, new, state)

    def _reward(self, before: FabState, after: FabState, done: jax.Array) -> jax.Array:
        return self.day_reward(after)

    # --- daily figures ---------------------------------------------------------------------

    @staticmethod
    def machine_oee(state: FabState) -> jax.Array:
        """(5,) float32: fraction of the last simulated day each machine held a batch."""
        return state.last_busy.astype(jnp.float32) / DAY

    @classmethod
    def fab_oee(cls, state: FabState) -> jax.Array:
        return cls.machine_oee(state).mean()

    @classmethod
    def day_reward(cls, state: FabState) -> jax.Array:
        """`1 - |OEE - target| / half_width` for the last simulated day."""
        p = state.params
        return (1.0 - jnp.abs(cls.fab_oee(state) - p.oee_target) / p.oee_half_width).astype(
            jnp.float32)

    def _extras(self, state: FabState) -> dict:
        completed = state.last_completed
        cycle = jnp.where(completed > 0, state.last_cycle_sum / jnp.maximum(completed, 1), 0.0)
        return {
            "oee": self.machine_oee(state),
            "busy_minutes": state.last_busy,
            "fab_oee": self.fab_oee(state),
            "released": state.last_released,
            "completed": completed,
            "wip": (state.lot_step >= 0).sum(dtype=jnp.int32),
            "cycle_time": cycle.astype(jnp.float32),
            "lost_lots": state.lost_lots,
        }

    # --- queries ---------------------------------------------------------------------------

    def is_done(self, state: FabState) -> jax.Array:
        return state.steps >= self.days

    def action_mask(self, state: FabState) -> jax.Array:
        return jnp.broadcast_to(~self.is_done(state), (self.num_actions(state.params),))

    def observe(self, state: FabState) -> FabObservation:
        p = state.params
        wip = wip_per_step(state)
        bins = (wip[:, None] >= p.wip_edges).sum(axis=1).astype(jnp.int32)
        num_bins = p.wip_edges.shape[-1] + 1
        t = state.release_counts.shape[0]
        releases = jnp.where(state.day < t,
                             state.release_counts[jnp.clip(state.day, 0, t - 1)], 0)
        queue = queue_lengths(state)
        oee = self.machine_oee(state)
        features = jnp.concatenate([
            jax.nn.one_hot(bins, num_bins, dtype=jnp.float32).reshape(-1),
            releases.astype(jnp.float32) / RELEASE_SCALE,
            jnp.minimum(queue.astype(jnp.float32) / QUEUE_SCALE, 1.0),
            oee,
            (state.steps.astype(jnp.float32) / self.days)[None],
        ])
        return FabObservation(wip=wip, wip_bin=bins, releases=releases.astype(jnp.int32),
                              queue=queue, oee=oee, day=state.steps, features=features,
                              action_mask=self.action_mask(state))

    @staticmethod
    def num_features(params: FabParams) -> int:
        return NUM_STEPS * (params.wip_edges.shape[-1] + 1) + NUM_PRODUCTS + 2 * NUM_MACHINES + 1

    def observation_spec(self, params: FabParams) -> FabObservation:
        a = self.num_actions(params)
        b = params.wip_edges.shape[-1] + 1
        lots = self.max_lots
        return FabObservation(
            wip=ArraySpec((NUM_STEPS,), jnp.int32, 0, lots, "wip"),
            wip_bin=ArraySpec((NUM_STEPS,), jnp.int32, 0, b - 1, "wip_bin"),
            releases=ArraySpec((NUM_PRODUCTS,), jnp.int32, 0, lots, "releases"),
            queue=ArraySpec((NUM_MACHINES,), jnp.int32, 0, lots, "queue"),
            oee=ArraySpec((NUM_MACHINES,), jnp.float32, 0.0, 1.0, "oee"),
            day=ArraySpec((), jnp.int32, 0, self.days, "day"),
            features=ArraySpec((self.num_features(params),), jnp.float32, None, None,
                               "features"),
            action_mask=ArraySpec.boolean((a,), "action_mask"),
        )

    def learn_wip_edges(self, key: jax.Array, runs: int = 16, bins: int = 5,
                        params: FabParams | None = None) -> np.ndarray:
        """(6, bins - 1) int32 equal-frequency WIP edges per step.

        Plays `runs` episodes with each fixed rule d1..d4 (weight rows 0..3) and takes the
        quantiles `k / bins` of the WIP each step shows at the agent's decision points.
        The result goes into `FabParams.wip_edges` once (it is not recomputed per episode).
        """
        params = self.params if params is None else params
        if bins < 2:
            raise ValueError(f"learn_wip_edges: bins must be >= 2, got {bins}")
        params = jax.tree_util.tree_map(jnp.asarray, params)

        def episode(k, rule):
            state, ts = self.reset(k, params)

            def body(s, _):
                s, t = self.step(s, rule)
                return s, t.observation.wip

            _, wips = jax.lax.scan(body, state, None, length=self.days - 1)
            return jnp.concatenate([ts.observation.wip[None], wips])

        keys = jax.random.split(key, runs)
        rules = jnp.arange(4, dtype=jnp.int32)
        wip = jax.jit(jax.vmap(jax.vmap(episode, (0, None)), (None, 0)))(keys, rules)
        wip = np.asarray(wip).reshape(-1, NUM_STEPS)
        q = np.arange(1, bins) / bins
        return np.floor(np.quantile(wip, q, axis=0)).T.astype(np.int32)

    def render(self, state: FabState, title: str = ""):
        """A matplotlib `Figure`: last day's OEE per machine and the WIP per step."""
        from jaxshop.fab.viewer import fab_figure

        return fab_figure(jax.device_get(state), title=title or "Mini-Fab")


@register("fab")
def _make_fab(**kwargs) -> FabEnv:
    return FabEnv(**kwargs)
