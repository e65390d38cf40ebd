"""A plain-Python/NumPy reference simulator of the Mini-Fab model (docs/fab.md).

Written from docs/fab.md ALONE (no jaxshop code), as the independent oracle that the JAX
`jaxshop.fab` env is tested against. It is a straightforward event-driven simulation: a
Python loop over event times with explicit lot lists, following the spec's event-loop
order literally:

1. busy machines whose batch ends at t complete it (lots advance or leave);
2. down machines whose down time ends at t become idle;
3. at a day start the day's lots are released (Pa, Pb, TW; ids increasing);
4. each idle machine, in index order, starts a due failure repair, else a due maintenance;
5. each idle machine, in index order, dispatches one batch by the composite rule.

Every place where the spec leaves room for reading is marked with a `# SPEC:` comment.
"""

from __future__ import annotations

import numpy as np

DAY = 1440
N_MACHINES = 5
N_STEPS = 6
PA, PB, TW = 0, 1, 2
INF = 1 << 62

#: Machine names, index order.
MACHINES = ("Ma", "Mb", "Mc", "Md", "Me")


def default_params(setups: bool = False, maintenance: bool = False,
                   breakdowns: bool = False) -> dict:
    """The spec's `FabParams` defaults as NumPy arrays (keys = the spec's field names)."""
    step_machines = np.zeros((N_STEPS, N_MACHINES), dtype=bool)
    step_machines[0, [0, 1]] = True  # S1: Ma, Mb
    step_machines[4, [0, 1]] = True  # S5: Ma, Mb
    step_machines[1, [2, 3]] = True  # S2: Mc, Md
    step_machines[3, [2, 3]] = True  # S4: Mc, Md
    step_machines[2, 4] = True  # S3: Me
    step_machines[5, 4] = True  # S6: Me
    weights = np.array(
        [(6, 0, 0), (0, 6, 0), (0, 0, 6), (2, 2, 2), (3, 3, 0),
         (3, 0, 3), (0, 3, 3), (4, 1, 1), (1, 4, 1), (1, 1, 4)],
        dtype=np.int32,
    )
    setup_time = np.zeros(N_MACHINES, dtype=np.int32)
    if setups:
        setup_time[4] = 20
    pm_interval = np.zeros(N_MACHINES, dtype=np.int32)
    pm_duration = np.zeros(N_MACHINES, dtype=np.int32)
    if maintenance:
        pm_interval[:] = [720, 720, 360, 360, 360]
        pm_duration[:] = [75, 75, 120, 120, 30]
    failure_mean = np.zeros(N_MACHINES, dtype=np.float32)
    failure_std = np.zeros(N_MACHINES, dtype=np.float32)
    repair_mean = np.zeros(N_MACHINES, dtype=np.float32)
    repair_std = np.zeros(N_MACHINES, dtype=np.float32)
    if breakdowns:
        failure_mean[[2, 3]] = 3000.0
        failure_std[[2, 3]] = 1560.0
        repair_mean[[2, 3]] = 420.0
        repair_std[[2, 3]] = 60.0
    return {
        "step_machines": step_machines,
        "process_time": np.array([225, 30, 55, 50, 255, 10], dtype=np.int32),
        "load_time": np.array([15, 15, 15, 15, 10], dtype=np.int32),
        "unload_time": np.array([15, 15, 15, 15, 10], dtype=np.int32),
        "batch_size": np.array([3, 1, 1, 1, 3, 1], dtype=np.int32),
        "mix_products": np.array([True, False, False, False, False, False]),
        "setup_time": setup_time,
        "pm_interval": pm_interval,
        "pm_duration": pm_duration,
        "failure_mean": failure_mean,
        "failure_std": failure_std,
        "repair_mean": repair_mean,
        "repair_std": repair_std,
        "release_low": np.array([8, 8, 0], dtype=np.int32),
        "release_high": np.array([12, 12, 1], dtype=np.int32),
        "weekly": np.array(False),
        "weekly_starts": np.array([51, 30, 3], dtype=np.int32),
        "weights": weights,
        "oee_target": np.float32(0.85),
        "oee_half_width": np.float32(0.05),
    }


