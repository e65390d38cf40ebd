"""Matplotlib view of one fab state: last day's OEE per machine (band shaded) and WIP."""

from __future__ import annotations

import numpy as np

from jaxshop.fab.types import DAY, MACHINE_NAMES, NUM_STEPS, STEP_NAMES


def fab_figure(state, title: str = "Mini-Fab"):
    """Two panels: each machine's OEE on the last simulated day against the target band,
    and the lots at each step (waiting or in process)."""
    from matplotlib.figure import Figure

    p = state.params
    oee = np.asarray(state.last_busy, np.float64) / DAY
    steps = np.asarray(state.lot_step)
    wip = [(steps == s).sum() for s in range(NUM_STEPS)]
    lo = float(p.oee_target) - float(p.oee_half_width)
    hi = float(p.oee_target) + float(p.oee_half_width)
    fig = Figure(figsize=(9, 3.5))
    ax_oee, ax_wip = fig.subplots(1, 2)
    ax_oee.axhspan(lo, hi, color="tab:green", alpha=0.2, label="target band")
    ax_oee.bar(MACHINE_NAMES, oee, color="tab:blue")
    ax_oee.axhline(oee.mean(), color="k", linestyle="--", label=f"fab OEE {oee.mean():.3f}")
    ax_oee.set_ylim(0, 1.05)
    ax_oee.set_title(f"OEE on day {int(state.day) - 1}")
    ax_oee.legend(loc="lower right", fontsize=8)
    ax_wip.bar(STEP_NAMES, wip, color="tab:orange")
    ax_wip.set_title("lots per step")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
