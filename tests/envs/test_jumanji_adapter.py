"""The Jumanji adapter passes Jumanji's own env smoke tests on every jaxshop env."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jumanji = pytest.importorskip("jumanji")

from jumanji.testing.env_not_smoke import (  # noqa: E402
    check_env_does_not_smoke,
    check_env_specs_does_not_smoke,
)

from jaxshop.adapters import jumanji as adapter  # noqa: E402
from jaxshop.fjsp import FJSPGenerator, FlexibleJobShop, JobShopGenerator  # noqa: E402
from jaxshop.pfsp import PermutationFlowShop, UniformPFSPGenerator  # noqa: E402

ENVS = {
    "pfsp": lambda: PermutationFlowShop(UniformPFSPGenerator(6, 3)),
    "pfsp-padded": lambda: PermutationFlowShop(
        UniformPFSPGenerator(4, 3, max_jobs=6, max_machines=4), reward="normalized"
    ),
    "jssp": lambda: FlexibleJobShop(JobShopGenerator(4, 3)),
    "fjsp": lambda: FlexibleJobShop(FJSPGenerator(4, 3, ops_per_job=(2, 3),
                                                  machines_per_op=(1, 3))),
    "fjsp-insert": lambda: FlexibleJobShop(
        FJSPGenerator(4, 3, ops_per_job=(2, 3), machines_per_op=(1, 3)), mode="insert",
        reward="terminal",
    ),
}


@pytest.fixture(params=sorted(ENVS))
def env(request):
    return adapter.to_jumanji(ENVS[request.param]())


@pytest.mark.slow
def test_env_does_not_smoke(env):
    check_env_does_not_smoke(env)


def test_env_specs_do_not_smoke(env):
    check_env_specs_does_not_smoke(env)


@pytest.mark.slow
def test_masked_random_episode_returns_minus_makespan(env):
    """A jitted episode with mask-respecting actions: valid specs, no invalid action, and
    (dense/terminal rewards) a return of exactly -makespan."""
    assert isinstance(env, jumanji.Environment)
    assert isinstance(env.action_spec, jumanji.specs.DiscreteArray)
    step = jax.jit(env.step)
    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(3))
    assert ts.first() and isinstance(ts, jumanji.types.TimeStep)
    env.observation_spec.validate(ts.observation)
    key, total, n = jax.random.PRNGKey(4), 0.0, 0
    while not ts.last():
        key, sub = jax.random.split(key)
        mask = ts.observation.action_mask
        assert mask.shape == (env.action_spec.num_values,) and mask.any()
        action = jax.random.choice(sub, mask.shape[0], p=mask / mask.sum())
        state, ts = step(state, env.action_spec.validate(action.astype(jnp.int32)))
        env.observation_spec.validate(ts.observation)
        assert not bool(ts.extras["invalid_action"])
        total += float(ts.reward)
        n += 1
    assert float(ts.discount) == 0.0
    assert n == int(state.inner.num_scheduled)  # one decision per job / operation
    assert bool(env.env.is_done(state.inner))
    if env.env.reward_mode in ("dense", "terminal"):
        assert total == -float(env.env.current_makespan(state.inner))


@pytest.mark.slow
def test_vmapped_reset_and_step(env):
    states, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 5))
    actions = jax.vmap(lambda m: jnp.argmax(m).astype(jnp.int32))(ts.observation.action_mask)
    states, ts = jax.vmap(env.step)(states, actions)
    assert ts.reward.shape == (5,) and ts.step_type.dtype == jnp.int8
    assert not np.asarray(ts.extras["invalid_action"]).any()


def test_specs_match_shapes():
    env = adapter.to_jumanji(PermutationFlowShop(UniformPFSPGenerator(7, 4)))
    assert env.action_spec.num_values == 7
    assert env.observation_spec.action_mask.shape == (7,)
    assert env.observation_spec.processing_times.shape == (7, 4)
    assert "JumanjiAdapter" in repr(env)
    assert adapter.JumanjiAdapter is type(env)


def test_needs_a_generator():
    env = PermutationFlowShop()
    env.generator = None
    with pytest.raises(ValueError, match="generator"):
        adapter.to_jumanji(env)


def test_clear_import_error_without_jumanji(monkeypatch):
    monkeypatch.setitem(sys.modules, "jumanji", None)
    adapter._adapter_class.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install"):
            adapter.to_jumanji(PermutationFlowShop())
    finally:
        monkeypatch.undo()
        adapter._adapter_class.cache_clear()
