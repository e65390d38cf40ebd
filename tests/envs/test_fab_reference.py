"""Hand-computed checks of the NumPy Mini-Fab reference (tests/envs/fab_reference.py) itself."""

from __future__ import annotations

import numpy as np
import pytest
from fab_reference import DAY, default_params, simulate, weekly_release_counts

NO_FAIL = np.ones((5, 1), dtype=np.int64)


def run(params, releases, actions=(), warmup_days=None, warmup_action=3, gaps=None,
        repairs=None, enabled=None, trace=None):
    releases = np.asarray(releases, dtype=np.int64)
    if warmup_days is None:
        warmup_days = len(releases) - len(actions)
    return simulate(
        params, releases,
        NO_FAIL if gaps is None else gaps,
        NO_FAIL if repairs is None else repairs,
        np.zeros(5, bool) if enabled is None else enabled,
        list(actions), warmup_days, warmup_action, trace=trace,
    )


def random_releases(seed, days, params):
    rng = np.random.default_rng(seed)
    lo, hi = params["release_low"], params["release_high"]
    return rng.integers(lo, hi + 1, size=(days, 3))


def test_three_pa_lots_by_hand():
    # t=0: Ma takes {0,1,2} (S1) until 0+15+225+15 = 255.
    # t=255: Mc lot0 (S2) -> 315, Md lot1 -> 315; lot2 waits.
    # t=315: Mc lot2 (S2) -> 375; Me lot0 (S3) -> 315+10+55+10 = 390.
    # t=390: Mc lot0 (S4) -> 470; Me lot1 (S3, arrival 315 < 375) -> 465.
    # t=465: Md lot1 (S4) -> 545; Me lot2 (S3) -> 540.  t=540: Mc lot2 (S4) -> 620.
    # t=470/545: lots wait at S5 (a batch needs 3).  t=620: Ma {0,1,2} (S5) -> 905.
    # t=905: Me lot0 (S6) -> 935, then lot1 -> 965, lot2 -> 995.
    trace = []
    recs = run(default_params(), [[3, 0, 0]], trace=trace)
    starts = [(e["machine"], e["step"], e["lots"], e["start"], e["end"]) for e in trace]
    assert starts == [
        (0, 0, [0, 1, 2], 0, 255), (2, 1, [0], 255, 315), (3, 1, [1], 255, 315),
        (2, 1, [2], 315, 375), (4, 2, [0], 315, 390), (2, 3, [0], 390, 470),
        (4, 2, [1], 390, 465), (3, 3, [1], 465, 545), (4, 2, [2], 465, 540),
        (2, 3, [2], 540, 620), (0, 4, [0, 1, 2], 620, 905), (4, 5, [0], 905, 935),
        (4, 5, [1], 935, 965), (4, 5, [2], 965, 995),
    ]
    r = recs[0]
    assert r["released"] == 3 and r["completed"] == 3 and r["wip_end"] == 0
    assert r["cycle_time"] == pytest.approx((935 + 965 + 995) / 3)
    assert r["busy_minutes"].tolist() == [255 + 285, 0, 60 + 60 + 80 + 80, 60 + 80, 3 * 75 + 3 * 30]
    np.testing.assert_allclose(r["oee"], r["busy_minutes"] / 1440)
    assert r["fab_oee"] == pytest.approx(r["busy_minutes"].sum() / 1440 / 5)
    assert r["reward"] == pytest.approx(1 - abs(r["fab_oee"] - 0.85) / 0.05, rel=1e-6)
    assert r["wip_start"].tolist() == [0] * 6 and r["queue_start"].tolist() == [0] * 5


def test_setup_on_me_when_switching_steps():
    # As above, but Me pays 20 minutes before its first S6 batch only (last batch was S3).
    trace = []
    recs = run(default_params(setups=True), [[3, 0, 0]], trace=trace)
    me = [(e["step"], e["start"], e["setup"], e["end"]) for e in trace if e["machine"] == 4]
    assert me == [(2, 315, 0, 390), (2, 390, 0, 465), (2, 465, 0, 540),
                  (5, 905, 20, 955), (5, 955, 0, 985), (5, 985, 0, 1015)]
    r = recs[0]
    assert r["cycle_time"] == pytest.approx((955 + 985 + 1015) / 3)
    assert r["busy_minutes"][4] == 3 * 75 + 3 * 30  # setups are not counted in OEE
    # Random runs: every Me batch pays 20 exactly when its step differs from the last.
    trace = []
    params = default_params(setups=True)
    run(params, random_releases(1, 6, params), trace=trace)
    last = -1
    for e in trace:
        if e["kind"] == "batch" and e["machine"] == 4:
            assert e["setup"] == (20 if last not in (-1, e["step"]) else 0)
            last = e["step"]


