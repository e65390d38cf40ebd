"""Teacher -> student distillation (and the same student from scratch), all inside `jax.jit`.

One update samples `batch_size` random FJSP instances and runs one episode per instance in
which teacher and student read every state (`policies` protocol). Each episode is driven
either by the teacher (greedy) or by the student (sampling its own policy; DAgger-style
states the student visits, labelled by the teacher): the share the teacher drives is
`teacher_fraction` (regimes `teacher` = 1, `student` = 0, `mix` = 0.5).

- `objective="distill"`: the loss of each decision is `distill_loss` (CE to the teacher's
  argmax + alpha * tau^2 * KL), `vmap`ped over decisions and over the batch, averaged
  over the live decisions.
- `objective="reinforce"`: the student alone, REINFORCE on `makespan / lower bound` with
  the batch mean as baseline: the from-scratch reference at the same budget (updates x
  batch).
- `objective="kickstart"`: the student's REINFORCE loss on the episodes it drives plus
  `distill_weight(update)` times the distillation loss, the weight falling linearly from 1
  to 0 over `anneal_updates` (kickstarting: the teacher shapes the start, RL the finish).

`make_train(config, teacher)` returns `train(key, alpha, tau, teacher_fraction)`, a whole
run as one pure function (`jax.jit(jax.vmap(train, ...))` over seeds or ablation
settings). `SPEC` hands the pieces to the one training runner (`jaxshop_baselines.runner`:
chunks, progress, checkpoints, exact resume) behind `jaxshop distill`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxshop_baselines import parallel
from jaxshop_baselines import runner as host
from jaxshop_baselines.distill.config import DistillConfig
from jaxshop_baselines.distill.dataset import SolverTeacher
from jaxshop_baselines.distill.loss import distill_loss, masked_log_softmax
from jaxshop_baselines.distill.policies import (
    MLPConfig,
    MLPPolicy,
    PointerPolicy,
    QRulePolicy,
    mlp_init,
    policy_num_params,
)
from jaxshop_baselines.pointer.config import PointerConfig, fast_compile, pointer_jit
from jaxshop_baselines.pointer.model import init_params as pointer_init
from jaxshop_baselines.pointer.model import sample_choice
from jaxshop_baselines.pointer.train import RunnerState, make_sampler
from jaxshop_baselines.runner import TrainPlan, TrainSpec

import jaxshop

METRIC_NAMES = ("loss", "ce", "kl", "agreement", "norm_makespan", "grad_norm")
VALIDATION_KEY = 987_654_321  # the pointer trainer's validation seed (same instances)


class Teacher(NamedTuple):
    """A loaded teacher: its policy, parameters (a solver's: its solved set) and identity,
    and what `meta.json` records of it beyond those."""

    policy: Any
    params: Any
    source: str
    info: dict | None = None


def load_teacher(spec: str, mode: str = "append") -> Teacher:
    """`pointer` (the shipped AC-SD model), `pointer:DIR`, `ddqn` (the shipped FJSP
    Q-network) or `ddqn:DIR`."""
    kind, _, path = spec.partition(":")
    if kind == "pointer":
        from jaxshop_baselines.pointer.inference import PointerAgent

        agent = PointerAgent.load(path or None)
        config = dataclasses.replace(agent.config, mode=mode)
        return Teacher(PointerPolicy(config), agent.params, agent.source)
    if kind == "ddqn":
        from jaxshop_baselines.ddqn import DEFAULT_MODEL, load_ddqn

        source = path or str(DEFAULT_MODEL)
        config, params = load_ddqn(source)
        if config.env != "fjsp":
            raise ValueError(f"teacher {spec}: a DDQN teacher must be an FJSP model, not "
                             f"{config.env}")
        return Teacher(QRulePolicy(tuple(config.rules), mode), params, source)
    if kind == "cpsat":
        raise ValueError(f"teacher {spec}: a solver teaches through its solved set "
                         "(`solver_teacher(config)`), not as a loaded policy")
    raise ValueError(f"unknown teacher {spec!r}; use pointer[:DIR], ddqn[:DIR] or "
                     "cpsat:SECONDS")


def solver_teacher(config: DistillConfig, progress: bool = True) -> Teacher:
    """The `cpsat:SECONDS` teacher: its solved set, built (or finished) first; its source
    is the set's file."""
    from jaxshop_baselines.distill import dataset
    from jaxshop_baselines.loop import note

    def report(done: int, total: int) -> None:
        if progress:
            note(f"cpsat teacher: {done}/{total} instances solved")

    data = dataset.build_dataset(config, workers=config.solver_workers or None,
                                 progress=report)
    return Teacher(dataset.SolverTeacher(), dataset.solved_set(data), data["path"],
                   dataset.summary(data))


def instance_config(config: DistillConfig) -> PointerConfig:
    """The instance distribution as a `PointerConfig` (one sampler for both agents)."""
    return PointerConfig(num_jobs=config.num_jobs, num_machines=config.num_machines,
                         time_range=config.time_range, mixture=config.mixture,
                         mode=config.mode)


def student_model_config(config: DistillConfig) -> PointerConfig | MLPConfig:
    """The student's own model config (what its saved model folder holds)."""
    if config.student == "mlp":
        return MLPConfig(hidden=(config.student_dim, config.student_dim), mode=config.mode)
    return dataclasses.replace(instance_config(config), embed_dim=config.student_dim,
                               batch_size=config.batch_size, num_updates=config.num_updates)


def student_policy(config: DistillConfig):
    model = student_model_config(config)
    return MLPPolicy(model) if isinstance(model, MLPConfig) else PointerPolicy(model)


def student_init(config: DistillConfig, key: jax.Array) -> dict:
    """Fresh student parameters (a small pointer keeps the pointer model layout, critic
    included, so its folder loads as `pointer:DIR`; the critic is not trained)."""
    model = student_model_config(config)
    return mlp_init(model, key) if isinstance(model, MLPConfig) else pointer_init(model, key)


def make_optimizer(config: DistillConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adam(config.learning_rate))


def init_runner(config: DistillConfig, key: jax.Array) -> RunnerState:
    k_params, k_run = jax.random.split(key)
    params = student_init(config, k_params)
    return RunnerState(params, make_optimizer(config).init(params), k_run,
                       jnp.zeros((), jnp.int32))


class Decisions(NamedTuple):
    """One episode's decisions, stacked over steps `(T, ...)`."""

    student_logits: jax.Array  # (T, A) float32
    teacher_logits: jax.Array  # (T, A) float32 (zeros when there is no teacher)
    mask: jax.Array  # (T, A) bool
    target: jax.Array  # (T,) int32: the teacher's argmax, or its search's action when it
    #                    drives with `teacher_samples` (the student's action without a teacher)
    action: jax.Array  # (T,) int32: the action applied
    alive: jax.Array  # (T,) bool: the schedule was incomplete before the step


def episode(env, student, s_params, teacher, t_params, state, obs, key, tau,
            teacher_drives, num_steps: int, forced: jax.Array | None = None
            ) -> tuple[Any, Decisions]:
    """One episode of one instance from `(state, obs)`: final state and decisions.

    The teacher (when given) labels every state with its argmax; the applied action is
    that label when `teacher_drives`, else a sample of the student's own policy. With
    `forced` (`(num_steps,)` int32, a rollout of the teacher's search), a teacher-driven
    episode applies those actions instead and they are its labels. A `SolverTeacher`
    always comes with `forced` (its replayed schedule) and drives.
    """

    def body(carry, inputs):
        state, obs, s_carry, t_carry = carry
        key_t, forced_t = inputs
        mask = obs.action_mask
        s_logits, s_mid = student.logits(s_params, s_carry, state, obs)
        sampled = sample_choice(key_t, lax.stop_gradient(s_logits), mask, 1.0)
        if teacher is None:
            t_logits, t_mid, target = jnp.zeros_like(s_logits), (), sampled
        elif isinstance(teacher, SolverTeacher):  # a point mass on the solver's action
            target, t_mid = forced_t, ()
            t_logits = teacher.point_mass(forced_t, s_logits.shape[-1])
        else:
            t_logits, t_mid = teacher.logits(t_params, t_carry, state, obs, tau)
            t_logits = lax.stop_gradient(t_logits)
            target = jnp.argmax(t_logits).astype(jnp.int32)  # masked logits: a valid pair
            if forced is not None:
                target = jnp.where(teacher_drives, forced_t, target)
        action = jnp.where(teacher_drives, target, sampled)
        alive = ~env.is_done(state)
        state, ts = env.step(state, action)
        t_next = () if teacher is None else teacher.advance(t_mid, action)
        out = Decisions(s_logits, t_logits, mask, target, action, alive)
        return (state, ts.observation, student.advance(s_mid, action), t_next), out

    t_carry = () if teacher is None else teacher.init_carry()
    init = (state, obs, student.init_carry(), t_carry)
    keys = jax.random.split(key, num_steps)
    xs = (keys, forced if forced is not None else jnp.zeros((num_steps,), jnp.int32))
    (state, *_), decisions = lax.scan(body, init, xs)
    return state, decisions


def teacher_search(env, teacher, t_params, state, obs, key, samples: int, num_steps: int
                   ) -> jax.Array:
    """Actions `(num_steps,)` int32 of the best (lowest makespan; ties: the greedy one) of
    the teacher's greedy rollout and `samples` rollouts sampled from its policy (tau 1).
    No gradient: the search only picks the labels."""

    def rollout(key, greedy):
        def body(carry, key_t):
            state, obs, t_carry = carry
            logits, mid = teacher.logits(t_params, t_carry, state, obs, 1.0)
            sampled = sample_choice(key_t, logits, obs.action_mask, 1.0)
            action = jnp.where(greedy, jnp.argmax(logits).astype(jnp.int32), sampled)
            state, ts = env.step(state, action)
            return (state, ts.observation, teacher.advance(mid, action)), action

        init = (state, obs, teacher.init_carry())
        (final, *_), actions = lax.scan(body, init, jax.random.split(key, num_steps))
        return final.makespan, actions

    greedy = jnp.arange(samples + 1) == 0
    makespans, actions = jax.vmap(rollout)(jax.random.split(key, samples + 1), greedy)
    return lax.stop_gradient(actions[jnp.argmin(makespans)])


def distill_weight(config: DistillConfig, update: jax.Array) -> jax.Array:
    """Weight of the distillation loss at `update` (0-based): 1 for `distill`, 0 for
    `reinforce`, `max(0, 1 - update / anneal_updates)` for `kickstart`."""
    if config.objective != "kickstart":
        return jnp.float32(config.objective == "distill")
    return jnp.maximum(0.0, 1.0 - update.astype(jnp.float32) / config.anneal_updates)


def reinforce_loss(log_p: jax.Array, live: jax.Array, cost: jax.Array, own: jax.Array
                   ) -> jax.Array:
    """REINFORCE on `cost` over the episodes the student drove (`own`, `(B,)` bool), the
    mean cost of those episodes as baseline. `log_p`, `live`: `(B, T)`; `cost`: `(B,)`."""
    own = own.astype(jnp.float32)
    n_own = jnp.maximum(own.sum(), 1.0)
    advantage = lax.stop_gradient((cost - (cost * own).sum() / n_own) * own)
    return (advantage * (log_p * live).sum(-1)).sum() / n_own


def make_loss(config: DistillConfig, teacher_policy: Any) -> Callable:
    """`loss(student_params, teacher_params, instances, key, hyper, weight, forced=None)
    -> (loss, metrics)`; `weight` scales the distillation term (`distill_weight`);
    `forced` `(B, T)`: a solver teacher's actions (its episodes all teacher-driven)."""
    env = jaxshop.cached_make("fjsp", mode=config.mode)
    student = student_policy(config)
    teacher = teacher_policy if config.objective != "reinforce" else None
    per_decision = jax.vmap(jax.vmap(distill_loss, (0, 0, 0, 0, None, None)),
                            (0, 0, 0, 0, None, None))

    def loss_fn(s_params, t_params, instances, key, hyper, weight, forced=None):
        alpha, tau, fraction = hyper
        batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
        steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances))
        k_reset, k_drive, k_run = jax.random.split(key, 3)
        states, ts = jax.vmap(env.reset)(jax.random.split(k_reset, batch), instances)
        drives = jax.random.uniform(k_drive, (batch,)) < fraction
        if teacher is not None and config.teacher_samples:
            forced = jax.vmap(
                lambda s, o, k: teacher_search(env, teacher, t_params, s, o, k,
                                               config.teacher_samples, steps)
            )(states, ts.observation, jax.random.split(jax.random.fold_in(k_run, 1), batch))
        finals, d = jax.vmap(
            lambda s, o, k, dr, f: episode(env, student, s_params, teacher, t_params, s, o, k,
                                           tau, dr, steps, f),
            (0, 0, 0, 0, None if forced is None else 0),
        )(states, ts.observation, jax.random.split(k_run, batch), drives, forced)
        live = d.alive.astype(jnp.float32)  # (B, T)
        n_live = jnp.maximum(live.sum(), 1.0)
        cost = finals.makespan.astype(jnp.float32) / finals.normalizer
        agree = jnp.argmax(d.student_logits, -1) == d.target
        loss = ce = kl = jnp.zeros(())
        if config.objective != "distill":
            log_p = jnp.take_along_axis(
                jax.vmap(jax.vmap(masked_log_softmax))(d.student_logits, d.mask),
                d.action[..., None], -1)[..., 0]
            own = ~drives if teacher is not None else jnp.ones_like(drives)
            loss = reinforce_loss(log_p, live, cost, own)
        if teacher is not None:
            losses, (ces, kls) = per_decision(d.student_logits, d.teacher_logits, d.mask,
                                              d.target, alpha, tau)
            loss = loss + weight * (losses * live).sum() / n_live
            ce, kl = (ces * live).sum() / n_live, (kls * live).sum() / n_live
        metrics = {"loss": loss, "ce": ce, "kl": kl,
                   "agreement": (agree * live).sum() / n_live, "norm_makespan": cost.mean()}
        return loss, metrics

    return loss_fn


