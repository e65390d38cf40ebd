"""Generator-defined suites (`eval --random PROBLEM:JxM:N`): chunked, bounded-memory
evaluation whose result does not depend on the chunk size."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from jaxshop_baselines.cli import main
from jaxshop_baselines.evaluation.generated import evaluate_generated
from jaxshop_baselines.methods import get_method

from jaxshop.instances.generated import parse_generated


@pytest.mark.slow
def test_chunked_evaluation_does_not_depend_on_the_chunk_size():
    suite = parse_generated("fjsp:3x2:7")
    method = get_method("random")
    key = jax.random.PRNGKey(5)
    small = evaluate_generated(method, suite, key, chunk_size=3)  # 3 chunks, last padded
    whole = evaluate_generated(method, suite, key, chunk_size=7)
    np.testing.assert_array_equal(small["makespans"], whole["makespans"])
    assert small["solved"] == 7 and (small["makespans"] > 0).all()
    assert len(set(small["makespans"].tolist())) > 1  # different instances, not copies
    assert small["mean_makespan"] == pytest.approx(float(small["makespans"].mean()))


@pytest.mark.slow
def test_eval_random_json(capsys):
    assert main(["eval", "--random", "jssp:3x2:5", "--method", "rule:MWKR-EF", "--chunk", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["instances"], out["solved"], out["chunk_size"]) == (5, 5, 2)
    assert out["devices"] == 1 and out["processes"] == 1
    assert out["mean_makespan"] > 0 and out["host_peak_rss_bytes"] > 0


@pytest.mark.parametrize("argv, flag", [
    (["--random", "fjsp:10x5"], "--random"),
    (["--random", "tsp:10x5:3"], "--random"),
    (["--random", "fjsp:10x5:0"], "--random"),
    (["--random", "fjsp:10x5:3", "--mesh", "0"], "--mesh"),
    (["--random", "fjsp:10x5:3", "--groups", "10x5"], "--groups"),
    (["--suite", "ft", "--chunk", "4"], "--chunk"),
    (["--random", "fjsp:10x5:3", "--method", "ig"], "ig"),
])
def test_bad_random_options_are_one_line_usage_errors(capsys, argv, flag):
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err
