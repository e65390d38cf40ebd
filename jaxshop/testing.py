"""The API checker every jaxshop env and wrapper passes; run it on your own envs too.

    from jaxshop.testing import check_env
    check_env(my_env, [instance_a, instance_b])   # exact-size instances of >= 2 sizes

`check_env` runs the named checks below in order; each can also be called alone with
`(env, ctx)` where `ctx = CheckContext.build(env, instances)`:

- `check_specs`: reset agrees with `env.specs`; the mask is a flat bool array over the
  action space; every observation of a random episode matches `env.observation_spec`.
- `check_jit_matches_eager`: the first decisions of an episode, op by op vs compiled.
- `check_batch_matches_single`: vmap over the padded mixed-size batch == one by one;
  finished schedules pass `jaxshop.validate`; the dense return is exactly `-makespan`
  (for a `SchedulingEnvironment`; other envs, such as the fab, skip the schedule part
  and the padding check: their "instances" are parameter pytrees of one shape).
- `check_padding_invariance` (scheduling envs): padding never changes a makespan.
- `check_compile_once`: one traced step serves every instance of the padded shape.
- `check_determinism`: same key, same episode; different keys, different instances.
- `check_invalid_action`: an invalid action acts as the lowest valid one and is flagged.
- `check_terminal`: a finished state is a no-op, its mask is all False, and
  `random_valid_action` returns 0 on it.
- `check_auto_reset` (envs wrapped in `AutoReset` only, instead of the padding, terminal
  and completion checks): a LAST step returns a new episode and reports the finished
  episode's metrics (`final_<name>` for each of the env's `episode_metrics`).
- `check_render`: `env.render(state)` gives a matplotlib figure at reset and at the end.

Wrappers are checked like envs; `VmapWrapper` (a batched API) gets `check_vmap_wrapper`
(with exactly `num_envs` instances). Every failed check raises an `AssertionError` whose
message says what failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

import jaxshop
from jaxshop import specs as S
from jaxshop.env import Environment, SchedulingEnvironment
from jaxshop.rollout import (
    Policy,
    first_valid_policy,
    last_valid_policy,
    random_policy,
    random_valid_action,
    rollout,
)
from jaxshop.types import TimeStep

EnvState = Any  # an env's state: opaque to the checks (any pytree the env defines)
EAGER_STEPS = 2  # eager JAX is slow: compare this many decisions with jit


def tree_equal(a: object, b: object) -> bool:
    """Same structure and bit-identical leaves."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    return ta == tb and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=True)
    )


def finite(tree: object) -> bool:
    """Every float leaf of a pytree is finite."""
    return all(
        np.isfinite(np.asarray(x)).all()
        for x in jax.tree_util.tree_leaves(tree)
        if np.asarray(x).dtype.kind == "f"
    )


def wrapper_chain(env: Environment) -> list[Environment]:
    """`[env, env.env, ...]` down to the unwrapped env."""
    chain = [env]
    while hasattr(type(chain[-1]), "inner_state"):
        chain.append(chain[-1].env)
    return chain


def unwrap_state(env: Environment, state: EnvState) -> EnvState:
    """The innermost env's state inside a (possibly wrapped) env's state."""
    for layer in wrapper_chain(env)[:-1]:
        state = layer.inner_state(state)
    return state


def _stack(instances: list) -> object:
    """Scheduling instances are padded and stacked; other params (the fab's) just stacked."""
    if isinstance(instances[0], (jaxshop.PFSPInstance, jaxshop.FJSPInstance)):
        return jaxshop.stack(instances)
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *instances)


def _unstack(batch: object) -> list:
    if isinstance(batch, (jaxshop.PFSPInstance, jaxshop.FJSPInstance)):
        return jaxshop.unstack(batch)
    size = jax.tree_util.tree_leaves(batch)[0].shape[0]
    return [jax.tree_util.tree_map(lambda x, i=i: np.asarray(x)[i], batch) for i in range(size)]