def make_update(config: DistillConfig, teacher_policy: Any) -> Callable:
    """`update(runner, teacher_params, hyper) -> (runner, metrics)` (pure)."""
    sampler = make_sampler(instance_config(config))
    loss_fn = make_loss(config, teacher_policy)
    opt = make_optimizer(config)

    def update(runner: RunnerState, t_params, hyper) -> tuple[RunnerState, dict]:
        key, k_inst, k_loss = jax.random.split(runner.key, 3)
        # Sharded over the data axis of the mesh in context (none: one device); keys are
        # per instance, so any number of devices gives the one-device run.
        if config.solver_teacher:  # instances of the solved set, with their actions
            instances, forced = parallel.shard_batch(t_params.sample(k_inst, config.batch_size))
        else:
            instances, forced = parallel.shard_batch(sampler(k_inst, config.batch_size)), None
        grads, metrics = jax.grad(loss_fn, has_aux=True)(
            runner.params, t_params, instances, k_loss, hyper,
            distill_weight(config, runner.update), forced)
        updates, opt_state = opt.update(grads, runner.opt_state, runner.params)
        params = optax.apply_updates(runner.params, updates)
        metrics["grad_norm"] = optax.global_norm(grads)
        return parallel.replicate(RunnerState(params, opt_state, key, runner.update + 1)), metrics

    return update


