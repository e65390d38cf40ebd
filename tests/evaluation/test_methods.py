"""Method.solve's shape buckets: mixed sizes are solved in batches where no instance pays
more than `MAX_PADDING_COST` times its own cost, and the answers come back in order."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jaxshop_baselines import methods
from jaxshop_baselines.methods import (
    MAX_PADDING_COST,
    Method,
    get_method,
    padded_cost,
    shape_buckets,
)

from jaxshop.instances.types import FJSPInstance


def _jssp(rng, jobs: int, machines: int) -> FJSPInstance:
    order = np.stack([rng.permutation(machines) for _ in range(jobs)])
    return FJSPInstance.from_job_shop(order, rng.integers(1, 20, (jobs, machines)))


def test_buckets_bound_the_padding_cost_and_keep_equal_shapes_together():
    shapes = [(10, 5, 5), (15, 5, 5), (20, 5, 5), (10, 10, 10), (15, 10, 10), (20, 10, 10),
              (30, 10, 10), (15, 15, 15), (10, 5, 5), (11, 5, 5)]
    buckets = shape_buckets(shapes, small=0)
    assert sorted(i for b in buckets for i in b) == list(range(len(shapes)))
    for members in buckets:
        top = np.max([shapes[i] for i in members], axis=0)
        for i in members:
            assert padded_cost(top) <= MAX_PADDING_COST * padded_cost(shapes[i])
    assert len(shape_buckets(shapes[:7])) == 1  # up to 30x10 all small: one batch
    big = [(100, 20, 20), (50, 20, 20), (20, 5, 5)]
    assert shape_buckets(big) == [[0], [1], [2]]  # 20x5 padded to 50x20: 1e6 > 1e5
    assert any({0, 8} <= set(b) for b in buckets)  # equal shapes share a bucket
    assert any({0, 9} <= set(b) for b in buckets)  # 10x5 padded to 11x5 costs ~1.3x
    assert shape_buckets([(4, 3, 2)] * 3) == [[0, 1, 2]]


@pytest.mark.slow
def test_mixed_sizes_solve_in_buckets_in_order_like_alone(monkeypatch):
    monkeypatch.setattr(methods, "SMALL_PADDED_COST", 0)  # split even tiny sizes
    rng = np.random.default_rng(3)
    small, big = _jssp(rng, 3, 2), _jssp(rng, 6, 4)
    instances = [big, small, big, small]
    seen = []
    rule = get_method("rule:MWKR-EF")

    def solve_batch(batch, key, progress=None):
        seen.append(sorted({x.shape for x in batch}))
        return rule.solve_batch(batch, key, progress)

    method = Method("spy", rule.problems, solve_batch)
    mixed = method.solve(instances, jax.random.PRNGKey(0))
    assert sorted(map(tuple, seen)) == [((3, 2, 2),), ((6, 4, 4),)]  # one call per size
    for inst, sol in zip(instances, mixed, strict=True):
        alone = rule.solve([inst])[0]
        assert sol.makespan == alone.makespan
        np.testing.assert_array_equal(sol.schedule.start, alone.schedule.start)