def _schedules(env: Environment) -> bool:
    """The innermost env builds a schedule (a `SchedulingEnvironment`)."""
    return isinstance(env.unwrapped, SchedulingEnvironment)


def _has(env: Environment, cls_name: str) -> bool:
    return any(type(layer).__name__ == cls_name for layer in wrapper_chain(env))


@dataclasses.dataclass
class CheckContext:
    """What the checks share: instances, the padded batch, keys and compiled functions."""

    env: Environment
    instances: list  # the instances as given (two sizes at least)
    batch: object  # the instances stacked on a leading axis (padded for scheduling envs)
    padded: list  # `batch` unstacked: each instance at the padded shape
    steps: int  # `env.max_steps` of the padded shape
    key: jax.Array  # PRNG key of every check
    reset: Callable[[jax.Array, object], tuple[EnvState, TimeStep]]  # jitted `env.reset`
    # jitted `env.step`, traced once per padded shape (`check_compile_once`)
    step: Callable[[EnvState, jax.Array], tuple[EnvState, TimeStep]]
    # a random episode: `(state, key) -> (final, return () float32, actions (steps,) int32,
    # timesteps with a leading (steps,) axis)`
    play: Callable[[EnvState, jax.Array], tuple[EnvState, jax.Array, jax.Array, TimeStep]]
    auto_reset: bool

    @classmethod
    def build(cls, env: Environment, instances: list, seed: int = 0) -> CheckContext:
        assert len(instances) >= 2, (
            f"check_env needs instances of at least two sizes, got {len(instances)} instance(s)")
        batch = _stack(instances)
        padded = _unstack(batch)
        steps = env.max_steps(padded[0])
        policy: Policy = random_policy(env)

        # `rollout`'s keys and policy, keeping every timestep
        def play(state: EnvState, key: jax.Array
                 ) -> tuple[EnvState, jax.Array, jax.Array, TimeStep]:
            def body(carry, step_key):
                state, ret = carry
                action = policy(step_key, state)
                state, ts = env.step(state, action)
                return (state, ret + ts.reward), (action, ts)

            (state, ret), (actions, timesteps) = jax.lax.scan(
                body, (state, jnp.zeros((), jnp.float32)), jax.random.split(key, steps))
            return state, ret, actions, timesteps

        chex.clear_trace_counter()  # `step` counts its traces afresh (chex's global counter)
        return cls(
            env, list(instances), batch, padded, steps, jax.random.PRNGKey(seed),
            jax.jit(env.reset), jax.jit(chex.assert_max_traces(env.step, n=1)),
            jax.jit(play), _has(env, "AutoReset"),
        )

    def run_random(self, state: EnvState, key: jax.Array
                   ) -> tuple[EnvState, jax.Array, jax.Array]:
        """`(final_state, return, actions)` of the random episode (as `rollout`)."""
        return self.play(state, key)[:3]


