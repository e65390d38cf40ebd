"""Host loop of jitted search chunks under a wall-time budget (IG, kernel-Q search)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def run_timed(advance: Callable[[int, int], None], time_limit_s: float, start: float,
              max_chunk: int, progress: Callable[[float], None] | None = None,
              chunk_seconds: float = math.inf) -> int:
    """Calls `advance(done, chunk)` (which runs `chunk` more units and waits for them)
    until `time_limit_s` seconds have passed since `start`; returns the units done.

    The first chunk is one unit; each next one aims at half the remaining time (capped at
    `chunk_seconds` of measured time per unit and at `max_chunk` units), so chunks shrink
    towards the end and the budget is overrun by about one unit at most.
    `progress(fraction of the time used)` after each chunk.
    """
    chunk, done = 1, 0
    while True:
        t_chunk = time.perf_counter()
        advance(done, chunk)
        done += chunk
        now = time.perf_counter()
        remaining = time_limit_s - (now - start)
        if progress is not None:
            progress(min(1.0, (now - start) / time_limit_s))
        if remaining <= 0:
            return done
        per_unit = (now - t_chunk) / chunk
        aim = min(0.5 * remaining, chunk_seconds)
        chunk = int(min(max_chunk, max(1, aim // max(per_unit, 1e-9))))
