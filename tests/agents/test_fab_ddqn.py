"""DDQN on the fab: fixed-length episodes reset exactly when they end (cond path)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jaxshop_baselines.ddqn import DDQNConfig, make_ddqn

from jaxshop.fab import FabEnv


@pytest.mark.slow
def test_fixed_length_episodes_reset_when_they_end():
    env = FabEnv(days=2, warmup_days=0)
    assert env.fixed_episode_length == 2
    config = DDQNConfig(env="fab", num_envs=2, num_iterations=6, iterations_per_chunk=3,
                        buffer_size=16, batch_size=4, learning_starts=1, hidden=(8,),
                        target_update_every=2, checkpoint_every=6, eval_size=0)
    agent = make_ddqn(config, env)
    state = jax.jit(agent.init)(jax.random.PRNGKey(0))
    run = jax.jit(agent.run_chunk)
    episodes, steps = [], []
    for _ in range(2):
        state, metrics = run(state)
        episodes.append(float(metrics["episodes"]))
        steps.append(np.asarray(state.env_state.steps).tolist())
    # 3 iterations per chunk, 2-day episodes, 2 envs: episodes end at iterations 2, 4, 6
    assert episodes == [2.0, 4.0]
    assert steps == [[1, 1], [0, 0]]  # mid-episode after 3 iterations; fresh after 6
    assert np.isfinite(float(metrics["loss"]))
    # the buffer holds 12 transitions; the LAST ones have discount 0
    discounts = np.asarray(state.buffer.data["discount"])[:12]
    assert sorted(discounts.tolist()) == [0.0] * 6 + [1.0] * 6
