"""Random valid actions from one uniform per decision, and `rollout(until_done=True)`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxshop
from jaxshop.instances.types import FJSPInstance
from jaxshop.rollout import (
    first_exceeding,
    random_policy,
    random_valid_action,
    random_valid_action_per_action,
    rollout,
)


@pytest.mark.parametrize("size", [1, 2, 7, 50, 301])
@pytest.mark.slow
def test_first_exceeding_matches_a_numpy_prefix_search(size):
    rng = np.random.default_rng(size)
    weights = rng.integers(0, 3, (64, size)).astype(np.int32)
    thresholds = rng.integers(-1, weights.sum(1) + 2).astype(np.int32)
    got = np.asarray(jax.vmap(first_exceeding)(jnp.asarray(weights), jnp.asarray(thresholds)))
    for w, t, g in zip(weights, thresholds, got, strict=True):
        hits = np.flatnonzero(np.cumsum(w) > t)
        assert g == (hits[0] if hits.size else size - 1)


@pytest.mark.parametrize("choose", [random_valid_action, random_valid_action_per_action])
@pytest.mark.parametrize("size", [1, 5, 64, 300])
@pytest.mark.slow
def test_random_valid_action_is_uniform_over_valid_actions(choose, size):
    rng = np.random.default_rng(size)
    mask = rng.random(size) < 0.4
    mask[rng.integers(size)] = True
    valid = np.flatnonzero(mask)
    draws = 40 * valid.size + 2000
    keys = jax.random.split(jax.random.PRNGKey(size), draws)
    acts = np.asarray(jax.jit(jax.vmap(lambda k: choose(k, jnp.asarray(mask))))(keys))
    assert acts.dtype == np.int32 and mask[acts].all()  # never a masked action
    counts = np.bincount(acts, minlength=size)[valid]
    expected = draws / valid.size
    chi2 = ((counts - expected) ** 2 / expected).sum()
    dof = max(valid.size - 1, 1)
    # mean dof, sd sqrt(2 dof): 6 sd is a false alarm about once in 10^8 runs
    assert chi2 < dof + 6 * np.sqrt(2 * dof), (chi2, dof)


def test_random_valid_action_all_false_mask_and_edges():
    keys = jax.random.split(jax.random.PRNGKey(1), 256)
    masks = np.zeros((3, 101), bool)
    masks[1, 100] = True  # only the very last action (past the last full block) is valid
    masks[2, [0, 50]] = True
    pick = jax.jit(jax.vmap(jax.vmap(random_valid_action, (0, None)), (None, 0)))
    got = np.asarray(pick(keys, jnp.asarray(masks)))
    assert (got[0] == 0).all()  # all-False mask: 0, the terminal convention
    assert (got[1] == 100).all() and set(got[2]) == {0, 50}


@pytest.mark.slow
def test_rollout_until_done_equals_the_scan():
    env = jaxshop.make("fjsp")
    # Mixed sizes: the small instance finishes well before the padded episode ends.
    small = FJSPInstance.from_operations([[{0: 3, 1: 5}], [{1: 2}, {0: 4}]], num_machines=2)
    instances = [jaxshop.load("ft06"), small]
    batch = jaxshop.stack(instances)
    steps = env.max_steps(jaxshop.unstack(batch)[0])
    keys = jax.random.split(jax.random.PRNGKey(3), len(instances))

    def run(until_done):
        def one(inst, key):
            state, _ = env.reset(key, inst)
            return rollout(env, state, key, random_policy(env), steps, until_done=until_done)

        return jax.jit(jax.vmap(one))(batch, keys)

    (s_scan, r_scan, a_scan), (s_while, r_while, a_while) = run(False), run(True)
    same = jax.tree_util.tree_map(lambda a, b: bool(jnp.array_equal(a, b)), s_scan, s_while)
    assert jax.tree_util.tree_all(same)
    np.testing.assert_array_equal(r_scan, r_while)
    np.testing.assert_array_equal(a_scan, a_while)
    assert a_while.dtype == jnp.int32 and bool(jax.vmap(env.is_done)(s_while).all())
    assert (np.asarray(a_while)[1, 3:] == 0).all()  # the small one's finished steps: 0
