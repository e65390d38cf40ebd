"""Generator-defined suites: `N` random instances of one problem and size, drawn from keys.

`parse_generated("fjsp:10x5:1000000")` is a `GeneratedSuite`; instance `i` of a suite
evaluated with key `k` is `suite.generator()(jax.random.split(k, N)[i])` (split again
into an instance key and a solve key by the evaluator), so a suite never has to exist
in memory as a whole and its instances do not depend on how it is chunked or sharded.
Generators by problem (`GENERATORS`): `fjsp` Brandimarte-style (Song et al.'s ranges:
`U[0.8 M, 1.2 M]` operations per job, `U[1, M]` eligible machines, times `U[1, 20]`),
`jssp` Taillard-style (times `U[1, 99]`), `pfsp` Taillard-style (times `U[1, 99]`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from jaxshop.fjsp.generator import FJSPGenerator, JobShopGenerator, song_ops_range
from jaxshop.pfsp.generator import UniformPFSPGenerator

Generator = Callable[[jax.Array], Any]  # key -> one instance

GENERATORS: dict[str, Callable[[int, int], Generator]] = {
    "fjsp": lambda jobs, machines: FJSPGenerator(
        jobs, machines, ops_per_job=song_ops_range(machines), machines_per_op=(1, machines)),
    "jssp": lambda jobs, machines: JobShopGenerator(jobs, machines),
    "pfsp": lambda jobs, machines: UniformPFSPGenerator(jobs, machines),
}
MAX_JOBS, MAX_MACHINES, MAX_COUNT = 1000, 200, 10**9
FORMAT = "PROBLEM:JOBSxMACHINES:N (PROBLEM one of fjsp, jssp, pfsp), e.g. fjsp:10x5:1000000"


@dataclasses.dataclass(frozen=True)
class GeneratedSuite:
    """`count` random `jobs x machines` instances of `problem`."""

    problem: str
    jobs: int
    machines: int
    count: int

    @property
    def name(self) -> str:
        return f"{self.problem}:{self.jobs}x{self.machines}:{self.count}"

    def generator(self) -> Generator:
        return GENERATORS[self.problem](self.jobs, self.machines)


def parse_generated(text: str) -> GeneratedSuite:
    """`PROBLEM:JxM:N` -> `GeneratedSuite`; ValueError saying what is wrong."""
    parts = text.strip().lower().split(":")
    if len(parts) != 3:
        raise ValueError(f"expected {FORMAT}, got {text!r}")
    problem, size, count = parts
    if problem not in GENERATORS:
        raise ValueError(f"unknown problem {problem!r} in {text!r}; one of "
                         f"{', '.join(GENERATORS)}")
    jobs, x, machines = size.partition("x")
    if not (x and jobs.isdigit() and machines.isdigit() and count.isdigit()):
        raise ValueError(f"expected {FORMAT}, got {text!r}")
    j, m, n = int(jobs), int(machines), int(count)
    if not (1 <= j <= MAX_JOBS and 1 <= m <= MAX_MACHINES):
        raise ValueError(f"size {size} outside 1..{MAX_JOBS} jobs x 1..{MAX_MACHINES} machines")
    if not 1 <= n <= MAX_COUNT:
        raise ValueError(f"instance count {n} outside 1..{MAX_COUNT:.0e}")
    suite = GeneratedSuite(problem, j, m, n)
    suite.generator()  # the generator's own checks (e.g. the worst-case makespan)
    return suite
