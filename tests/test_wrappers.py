"""TimeLimit: truncation is LAST with discount 1, distinct from termination."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxshop
from jaxshop.wrappers import TimeLimit


def _episode(env, instance, actions):
    state, ts = env.reset(jax.random.PRNGKey(0), instance)
    out = []
    for a in actions:
        state, ts = env.step(state, jnp.int32(a))
        out.append(ts)
    return state, out


def test_truncation_vs_termination():
    inst = jaxshop.PFSPInstance.from_array(np.array([[2, 3], [4, 1], [3, 3]]))
    env = TimeLimit(jaxshop.make("pfsp"), max_decisions=2)
    state, steps = _episode(env, inst, [0, 1, 2])
    assert bool(steps[0].mid())
    assert bool(steps[1].truncated()) and not bool(steps[1].terminated())
    assert float(steps[1].discount) == 1.0
    # Further steps are no-ops: zero reward, still LAST, the third job never scheduled.
    assert float(steps[2].reward) == 0.0 and bool(steps[2].last())
    assert int(state.inner.num_scheduled) == 2 and bool(env.is_done(state))

    env3 = TimeLimit(jaxshop.make("pfsp"), max_decisions=3)
    _, steps = _episode(env3, inst, [0, 1, 2])
    assert bool(steps[2].terminated()) and not bool(steps[2].truncated())


def test_rejects_bad_limit():
    with pytest.raises(ValueError):
        TimeLimit(jaxshop.make("pfsp"), 0)