def check_specs(env: Environment, ctx: CheckContext) -> None:
    inst = ctx.padded[0]
    state, ts = ctx.reset(ctx.key, inst)
    chex.assert_trees_all_equal_shapes_and_dtypes((state, ts), env.specs(inst))
    mask = ts.observation.action_mask
    assert mask.dtype == jnp.bool_ and mask.shape == (env.num_actions(inst),), (
        f"reset: the action mask must be a flat bool array of num_actions = "
        f"{env.num_actions(inst)}, got {mask.dtype} {mask.shape}")
    assert bool(ts.first()) and float(ts.reward) == 0.0 and float(ts.discount) == 1.0, (
        f"reset: the timestep must be FIRST with reward 0 and discount 1, got step type "
        f"{int(ts.step_type)}, reward {float(ts.reward)}, discount {float(ts.discount)}")
    assert finite(ts.observation), "reset: the observation holds NaN or infinite values"
    action_spec = env.action_spec(inst)
    assert action_spec.num_values == env.num_actions(inst), (
        f"action_spec has {action_spec.num_values} values, num_actions is "
        f"{env.num_actions(inst)}")
    obs_spec = env.observation_spec(inst)
    # The declared spec agrees with the traced shapes, also for an abstract instance.
    abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), inst)
    assert env.observation_spec(abstract) == obs_spec, (
        "observation_spec differs for an abstract (shape-only) instance")
    chex.assert_trees_all_equal_shapes_and_dtypes(S.shape_dtypes(obs_spec), ts.observation)

    timesteps = ctx.play(state, ctx.key)[3]  # every step of a random episode
    obs, reward, discount = timesteps.observation, timesteps.reward, timesteps.discount
    step_type = timesteps.step_type
    S.validate(obs_spec, ts.observation)
    S.validate(obs_spec, obs, batch_dims=1)
    assert finite(reward), "a random episode's rewards hold NaN or infinite values"
    assert set(np.unique(np.asarray(discount))) <= {0.0, 1.0}, (
        f"discounts must be 0 or 1, got {sorted(set(np.unique(np.asarray(discount))))}")
    assert set(np.unique(np.asarray(step_type))) <= {1, 2}, (
        f"steps after reset must be MID (1) or LAST (2), got step types "
        f"{sorted(set(np.unique(np.asarray(step_type)).tolist()))}")
    action_spec.validate(jnp.int32(env.num_actions(inst) - 1))


def check_jit_matches_eager(env: Environment, ctx: CheckContext) -> None:
    state, ts = ctx.reset(ctx.key, ctx.padded[0])
    eager_state, eager_ts = env.reset(ctx.key, ctx.padded[0])
    _, _, actions = ctx.run_random(state, ctx.key)
    s_eager, s_jit = eager_state, state
    for a in np.asarray(actions)[:EAGER_STEPS]:
        s_eager, t = env.step(s_eager, jnp.asarray(a))
        s_jit, _ = ctx.step(s_jit, jnp.asarray(a))
        assert finite(t.reward) and finite(t.observation), (
            "an eager step gave a NaN or infinite reward or observation")
    assert tree_equal(s_eager, s_jit), "eager and jitted steps differ"
    assert tree_equal(eager_ts, ts), "eager and jitted resets differ"


def check_batch_matches_single(env: Environment, ctx: CheckContext) -> None:
    inner = env.unwrapped
    summarize = jax.jit(lambda s: (
        env.is_done(s), inner.is_done(unwrap_state(env, s)), env.schedule(s),
        env.current_makespan(s),
    ))
    keys = jax.random.split(ctx.key, len(ctx.instances))
    states, _ = jax.jit(jax.vmap(env.reset))(keys, ctx.batch)
    finals, rets, _, _ = jax.vmap(ctx.play)(states, keys)
    for i, inst in enumerate(ctx.padded):
        single, _ = ctx.reset(keys[i], inst)
        f, r, _ = ctx.run_random(single, keys[i])
        one = jax.tree_util.tree_map(lambda x, i=i: x[i], finals)
        assert tree_equal(one, f), f"vmapped episode {i} differs from the single one"
        assert float(rets[i]) == float(r), (
            f"vmapped episode {i} returned {float(rets[i])}, the single one {float(r)}")
        if ctx.auto_reset:
            continue
        if not _schedules(env):
            assert bool(env.is_done(f)), "episode not finished after max_steps decisions"
            continue
        done, complete, schedule, makespan = summarize(f)
        assert bool(done), "episode not finished after max_steps decisions"
        if not bool(complete):  # truncated by a wrapper
            continue
        check = jaxshop.validate(inst, jax.device_get(schedule))
        assert check, f"instance {i}: the finished schedule is infeasible: {check.reason}"
        assert check.makespan == int(makespan), (
            f"instance {i}: current_makespan {int(makespan)} differs from the schedule's "
            f"makespan {check.makespan}")
        if inner.reward_mode == "dense":
            assert float(r) == -check.makespan, (
                f"instance {i}: the dense return {float(r)} is not -makespan "
                f"{-check.makespan}")


