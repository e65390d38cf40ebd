"""Generator-defined suites: `N` random instances of one problem and size, drawn from keys.

`parse_generated("fjsp:10x5:1000000")` is a `GeneratedSuite`; instance `i` of a suite
evaluated with key `k` is `suite.generator()(jax.random.split(k, N)[i])` (split again
into an instance key and a solve key by the evaluator), so a suite never has to exist
in memory as a whole and its instances do not depend on how it is chunked or sharded.
Generators by problem (`GENERATORS`): `fjsp` Brandimarte-style (Song et al.'s ranges:
`U[0.8 M, 1.2 M]` operations per job, `U[1, M]` eligible machines, times `U[1, 20]`),
`jssp` Taillard-style (times `U[1, 99]`), `pfsp` Taillard-style (times `U[1, 99]`).

This is also the one family of training distributions: `make_generator(problem, J, M)`
is what PPO and DDQN train on, `fjsp_mixture_sampler` the pointer net's and the
student's batches (one size, or an even split over several sizes padded to one shape).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxshop.fjsp.generator import JobShopGenerator, brandimarte_generator, song_ops_range
from jaxshop.instances.types import Instance
from jaxshop.pfsp.generator import UniformPFSPGenerator

Generator = Callable[[jax.Array], Instance]  # key -> one instance
SampleFn = Callable[[jax.Array, int], Instance]  # (key, batch) -> stacked instances

GENERATORS: dict[str, Callable[[int, int], Generator]] = {
    "fjsp": lambda jobs, machines: brandimarte_generator(jobs, machines),
    "jssp": lambda jobs, machines: JobShopGenerator(jobs, machines),
    "pfsp": lambda jobs, machines: UniformPFSPGenerator(jobs, machines),
}


def make_generator(problem: str, jobs: int, machines: int) -> Generator:
    """The random `jobs x machines` instances of `problem` (`GENERATORS`)."""
    return GENERATORS[problem](jobs, machines)


def split_sampler(generators: Sequence[Generator]) -> SampleFn:
    """`(key, batch)` -> `batch` stacked instances split evenly over `generators` (the
    first ones get one more when it does not divide); the key is split once per
    generator, then once per instance. The generators must share one padded shape."""

    def sample(key: jax.Array, batch: int) -> Instance:
        n_gen = len(generators)
        counts = [batch // n_gen + (i < batch % n_gen) for i in range(n_gen)]
        keys = jax.random.split(key, n_gen)
        parts = [jax.vmap(g)(jax.random.split(k, n))
                 for g, k, n in zip(generators, keys, counts, strict=True) if n > 0]
        return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)

    return sample


def fjsp_mixture_sampler(sizes: Sequence[tuple[int, int]],
                         ops_ranges: Sequence[tuple[int, int]] | None = None,
                         time_range: tuple[int, int] = (1, 20)) -> SampleFn:
    """`split_sampler` over `brandimarte_generator`s of the `(jobs, machines)` `sizes`
    (operations per job `ops_ranges[i]`, default Song et al.'s), all padded to the
    largest jobs, operations and machines."""
    ranges = list(ops_ranges) if ops_ranges is not None else [song_ops_range(m)
                                                               for _, m in sizes]
    pad = dict(max_jobs=max(j for j, _ in sizes), max_ops=max(hi for _, hi in ranges),
               max_machines=max(m for _, m in sizes))
    return split_sampler([brandimarte_generator(j, m, r, time_range, **pad)
                          for (j, m), r in zip(sizes, ranges, strict=True)])
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
