"""Gantt charts of schedules (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jaxshop.schedule import Schedule

if TYPE_CHECKING:  # matplotlib is imported only when a chart is drawn
    from matplotlib.figure import Figure


def _job_colors(num_jobs: int) -> list[tuple[float, float, float, float]]:
    """One RGBA colour per job."""
    import matplotlib

    if num_jobs <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(i % 20) for i in range(num_jobs)]
    cmap = matplotlib.colormaps["turbo"]
    # Interleave hues so that neighbouring job ids get distinct colours.
    order = np.argsort(np.arange(num_jobs) * 0.618034 % 1.0)
    ranks = np.empty(num_jobs, int)
    ranks[order] = np.arange(num_jobs)
    return [cmap(0.05 + 0.9 * r / max(num_jobs - 1, 1)) for r in ranks]


def plot_gantt(schedule: Schedule, path: str | Path, title: str = "") -> Path:
    """Writes a Gantt chart PNG: one row per machine, one colour per job.

    Bars carry `job.op` labels when wide enough; a legend lists jobs when there are few.
    Readable from 6×6 up to Taillard's 100×20 and Brandimarte's Mk10.
    """
    import matplotlib.pyplot as plt

    if not schedule.to_records():
        raise ValueError("the schedule is empty: nothing to draw")
    fig = gantt_figure(schedule, title)
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def gantt_figure(schedule: Schedule, title: str = "") -> Figure:
    """The Gantt chart of a (possibly partial or empty) schedule as a matplotlib `Figure`.

    Unscheduled operations (machine -1) are left out; an empty schedule gives empty axes.
    The caller owns the figure (`matplotlib.pyplot.close(fig)` when done).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = schedule.to_records()
    if not records:
        fig, ax = plt.subplots(figsize=(10.0, 3.0), dpi=110)
        ax.set_xlabel("time")
        ax.set_ylabel("machine")
        ax.set_title(f"{title}  (nothing scheduled yet)".strip())
        return fig
    num_jobs = max(r["job"] for r in records) + 1
    machines = sorted({r["machine"] for r in records})
    num_machines = max(machines) + 1
    makespan = max(r["end"] for r in records)
    colors = _job_colors(num_jobs)
    width = min(28.0, max(10.0, 0.12 * len(records) ** 0.5 * 8))
    height = min(16.0, max(3.0, 0.45 * num_machines + 1.5))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    min_label_width = makespan / (width * 9)
    for r in records:
        duration = r["end"] - r["start"]
        ax.barh(
            r["machine"],
            duration,
            left=r["start"],
            height=0.8,
            color=colors[r["job"]],
            edgecolor="black",
            linewidth=0.3,
        )
        if duration >= min_label_width * (2 + len(str(r["job"]))):
            ax.text(
                r["start"] + duration / 2,
                r["machine"],
                f"{r['job']}.{r['op']}",
                ha="center",
                va="center",
                fontsize=6 if num_jobs > 20 else 7,
            )
    ax.set_yticks(
        range(num_machines),
        [f"M{m}" for m in range(num_machines)],
        fontsize=8 if num_machines <= 20 else 6,
    )
    ax.invert_yaxis()
    ax.set_xlim(0, makespan * 1.01)
    ax.set_xlabel("time")
    ax.set_ylabel("machine")
    ax.axvline(makespan, color="red", linestyle="--", linewidth=1)
    ax.set_title(f"{title}  makespan {makespan}".strip())
    ax.grid(axis="x", linestyle=":", linewidth=0.5)
    if num_jobs <= 20:
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(color=colors[j], label=f"J{j}") for j in range(num_jobs)],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=7,
            title="job",
        )
    fig.tight_layout()
    return fig