def check_padding_invariance(env: Environment, ctx: CheckContext) -> None:
    key = ctx.key

    def both_policies(inst):
        st, _ = env.reset(key, inst)
        n = env.max_steps(inst)
        first, _, _ = rollout(env, st, key, first_valid_policy(env), n)
        last, _, _ = rollout(env, st, key, last_valid_policy(env), n)
        return env.current_makespan(first), env.current_makespan(last)

    exact, padded_one = ctx.instances[-1], ctx.padded[-1]
    got = [tuple(int(x) for x in jax.jit(both_policies)(x)) for x in (exact, padded_one)]
    assert got[0] == got[1], f"padding changed the makespans: {got}"


def check_compile_once(env: Environment, ctx: CheckContext) -> None:
    # `ctx.step` fails (chex.assert_max_traces) if any instance of the padded shape, or
    # any earlier check, made it trace a second time.
    for inst in ctx.padded:
        st, t = ctx.reset(ctx.key, inst)
        for _ in range(3):
            st, t = ctx.step(st, jnp.argmax(t.observation.action_mask).astype(jnp.int32))


def check_determinism(env: Environment, ctx: CheckContext) -> None:
    key = ctx.key
    if env.generator is not None and not _schedules(env):
        # params are fixed; the key draws the episode (releases, failures): it must matter
        reset_state = jax.jit(lambda k: unwrap_state(env, env.reset(k)[0]))
        assert tree_equal(reset_state(key), reset_state(key)), (
            "two resets with the same key gave different states")
        assert not tree_equal(reset_state(key), reset_state(jax.random.fold_in(key, 1))), (
            "resets with different keys gave the same episode (the key must draw it)")
    elif env.generator is not None:
        reset_generated = jax.jit(lambda k: unwrap_state(env, env.reset(k)[0]).instance)
        a = reset_generated(key)
        b = reset_generated(key)
        c = reset_generated(jax.random.fold_in(key, 1))
        assert tree_equal(a, b), "the generator drew different instances from one key"
        assert not tree_equal(a, c), "the generator drew the same instance from two keys"
    state, _ = ctx.reset(key, ctx.padded[0])
    s1, r1, _ = ctx.run_random(state, key)
    s2, r2, _ = ctx.run_random(state, key)
    assert tree_equal(s1, s2) and float(r1) == float(r2), (
        "the same key and policy gave two different episodes")


def check_invalid_action(env: Environment, ctx: CheckContext) -> None:
    st, t = ctx.reset(ctx.key, ctx.padded[0])
    m = np.asarray(t.observation.action_mask)
    invalid = np.flatnonzero(~m)
    if invalid.size:
        bad_state, bad_ts = ctx.step(st, jnp.int32(invalid[0]))
        good_state, good_ts = ctx.step(st, jnp.int32(np.argmax(m)))
        assert bool(bad_ts.extras["invalid_action"]), (
            f"masked action {int(invalid[0])} was not flagged as invalid_action")
        assert not bool(good_ts.extras["invalid_action"]), (
            f"valid action {int(np.argmax(m))} was flagged as invalid_action")
        assert tree_equal(unwrap_state(env, bad_state), unwrap_state(env, good_state)), (
            f"masked action {int(invalid[0])} did not act as the lowest valid action "
            f"{int(np.argmax(m))}")
        assert float(bad_ts.reward) == float(good_ts.reward), (
            "a masked action's reward differs from that of the lowest valid action")
    for out_of_range in (-1, env.num_actions(ctx.padded[0])):
        _, nt = ctx.step(st, jnp.int32(out_of_range))
        assert bool(nt.extras["invalid_action"]), (
            f"out-of-range action {out_of_range} was not flagged as invalid_action")
        assert finite(nt.observation), (
            f"out-of-range action {out_of_range} gave a NaN or infinite observation")


