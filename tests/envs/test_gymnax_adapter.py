"""The gymnax adapter: gymnax's API and spaces, auto-reset equal to gymnax's own step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("gymnax")

from gymnax.environments import environment, spaces  # noqa: E402

import jaxshop  # noqa: E402
from jaxshop.adapters import to_gymnax  # noqa: E402
from jaxshop.adapters.gymnax import GymnaxParams  # noqa: E402
from jaxshop.fjsp import FJSPGenerator, FlexibleJobShop  # noqa: E402
from jaxshop.pfsp import PermutationFlowShop, UniformPFSPGenerator  # noqa: E402

FJSP = to_gymnax(FlexibleJobShop(FJSPGenerator(3, 2, ops_per_job=(1, 2),
                                               machines_per_op=(1, 2), time_range=(1, 9))))
PFSP = PermutationFlowShop(UniformPFSPGenerator(4, 3))


def _play(env, params, steps, key):
    """jit: reset then `steps` masked-random steps through the adapter's own step."""

    def run(key):
        obs, state = env.reset(key, params)

        def body(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            mask = obs.action_mask
            action = jax.random.choice(k_act, mask.shape[0], p=mask / mask.sum())
            obs, state, reward, term, trunc, info = env.step(k_step, state, action, params)
            return (obs, state), (obs, reward, term, trunc, info)

        return jax.lax.scan(body, (obs, state), jax.random.split(key, steps))

    return jax.jit(run)(key)


@pytest.mark.slow
def test_api_and_spaces():
    env = FJSP
    assert isinstance(env, environment.Environment)
    params = env.default_params
    assert params.instances is None and params.max_steps_in_episode == 6
    assert isinstance(env.action_space(params), spaces.Discrete)
    assert env.action_space(params).n == env.num_actions == 6
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    space = env.observation_space(params)
    assert isinstance(space, spaces.Dict) and "action_mask" in space.spaces
    assert bool(space.contains(obs))
    assert "jaxshop-fjsp" == env.name and "GymnaxAdapter" in repr(env)


@pytest.mark.slow
def test_episode_returns_minus_makespan_and_auto_resets():
    (_, state), (obs, reward, term, trunc, info) = _play(FJSP, FJSP.default_params, 14,
                                                         jax.random.PRNGKey(1))
    term, reward = np.asarray(term), np.asarray(reward)
    assert not np.asarray(trunc).any() and not np.asarray(info["invalid_action"]).any()
    ends = np.flatnonzero(term)
    assert ends.size >= 2
    first = ends[0]
    assert reward[: first + 1].sum() == -int(info["makespan"][first])
    # The step that ends an episode returns the new episode's first observation.
    assert not np.asarray(obs.op_machine[first] >= 0).any()
    assert np.asarray(obs.action_mask[first]).any()


@pytest.mark.slow
def test_matches_gymnax_reference_step():
    """The one-observe step equals gymnax's generic step (which observes twice)."""
    env = FJSP
    params = env.default_params
    obs, state = env.reset(jax.random.PRNGKey(2), params)
    reference = jax.jit(environment.Environment.step.__wrapped__, static_argnums=0)
    mine = jax.jit(env.step)
    for i in range(8):
        key = jax.random.PRNGKey(10 + i)
        action = jnp.argmax(obs.action_mask).astype(jnp.int32)
        got = mine(key, state, action, params)
        want = reference(env, key, state, action, params)
        for a, b in zip(jax.tree_util.tree_leaves(got[:5]), jax.tree_util.tree_leaves(want[:5]),
                        strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        obs, state = got[0], got[1]


@pytest.mark.slow
def test_suite_params_truncation_and_vmap():
    rng = np.random.default_rng(0)
    suite = jaxshop.stack([jaxshop.PFSPInstance.from_array(rng.integers(1, 9, (n, 3)))
                           for n in (4, 2)])
    env = to_gymnax(PFSP, suite, max_steps_in_episode=3)
    params = env.default_params
    assert isinstance(params, GymnaxParams) and params.max_steps_in_episode == 3
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    assert obs.action_mask.shape == (4, 4)
    _, (_, _, term, trunc, _) = _play(env, params, 6, jax.random.PRNGKey(4))
    # A 4-job instance is truncated after 3 decisions; a 2-job one terminates after 2.
    assert np.asarray(trunc).any() or np.asarray(term).any()
    assert not (np.asarray(trunc) & np.asarray(term)).any()
    with pytest.raises(ValueError, match="generator"):
        env = PermutationFlowShop()
        env.generator = None
        to_gymnax(env)
