"""Plain-Python flow-shop makespan, independent of the library: the reference the swap env
tests and the kernel-Q tests check their JAX makespans against."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def reference_makespan(p: np.ndarray, seq: Iterable[int]) -> int:
    """Makespan of job order `seq` on times `p` [jobs, machines], in Python ints."""
    m = p.shape[1]
    done = [0] * m
    for j in seq:
        prev = 0
        for k in range(m):
            prev = max(prev, done[k]) + int(p[j, k])
            done[k] = prev
    return done[-1]