def check_terminal(env: Environment, ctx: CheckContext) -> None:
    state, _ = ctx.reset(ctx.key, ctx.padded[0])
    done_state, _, _ = ctx.run_random(state, ctx.key)
    assert bool(env.is_done(done_state)), "episode not finished after max_steps decisions"
    mask = env.action_mask(done_state)
    assert not bool(mask.any()), "the mask of a finished state must be all False"
    assert int(random_valid_action(ctx.key, mask)) == 0, (
        "random_valid_action must return 0 on an all-False mask")
    again, t = ctx.step(done_state, jnp.int32(0))
    assert tree_equal(unwrap_state(env, again), unwrap_state(env, done_state)), (
        "a step on a finished state changed it (it must be a no-op)")
    assert float(t.reward) == 0.0 and bool(t.last()), (
        f"a step on a finished state must be LAST with reward 0, got step type "
        f"{int(t.step_type)} and reward {float(t.reward)}")
    S.validate(env.observation_spec(ctx.padded[0]), t.observation)  # a step past the end
    assert not bool(t.observation.action_mask.any()), (
        "the mask after a step on a finished state must be all False")
    assert not bool(t.extras["invalid_action"]), (
        "a step on a finished state must not be flagged invalid_action")
    if bool(env.unwrapped.is_done(unwrap_state(env, done_state))):
        assert bool(t.terminated()), (
            "a step on a terminated state must report termination (discount 0)")


def check_auto_reset(env: Environment, ctx: CheckContext) -> None:
    """Runs one episode and a bit through `AutoReset`: LAST, then a fresh episode; the
    finished episode's metrics in `final_<name>` (each of the env's `episode_metrics`)."""
    inner = env.unwrapped
    inst = ctx.padded[0]
    schedules = _schedules(env)

    def made(state):  # the partial makespan (scheduling envs), else 0
        return inner.current_makespan(unwrap_state(env, state)) if schedules else jnp.int32(0)

    @jax.jit
    def play(key):
        state, ts = env.reset(key, inst)

        def body(s, k):
            s, t = env.step(s, random_valid_action(k, env.action_mask(s)))
            return s, (t, made(s), inner.is_done(unwrap_state(env, s)))

        return made(state), jax.lax.scan(body, state, jax.random.split(key, ctx.steps + 2))

    at_reset, (_, (ts, makespans, inner_done)) = play(ctx.key)
    step_type = np.asarray(ts.step_type)
    last = np.flatnonzero(step_type == 2)
    assert last.size >= 1, "no episode ended within max_steps + 2 decisions"
    i = int(last[0])
    assert not bool(inner_done[i]) and int(makespans[i]) == int(at_reset), (
        f"the state after the LAST step {i} must be a new episode (as after reset), got a "
        f"finished one or current_makespan {int(makespans[i])} (after reset "
        f"{int(at_reset)})")
    assert bool(np.asarray(ts.observation.action_mask[i]).any()), (
        f"the observation after the LAST step {i} (the new episode's first) has no valid "
        "action")
    finals = {key for key in ts.extras if key.startswith("final_")}
    assert finals == {f"final_{name}" for name in env.episode_metrics}, (
        f"AutoReset reported {sorted(finals)} for the env's episode metrics "
        f"{list(env.episode_metrics)}")
    for name in env.episode_metrics:
        final = np.asarray(ts.extras[f"final_{name}"])
        assert np.array_equal(final[i], np.asarray(ts.extras[name][i])), (
            f"final_{name} {final[i]} on the LAST step {i} must be the finished episode's "
            f"{name} {np.asarray(ts.extras[name][i])}")
        others = final[step_type != 2]
        assert (others == 0).all(), (
            f"final_{name} must be 0 on steps that are not LAST, got {others.tolist()}")
    if not schedules:
        return
    final = int(ts.extras["final_makespan"][i])
    assert final > 0, f"final_makespan {final} on the LAST step {i} must be > 0"
    if inner.reward_mode == "dense":
        total = float(np.asarray(ts.reward[: i + 1]).sum())
        assert total == -final, (
            f"the dense return {total} of the finished episode is not -final_makespan "
            f"{-final}")