def make_train(config: DistillConfig, teacher: Teacher | None = None) -> Callable:
    """`train(key, alpha, tau, teacher_fraction) -> (runner, metrics)`: a whole run of
    `config.num_updates` updates (pure: `jax.jit` it, `jax.vmap` it over seeds and
    settings). Metrics are `(num_updates,)` arrays."""
    teacher = teacher if teacher is not None else _teacher_for(config)
    update = make_update(config, teacher.policy if teacher else None)
    t_params = teacher.params if teacher else None

    def train(key, alpha, tau, teacher_fraction):
        hyper = (jnp.float32(alpha), jnp.float32(tau), jnp.float32(teacher_fraction))
        runner = init_runner(config, key)
        return lax.scan(lambda r, _: update(r, t_params, hyper), runner, None,
                        length=config.num_updates)

    return train


def _teacher_for(config: DistillConfig) -> Teacher | None:
    if config.objective == "reinforce":
        return None
    if config.solver_teacher:
        return solver_teacher(config)
    return load_teacher(config.teacher, config.mode)


def make_train_chunk(config: DistillConfig, teacher_policy: Any) -> Callable:
    """Jitted `chunk(runner, teacher_params, hyper) -> (runner, metrics)` of
    `updates_per_chunk` updates; the key lives in `runner`, so chunks back to back equal
    one longer scan. Cached per (config up to its length and hyper-parameters, teacher)."""
    key = dataclasses.replace(config, num_updates=config.updates_per_chunk,
                              checkpoint_every=config.updates_per_chunk, alpha=0.0, tau=1.0,
                              regime="mix")
    return _cached_chunk(key, teacher_policy, fast_compile())