def weekly_release_counts(params: dict, num_days: int) -> np.ndarray:
    """The weekly plan's (T, 3) release counts: floor((d+1) W / 7) - floor(d W / 7)."""
    w = np.asarray(params["weekly_starts"], dtype=np.int64)
    d = np.arange(num_days, dtype=np.int64)[:, None]
    return ((d + 1) * w // 7 - d * w // 7).astype(np.int32)


class _Fab:
    """The mutable fab state; see `simulate`."""

    def __init__(self, params, failure_gaps, repair_times, failures_enabled):
        p = params
        self.step_machines = np.asarray(p["step_machines"], dtype=bool)
        self.process_time = [int(x) for x in p["process_time"]]
        self.load_time = [int(x) for x in p["load_time"]]
        self.unload_time = [int(x) for x in p["unload_time"]]
        self.batch_size = [int(x) for x in p["batch_size"]]
        self.mix_products = [bool(x) for x in p["mix_products"]]
        self.setup_time = [int(x) for x in p["setup_time"]]
        self.pm_interval = [int(x) for x in p["pm_interval"]]
        self.pm_duration = [int(x) for x in p["pm_duration"]]
        self.weights = np.asarray(p["weights"], dtype=np.int64)
        self.remaining = [sum(self.process_time[s:]) for s in range(N_STEPS)]

        self.failure_gaps = np.asarray(failure_gaps, dtype=np.int64)
        self.repair_times = np.asarray(repair_times, dtype=np.int64)
        self.max_failures = self.failure_gaps.shape[1]
        enabled = np.asarray(failures_enabled, dtype=bool)

        # Lots: parallel lists indexed by id.
        self.product: list[int] = []
        self.step: list[int] = []
        self.arrival: list[int] = []
        self.release: list[int] = []
        self.waiting: set[int] = set()  # waiting lots (in some queue)
        self.in_fab: set[int] = set()  # released, not completed

        # Machines.
        self.state = ["idle"] * N_MACHINES  # "idle" | "busy" | "down"
        self.end = [INF] * N_MACHINES  # end of the busy or down period
        self.batch: list[list[int]] = [[] for _ in range(N_MACHINES)]
        self.batch_step = [-1] * N_MACHINES
        self.last_step = [-1] * N_MACHINES  # step of the previous batch (-1: none yet)
        # Preventive maintenance k (k = 1, 2, ...) is due at k * pm_interval.
        self.pm_due = [iv if iv > 0 else INF for iv in self.pm_interval]
        # SPEC: the first failure is due at failure_gaps[m, 0] minutes after time 0 of the
        # whole simulation (warm-up included); failure clocks run whatever m's state.
        self.fail_count = [0] * N_MACHINES
        self.fail_due = [
            int(self.failure_gaps[m, 0]) if (enabled[m] and self.max_failures > 0) else INF
            for m in range(N_MACHINES)
        ]
        # Holding intervals [from, to) per machine (load + process + unload), for OEE.
        self.holding: list[list[tuple[int, int]]] = [[] for _ in range(N_MACHINES)]
        # Completions: (time, cycle time).
        self.completions: list[tuple[int, int]] = []
        self.trace: list[dict] | None = None

    # ---- counting ---------------------------------------------------------------------
    def wip_by_step(self) -> np.ndarray:
        wip = np.zeros(N_STEPS, dtype=np.int64)
        for lot in self.in_fab:
            wip[self.step[lot]] += 1
        return wip

    def queue(self, m: int) -> list[int]:
        """Waiting lots whose step machine m may process, by id."""
        return sorted(lot for lot in self.waiting if self.step_machines[self.step[lot], m])

    # ---- events -----------------------------------------------------------------------
    def complete(self, m: int, t: int) -> None:
        for lot in self.batch[m]:
            if self.step[lot] == N_STEPS - 1:
                self.in_fab.discard(lot)
                self.completions.append((t, t - self.release[lot]))
            else:
                self.step[lot] += 1
                self.arrival[lot] = t
                self.waiting.add(lot)
        self.batch[m] = []
        self.state[m] = "idle"
        self.end[m] = INF

    def release_lots(self, counts, t: int) -> int:
        n = 0
        for prod in (PA, PB, TW):
            for _ in range(int(counts[prod])):
                lot = len(self.product)
                self.product.append(prod)
                self.step.append(0)
                self.arrival.append(t)
                self.release.append(t)
                self.waiting.add(lot)
                self.in_fab.add(lot)
                n += 1
        return n

    def start_down(self, m: int, t: int) -> None:
        # SPEC: "starts a due failure repair, else a due maintenance": due = due time <= t.
        if self.fail_due[m] <= t:
            k = self.fail_count[m]
            end = t + int(self.repair_times[m, k])
            self.fail_count[m] = k + 1
            # SPEC: the next failure is due failure_gaps[m, k+1] after the repair ends;
            # after K failures the machine fails no more.
            self.fail_due[m] = (
                end + int(self.failure_gaps[m, k + 1]) if k + 1 < self.max_failures else INF
            )
            self._go_down(m, end, t)
            if self.trace is not None:
                self.trace.append({"kind": "failure", "machine": m, "start": t, "end": end})
        elif self.pm_due[m] <= t:
            end = t + self.pm_duration[m]
            # SPEC: the next maintenance is due pm_interval after the previous DUE time
            # (a fixed k * pm_interval grid), however late this one started; if that lies
            # at or before the end of this one, it starts as soon as m is idle again.
            self.pm_due[m] += self.pm_interval[m]
            self._go_down(m, end, t)
            if self.trace is not None:
                self.trace.append({"kind": "pm", "machine": m, "start": t, "end": end})

    def _go_down(self, m: int, end: int, t: int) -> None:
        # SPEC: a zero-length down time (pm_duration 0, or a repair time 0 although the
        # spec clips draws to >= 1) is over at once: m stays idle and may dispatch at t.
        if end > t:
            self.state[m], self.end[m] = "down", end

    def can_lead(self, lot: int, s: int, b: int) -> bool:
        if b == 1:
            return True
        if self.product[lot] == TW:
            return False
        at_s = [x for x in self.waiting if self.step[x] == s]
        n = sum(1 for x in at_s if self.product[x] != TW and self.compatible(lot, x, s))
        t = sum(1 for x in at_s if self.product[x] == TW)
        return n + min(t, 1) >= b

    def compatible(self, a: int, b: int, s: int) -> bool:
        # Both are waiting at s (checked by the callers).
        return (
            self.mix_products[s]
            or self.product[a] == self.product[b]
            or self.product[a] == TW
            or self.product[b] == TW
        )

    def dispatch(self, m: int, t: int, w) -> None:
        q = self.queue(m)
        if not q:
            return
        # Scores (lower is better), normalized over Q with integer division.
        raw = [
            [self.arrival[x] for x in q],
            [self.process_time[self.step[x]] for x in q],
            [self.remaining[self.step[x]] for x in q],
        ]
        comp = [0] * len(q)
        for h in range(3):
            lo, hi = min(raw[h]), max(raw[h])
            for i in range(len(q)):
                qh = 0 if hi == lo else (1000 * (raw[h][i] - lo)) // (hi - lo)
                comp[i] += int(w[h]) * qh
        ranked = [x for _, x in sorted(zip(comp, q, strict=True))]  # by (c, id)
        # SPEC: Q mixes both steps a machine serves; the leader is the best-ranked lot of
        # Q that can lead at ITS step (e.g. Ma skips S5 lots that cannot fill a batch and
        # takes an S1 batch), and the batch is then filled from that step only.
        leader = None
        for x in ranked:
            s = self.step[x]
            if self.can_lead(x, s, self.batch_size[s]):
                leader = x
                break
        if leader is None:
            return  # no lot of Q can lead: m stays idle
        s = self.step[leader]
        b = self.batch_size[s]
        batch = [leader]
        has_tw = self.product[leader] == TW
        while len(batch) < b:
            added = False
            for x in ranked:
                if x in batch or self.step[x] != s or not self.compatible(leader, x, s):
                    continue
                if has_tw and self.product[x] == TW:
                    continue
                batch.append(x)
                has_tw = has_tw or self.product[x] == TW
                added = True
                break
            if not added:  # cannot happen when the leader rule holds
                raise AssertionError("batch could not be filled")
        # SPEC: "previous batch" = the last batch m started, whatever maintenance or
        # repairs came in between; the first batch on a machine has no setup.
        setup = self.setup_time[m] if (self.last_step[m] >= 0 and self.last_step[m] != s) else 0
        hold_from = t + setup
        end = hold_from + self.load_time[m] + self.process_time[s] + self.unload_time[m]
        for x in batch:
            self.waiting.discard(x)
        self.batch[m] = batch
        self.batch_step[m] = s
        self.last_step[m] = s
        self.state[m], self.end[m] = "busy", end
        # SPEC: the setup comes first in the busy period [t, t + setup); the machine
        # "holds the batch" for OEE only during [t + setup, end) (load, process, unload).
        self.holding[m].append((hold_from, end))
        if self.trace is not None:
            self.trace.append({
                "kind": "batch", "machine": m, "step": s, "lots": list(batch),
                "products": [self.product[x] for x in batch], "start": t,
                "setup": setup, "end": end,
            })

    def next_event(self, t: int) -> int:
        cands = [DAY * (t // DAY + 1)]
        for m in range(N_MACHINES):
            if self.state[m] != "idle":
                cands.append(self.end[m])
            for due in (self.pm_due[m], self.fail_due[m]):
                if t < due < INF:
                    cands.append(due)
        return min(cands)

    def process(self, t: int, release_counts, w) -> int:
        """All of event time t; returns the lots released."""
        for m in range(N_MACHINES):  # 1. completions
            if self.state[m] == "busy" and self.end[m] == t:
                self.complete(m, t)
        for m in range(N_MACHINES):  # 2. end of down times
            if self.state[m] == "down" and self.end[m] == t:
                self.state[m], self.end[m] = "idle", INF
        released = 0
        if t % DAY == 0:  # 3. releases at a day start
            released = self.release_lots(release_counts[t // DAY], t)
        for m in range(N_MACHINES):  # 4. failures, else maintenance, of idle machines
            if self.state[m] == "idle":
                self.start_down(m, t)
        for m in range(N_MACHINES):  # 5. dispatch, index order
            if self.state[m] == "idle":
                self.dispatch(m, t, w)
        return released


def _overlap(intervals, lo: int, hi: int) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in intervals)


def simulate(params: dict, release_counts, failure_gaps, repair_times, failures_enabled,
             actions, warmup_days: int, warmup_action: int = 3,
             trace: list | None = None) -> list[dict]:
    """Simulate `warmup_days` days with row `warmup_action`, then one day per action.

    release_counts (T, 3) int, T = warmup_days + len(actions); failure_gaps, repair_times
    (5, K) int; failures_enabled (5,) bool (a machine with False never fails); actions: the
    weight-row index per day after warm-up. If `trace` is a list, every batch start
    ("batch"), failure ("failure") and maintenance ("pm") is appended to it as a dict.

    Returns one record per simulated day (warm-up included), each a dict with 'day',
    'action', 'wip_start' (6,), 'queue_start' (5,), 'released', 'completed', 'cycle_time',
    'oee' (5,), 'fab_oee', 'reward', 'wip_end', 'busy_minutes' (5,).
    """
    release_counts = np.asarray(release_counts, dtype=np.int64)
    actions = [int(a) for a in actions]
    num_days = warmup_days + len(actions)
    if release_counts.shape != (num_days, 3):
        raise ValueError(f"release_counts {release_counts.shape} != ({num_days}, 3)")
    failure_gaps = np.asarray(failure_gaps, dtype=np.int64).reshape(N_MACHINES, -1)
    repair_times = np.asarray(repair_times, dtype=np.int64).reshape(N_MACHINES, -1)
    fab = _Fab(params, failure_gaps, repair_times, failures_enabled)
    fab.trace = trace
    target = float(params["oee_target"])
    half = float(params["oee_half_width"])
    day_actions = [int(warmup_action)] * warmup_days + actions

    records = []
    for d in range(num_days):
        a = day_actions[d]
        w = fab.weights[a]
        # SPEC: "at the start of a day, before its releases" is read as the state left by
        # the previous day, before ANY event at t = 1440 d (completions at exactly 1440 d
        # belong to day d, so those lots still count at their old step / in process).
        wip_start = fab.wip_by_step()
        # SPEC: Ma and Mb share one queue, so both report all its lots (likewise Mc, Md).
        queue_start = np.array([len(fab.queue(m)) for m in range(N_MACHINES)], dtype=np.int64)
        n_done_before = len(fab.completions)
        t = DAY * d
        released = 0
        while t < DAY * (d + 1):
            released += fab.process(t, release_counts, w)
            t = fab.next_event(t)
        # SPEC: a batch ending at exactly 1440 (d+1) completes on day d+1 (its lots count
        # as completed then), while its holding minutes all fall in day d: OEE minutes
        # are split exactly at the day boundary.
        done = fab.completions[n_done_before:]
        busy = np.array(
            [_overlap(fab.holding[m], DAY * d, DAY * (d + 1)) for m in range(N_MACHINES)],
            dtype=np.int64,
        )
        oee = busy / DAY
        fab_oee = float(oee.mean())
        records.append({
            "day": d,
            "action": a,
            "wip_start": wip_start,
            "queue_start": queue_start,
            "released": released,
            "completed": len(done),
            "cycle_time": float(np.mean([c for _, c in done])) if done else 0.0,
            "oee": oee,
            "fab_oee": fab_oee,
            # SPEC: the reward's "OEE" is the fab's OEE (mean of the five machines).
            "reward": 1.0 - abs(fab_oee - target) / half,
            "wip_end": len(fab.in_fab),
            "busy_minutes": busy,
        })
    return records
