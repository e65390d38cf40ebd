"""A reusable API checker that every jaxshop env runs (`check_env`).

It checks, on a list of exact-size instances of mixed sizes: jit == eager, vmap over the
padded batch == one-by-one, padding never changes a makespan, compile-once across
instances of one padded shape, determinism per key, terminal no-op, documented
invalid-action behaviour, finite rewards summing to -makespan, spec consistency and
that every finished schedule passes `jaxshop.validate`.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

import jaxshop
from jaxshop.rollout import first_valid_policy, last_valid_policy, random_policy, rollout

EAGER_STEPS = 2  # eager (op-by-op) JAX is slow: compare this many decisions with jit


def _tree_equal(a, b) -> bool:
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    return ta == tb and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=True)
    )


def _finite(tree) -> bool:
    return all(
        np.isfinite(np.asarray(x)).all()
        for x in jax.tree_util.tree_leaves(tree)
        if np.asarray(x).dtype.kind == "f"
    )


def check_env(env: jaxshop.Environment, instances: list, seed: int = 0) -> None:
    """Runs every API check on `env` with exact-size `instances` (at least two sizes)."""
    assert len(instances) >= 2, "give instances of at least two sizes"
    batch = jaxshop.stack(instances)
    padded = jaxshop.unstack(batch)
    steps = env.max_steps(padded[0])
    key = jax.random.PRNGKey(seed)

    reset = jax.jit(env.reset)
    run_random = jax.jit(lambda s, k: rollout(env, s, k, random_policy(env), steps))

    # Specs: shapes/dtypes of reset agree with eval_shape; the mask covers the action space.
    state, ts = reset(key, padded[0])
    spec_state, spec_ts = env.specs(padded[0])
    chex.assert_trees_all_equal_shapes_and_dtypes((state, ts), (spec_state, spec_ts))
    mask = ts.observation.action_mask
    assert mask.dtype == jnp.bool_ and mask.shape == (env.num_actions(padded[0]),)
    assert bool(ts.first()) and float(ts.reward) == 0.0 and float(ts.discount) == 1.0
    assert _finite(ts.observation)

    # jit == eager: the first decisions of a random episode, op by op vs compiled.
    step_jit = jax.jit(env.step)
    eager_state, eager_ts = env.reset(key, padded[0])
    final_jit, ret_jit, actions = run_random(state, key)
    s_eager, s_jit = eager_state, state
    for a in np.asarray(actions)[:EAGER_STEPS]:
        s_eager, t = env.step(s_eager, jnp.asarray(a))
        s_jit, _ = step_jit(s_jit, jnp.asarray(a))
        assert _finite(t.reward) and _finite(t.observation)
    assert _tree_equal(s_eager, s_jit), "eager and jitted steps differ"
    assert _tree_equal(eager_ts, ts), "eager and jitted resets differ"

    # vmap over the padded mixed-size batch == one-by-one; schedules validate; return.
    summarize = jax.jit(lambda s: (env.is_done(s), env.schedule(s), env.current_makespan(s)))
    keys = jax.random.split(key, len(instances))
    states, _ = jax.jit(jax.vmap(env.reset))(keys, batch)
    finals, rets, _ = jax.vmap(run_random)(states, keys)
    for i, inst in enumerate(padded):
        single, _ = reset(keys[i], inst)
        f, r, _ = run_random(single, keys[i])
        one = jax.tree_util.tree_map(lambda x, i=i: x[i], finals)
        assert _tree_equal(one, f), f"vmapped episode {i} differs from the single one"
        done, schedule, makespan = summarize(f)
        assert bool(done), "episode not finished after max_steps decisions"
        check = jaxshop.validate(inst, jax.device_get(schedule))
        assert check, check.reason
        assert check.makespan == int(makespan)
        if env.reward_mode == "dense":
            assert float(r) == -check.makespan, (float(r), check.makespan)
        assert float(rets[i]) == float(r)

    # Padding never changes a makespan (first/last valid policies keep their order).
    def both_policies(inst):
        st, _ = env.reset(key, inst)
        n = env.max_steps(inst)
        first, _, _ = rollout(env, st, key, first_valid_policy(env), n)
        last, _, _ = rollout(env, st, key, last_valid_policy(env), n)
        return env.current_makespan(first), env.current_makespan(last)

    exact, padded_one = instances[-1], padded[-1]
    got = [tuple(int(x) for x in jax.jit(both_policies)(x)) for x in (exact, padded_one)]
    assert got[0] == got[1], f"padding changed the makespans: {got}"

    # Compile once: one traced step serves every instance of the padded shape.
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step_once(state, action):
        return env.step(state, action)

    for inst in padded:
        st, t = reset(key, inst)
        for _ in range(3):
            st, t = step_once(st, jnp.argmax(t.observation.action_mask).astype(jnp.int32))

    # Determinism per key, and different keys give different generated instances.
    if env.generator is not None:
        reset_generated = jax.jit(lambda k: env.reset(k)[0])
        a = reset_generated(key)
        b = reset_generated(key)
        c = reset_generated(jax.random.PRNGKey(seed + 1))
        assert _tree_equal(a.instance, b.instance)
        assert not _tree_equal(a.instance, c.instance)
    s1, _, _ = run_random(state, key)
    s2, _, _ = run_random(state, key)
    assert _tree_equal(s1, s2)

    # Invalid action: same as the lowest-index valid action, flagged, state not corrupted.
    st, t = reset(key, padded[0])
    m = np.asarray(t.observation.action_mask)
    invalid = np.flatnonzero(~m)
    if invalid.size:
        bad_state, bad_ts = step_jit(st, jnp.int32(invalid[0]))
        good_state, good_ts = step_jit(st, jnp.int32(np.argmax(m)))
        assert bool(bad_ts.extras["invalid_action"])
        assert not bool(good_ts.extras["invalid_action"])
        assert _tree_equal(bad_state, good_state)
        assert float(bad_ts.reward) == float(good_ts.reward)
    for out_of_range in (-1, env.num_actions(padded[0])):
        ns, nt = step_jit(st, jnp.int32(out_of_range))
        assert bool(nt.extras["invalid_action"]) and _finite(nt.observation)

    # Terminal no-op: stepping a finished state changes nothing and pays nothing.
    done_state = final_jit
    again, t = step_jit(done_state, jnp.int32(0))
    assert _tree_equal(again, done_state)
    assert float(t.reward) == 0.0 and bool(t.last()) and bool(t.terminated())
    assert not bool(t.extras["invalid_action"])