@functools.lru_cache(maxsize=8)
def _cached_chunk(config: DistillConfig, teacher_policy: Any, fast: bool) -> Callable:
    update = make_update(config, teacher_policy)

    def chunk(runner, t_params, hyper):
        return lax.scan(lambda r, _: update(r, t_params, hyper), runner, None,
                        length=config.updates_per_chunk)

    return pointer_jit(chunk, fast)


def greedy_episode(env, policy: Any, params: Any, state: Any, obs: Any, num_steps: int) -> Any:
    """The final state of greedy decoding of `policy` on one instance from `(state, obs)`."""

    def body(carry, _):
        state, obs, p_carry = carry
        logits, mid = policy.logits(params, p_carry, state, obs)
        action = jnp.argmax(logits).astype(jnp.int32)
        state, ts = env.step(state, action)
        return (state, ts.observation, policy.advance(mid, action)), None

    (state, *_), _ = lax.scan(body, (state, obs, policy.init_carry()), None, length=num_steps)
    return state


def greedy_batch(policy: Any, params: Any, instances: Any, mode: str) -> Any:
    """Final env states of greedy decoding of `policy` on a stacked batch of instances."""
    env = jaxshop.cached_make("fjsp", mode=mode)
    batch = jax.tree_util.tree_leaves(instances)[0].shape[0]
    steps = env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances))
    states, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), batch), instances)
    return jax.vmap(lambda s, o: greedy_episode(env, policy, params, s, o, steps))(
        states, ts.observation)