def check_render(env: Environment, ctx: CheckContext) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    state, _ = ctx.reset(ctx.key, ctx.padded[0])
    fig = env.render(state)
    assert isinstance(fig, Figure), (
        f"render at reset must give a matplotlib Figure, got {type(fig).__name__}")
    plt.close(fig)
    final, _, _ = ctx.run_random(state, ctx.key)
    fig = env.render(final)
    assert isinstance(fig, Figure) and fig.axes, (
        "render at the end must give a matplotlib Figure with axes")
    plt.close(fig)


def check_vmap_wrapper(env: Environment, instances: list, seed: int = 0) -> None:
    """A `VmapWrapper` (num_envs == len(instances)) equals vmapping the wrapped env."""
    assert env.num_envs == len(instances), (
        f"check the VmapWrapper with as many instances as its num_envs = {env.num_envs}, "
        f"got {len(instances)}")
    batch = _stack(instances)
    key = jax.random.PRNGKey(seed)
    states, ts = env.reset(key, batch)  # eager: the batch is checked as reset checks it
    ref_states, ref_ts = jax.jit(jax.vmap(env.env.reset))(
        jax.random.split(key, env.num_envs), batch
    )
    assert tree_equal((states, ts), (ref_states, ref_ts)), (
        "VmapWrapper.reset differs from vmapping the wrapped env's reset over split keys")
    inst = _unstack(batch)[0]
    S.validate(env.observation_spec(inst), ts.observation, batch_dims=1)
    actions = jax.vmap(jnp.argmax)(ts.observation.action_mask).astype(jnp.int32)
    s1, t1 = jax.jit(env.step)(states, actions)
    s2, t2 = jax.jit(jax.vmap(env.env.step))(ref_states, actions)
    assert tree_equal((s1, t1), (s2, t2)), (
        "VmapWrapper.step differs from vmapping the wrapped env's step")
    assert t1.reward.shape == (env.num_envs,), (
        f"VmapWrapper rewards must have shape ({env.num_envs},), got {t1.reward.shape}")
    mask_shape = env.action_mask(s1).shape
    assert mask_shape == (env.num_envs, env.num_actions(inst)), (
        f"VmapWrapper.action_mask must have shape ({env.num_envs}, "
        f"{env.num_actions(inst)}), got {mask_shape}")


def check_env(env: Environment, instances: list, seed: int = 0) -> None:
    """Runs every API check on `env` with exact-size `instances` (at least two sizes)."""
    if _has(env, "VmapWrapper"):
        check_vmap_wrapper(env, instances, seed)
        return
    ctx = CheckContext.build(env, instances, seed)
    checks = [check_specs, check_jit_matches_eager, check_batch_matches_single,
              check_compile_once, check_determinism, check_invalid_action]
    # An auto-reset env starts new episodes of its generator's or suite's padded shape, so
    # it is not stepped on exact-size instances (padding) and never finishes (terminal).
    if ctx.auto_reset:
        checks += [check_auto_reset]
    elif _schedules(env):
        checks += [check_padding_invariance, check_terminal]
    else:
        checks += [check_terminal]
    checks += [check_render]
    for check in checks:
        check(env, ctx)


__all__ = [
    "CheckContext",
    "check_auto_reset",
    "check_batch_matches_single",
    "check_compile_once",
    "check_determinism",
    "check_env",
    "check_invalid_action",
    "check_jit_matches_eager",
    "check_padding_invariance",
    "check_render",
    "check_specs",
    "check_terminal",
    "check_vmap_wrapper",
    "finite",
    "tree_equal",
    "unwrap_state",
    "wrapper_chain",
]