def test_tw_rules():
    # TW lots alone never start an S1 batch; two Pa + one TW do, with the Pa leading.
    recs = run(default_params(), [[0, 0, 3], [0, 0, 0]])
    assert recs[1]["wip_start"].tolist() == [3, 0, 0, 0, 0, 0]
    assert recs[1]["busy_minutes"].sum() == 0
    trace = []
    run(default_params(), [[2, 0, 2]], trace=trace)
    assert trace[0]["lots"] == [0, 1, 2] and trace[0]["products"] == [0, 0, 2]
    # Random runs: no batch of size 3 is led by TW or holds two TW lots; S5 never mixes.
    params = default_params()
    params["release_high"] = np.array([12, 12, 3])
    for seed in range(3):
        trace = []
        run(params, random_releases(seed, 5, params), trace=trace, warmup_days=2,
            actions=[0, 9, 5])
        batches = [e for e in trace if e["kind"] == "batch"]
        assert batches
        for e in batches:
            prods = e["products"]
            assert len(prods) == (3 if e["step"] in (0, 4) else 1)
            if len(prods) == 3:
                assert prods[0] != 2 and prods.count(2) <= 1
            if e["step"] == 4:
                assert len({p for p in prods if p != 2}) == 1


def test_conservation_and_day_split():
    params = default_params(setups=True, maintenance=True)
    gaps = np.full((5, 4), 900)
    repairs = np.full((5, 4), 400)
    enabled = np.array([False, False, True, True, False])
    releases = random_releases(3, 8, params)
    trace = []
    recs = run(params, releases, actions=[1, 2, 4, 7, 8], trace=trace, gaps=gaps,
               repairs=repairs, enabled=enabled)
    assert [r["action"] for r in recs] == [3, 3, 3, 1, 2, 4, 7, 8]
    rel = done = 0
    for d, r in enumerate(recs):
        rel += r["released"]
        done += r["completed"]
        assert r["released"] == releases[d].sum()
        assert rel == done + r["wip_end"]
        assert np.all(r["busy_minutes"] <= DAY) and np.all(r["busy_minutes"] >= 0)
        if d + 1 < len(recs):
            assert recs[d + 1]["wip_start"].sum() == r["wip_end"]
    # Busy minutes over all days == holding time of all batches, clipped at the horizon.
    horizon = DAY * len(recs)
    for m in range(5):
        held = sum(
            max(0, min(e["end"], horizon) - (e["start"] + e["setup"]))
            for e in trace if e["kind"] == "batch" and e["machine"] == m
        )
        assert sum(int(r["busy_minutes"][m]) for r in recs) == held
    # Failures: Mc/Md fail 4 times each (due 900 after the previous repair ends), Ma/Mb/Me never.
    fails = [e for e in trace if e["kind"] == "failure"]
    assert {e["machine"] for e in fails} == {2, 3}
    for m in (2, 3):
        f = [e for e in fails if e["machine"] == m]
        assert len(f) == 4 and f[0]["start"] >= 900
        assert all(b["start"] >= a["end"] + 900 for a, b in zip(f, f[1:], strict=False))
        assert all(e["end"] - e["start"] == 400 for e in f)
    # Maintenance on its k * interval grid: never before it is due, never during a batch.
    pms = [e for e in trace if e["kind"] == "pm"]
    for m, (iv, dur) in enumerate([(720, 75), (720, 75), (360, 120), (360, 120), (360, 30)]):
        p = [e for e in pms if e["machine"] == m]
        assert p
        for k, e in enumerate(p, start=1):
            assert e["start"] >= k * iv and e["end"] - e["start"] == dur


def test_weekly_plan():
    counts = weekly_release_counts(default_params(), 14)
    assert counts[:7].sum(axis=0).tolist() == [51, 30, 3]
    assert counts.sum(axis=0).tolist() == [102, 60, 6]