def make_validation(config: DistillConfig) -> Callable:
    """Jitted `evaluate(params) -> mean greedy normalized makespan` of the student on the
    fixed validation instances of the pointer trainer (`VALIDATION_KEY`)."""
    return _cached_validation(config.student, config.student_dim, config.mode,
                              instance_config(config), config.eval_size, fast_compile())


@functools.lru_cache(maxsize=8)
def _cached_validation(student: str, dim: int, mode: str, inst: PointerConfig, size: int,
                       fast: bool) -> Callable:
    config = DistillConfig(student=student, student_dim=dim, mode=mode)
    policy = student_policy(config)
    instances = make_sampler(inst)(jax.random.PRNGKey(VALIDATION_KEY), size)

    def evaluate(params):
        finals = greedy_batch(policy, params, instances, mode)
        return jnp.mean(finals.makespan / finals.normalizer)

    return pointer_jit(evaluate, fast)


__all__ = [
    "METRIC_NAMES",
    "Teacher",
    "distill_weight",
    "episode",
    "greedy_batch",
    "greedy_episode",
    "init_runner",
    "load_teacher",
    "make_loss",
    "make_train",
    "make_train_chunk",
    "make_update",
    "make_validation",
    "policy_num_params",
    "reinforce_loss",
    "solver_teacher",
    "student_init",
    "student_model_config",
    "student_policy",
]


# ---------------------------------------------------------------------------------------
# The runner's view: `jaxshop distill`
# ---------------------------------------------------------------------------------------

RUN_CONFIG = "distill.json"  # the run's DistillConfig; config.json is the student model's


def save_student(out: Path, config: DistillConfig, params: Any, meta: dict) -> None:
    """Writes the student as a model folder `pointer:DIR` (small pointer) or `mlp:DIR`
    loads: `config.json` (the student's model config), `params.msgpack`, `meta.json`."""
    from jaxshop_baselines.checkpoints import save_model

    save_model(out, student_model_config(config), params, meta)


def _plan(config: DistillConfig) -> TrainPlan:
    """The chunk with the teacher's parameters (replicated) and the traced settings."""
    teacher = _teacher_for(config)
    t_params = parallel.replicate(teacher.params) if teacher else None
    label = {"reinforce": "from scratch (REINFORCE)",
             "kickstart": f"kickstarted from {config.teacher}"}.get(
        config.objective, f"distilled from {config.teacher}")

    def meta(record: Any, runner: Any, mesh: Any) -> dict:
        rec = dataclasses.asdict(record)
        return {
            **{k: v for k, v in rec.items() if not k.startswith("counted")},
            "schedules": rec["counted"], "schedules_per_second": rec["counted_per_second"],
            "student": config.student, "objective": config.objective,
            "teacher": teacher.source if teacher else None,
            "teacher_digest": _digest(teacher.params) if teacher else None,
            "teacher_num_params": (policy_num_params(teacher.params)
                                   if teacher and not config.solver_teacher else None),
            **((teacher.info or {}) if teacher else {}),
            "num_params": policy_num_params(runner.params),
            "final_val_greedy_norm_makespan": rec["final_validation"],
            "jax": jax.__version__, "device": jax.devices()[0].device_kind,
            **parallel.run_info(mesh),
        }

    return TrainPlan(
        chunk=make_train_chunk(config, teacher.policy if teacher else None),
        chunk_args=(t_params, tuple(jnp.float32(x) for x in config.hyper)),
        metric_names=METRIC_NAMES, name=f"{config.student} {label}",
        evaluate=make_validation(config) if config.eval_size > 0 else None,
        counter=("schedules", config.batch_size), meta_fn=meta,
        time_budget=_training_budget(config, teacher),
        summary=lambda m: (f"loss {float(m['loss'].mean()):.4f} · agree "
                           f"{float(m['agreement'].mean()):.3f} · C/LB "
                           f"{float(m['norm_makespan'].mean()):.3f}"),
    )


def _training_budget(config: DistillConfig, teacher: Teacher | None) -> float | None:
    """`--time-budget` less what the teacher's solved set cost (None: no budget)."""
    if not config.time_budget:
        return None
    solve = (teacher.info or {}).get("dataset_solve_seconds", 0.0) if teacher else 0.0
    return max(0.0, float(config.time_budget) - solve)


def _digest(params: Any) -> str:
    from jaxshop_baselines.checkpoints import params_digest

    return params_digest(params)


def _check_teacher(config: DistillConfig) -> None:
    """A bad teacher (or solved set) fails before any compile or solve."""
    if config.solver_teacher:
        from jaxshop_baselines.cpsat import _cp_model
        from jaxshop_baselines.distill import dataset

        _cp_model()  # ortools is there
        path = dataset.dataset_path(config)
        if path.is_file():
            dataset.read_dataset(path, dataset.dataset_meta(config))
    elif config.objective != "reinforce":
        load_teacher(config.teacher, config.mode)


def _announce(out: Path) -> None:
    print(f"student written to {out}")


SPEC = TrainSpec(
    name="distill", config_cls=DistillConfig, prog="jaxshop distill",
    description="Distill a teacher policy (the pointer net or the DDQN Q-network), or "
    "CP-SAT's schedules of a solved set (--teacher cpsat:SECONDS), into a small student on "
    "random FJSP instances: CE to the teacher's choice + alpha * tau^2 * KL of the tempered "
    "distributions; --objective reinforce trains the same student from scratch instead.",
    init=init_runner, plan=_plan, place=parallel.replicate,
    batch=lambda c: (c.batch_size, f"--batch {c.batch_size}"),
    default_out=lambda c, seed: f"runs/distill-{c.student}-seed{seed}",
    out_help="runs/distill-<student>-seed<seed>", step_of=lambda r: int(r.update),
    meta_names=("updates", "schedules", "final_val_greedy_norm_makespan"),
    plot=(), xlabel="update", title=lambda c, seed: "", wrap_errors="", layout="fields",
    config_file=RUN_CONFIG, save_model=save_student, before_run=_check_teacher,
    announce=_announce,
)

#: `run_distill(config, out, seed=0, resume=False, progress=True, command=None,
#: plot=True, mesh=None) -> RunnerState` (`runner.train`; exact resume)
run_distill = functools.partial(host.train, SPEC)
build_parser = functools.partial(host.build_parser, SPEC)
config_from_args = functools.partial(host.config_from_args, SPEC)
