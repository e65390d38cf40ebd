"""Dispatching rules: choices against a NumPy reference, feasibility, determinism, method."""

from __future__ import annotations

import functools
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SHARED_BENCHMARKS
from jax import lax
from jaxshop_baselines import rules
from jaxshop_baselines.methods import get_method

import jaxshop
from jaxshop.instances.bounds import best_known
from jaxshop.instances.types import FJSPInstance, PFSPInstance
from jaxshop.rollout import random_valid_action, rollout
from jaxshop.schedule import Schedule

MODES = ("append", "insert")
SHAPE = (5, 3, 4)  # padded (jobs, ops per job, machines) shared by every small test
NUM_STATES = 48
PUBLIC_CHECK = ("SPT-EF", "MWKR-SPTW", "FOPNR-SPT", "mopnr")  # through `rule_action` by name
_PARTS = [rules.parse_rule(r) for r in rules.RULES]
RULE_INDICES = (  # registry positions (job rule, machine rule) of every rule in RULES
    np.array([list(rules.JOB_RULES).index(job) for job, _ in _PARTS], np.int32),
    np.array([list(rules.MACHINE_RULES).index(mach) for _, mach in _PARTS], np.int32),
)


def _hand_made() -> FJSPInstance:
    # job 0: one op {m0: 4, m1: 2}                 -> min time 2, work 3,  1 op left
    # job 1: {m0: 5} then {m0: 8, m1: 6}           -> min time 5, work 12, 2 ops left
    # job 2: {m1: 3} then {m0: 3}                  -> min time 3, work 6,  2 ops left
    return FJSPInstance.from_operations(
        [[{0: 4, 1: 2}], [{0: 5}, {0: 8, 1: 6}], [{1: 3}, {0: 3}]], num_machines=2
    )


def _np_instance(rng: np.random.Generator, job_shop: bool = False) -> FJSPInstance:
    """A random exact-size FJSP instance (1-5 jobs, 1-3 ops, 1-4 machines, times 0-4)."""
    num_machines = int(rng.integers(1, SHAPE[2] + 1))
    low = int(rng.integers(0, 2))  # zero times in about half of the instances
    jobs = []
    for _ in range(int(rng.integers(1, SHAPE[0] + 1))):
        ops = []
        for _ in range(int(rng.integers(1, SHAPE[1] + 1))):
            count = 1 if job_shop else int(rng.integers(1, num_machines + 1))
            machines = rng.choice(num_machines, count, replace=False)
            ops.append({int(m): int(rng.integers(low, 5)) for m in machines})
        jobs.append(ops)
    return FJSPInstance.from_operations(jobs, num_machines)


@functools.cache
def _instances() -> tuple[list[FJSPInstance], FJSPInstance]:
    """The small test instances (the hand-made one last), and them stacked to `SHAPE`."""
    rng = np.random.default_rng(0)
    insts = [_np_instance(rng, job_shop=i < 3) for i in range(NUM_STATES - 1)] + [_hand_made()]
    return insts, jaxshop.stack(insts, max_jobs=SHAPE[0], max_ops=SHAPE[1], max_machines=SHAPE[2])


@functools.cache
def _env(mode: str):
    return jaxshop.make("fjsp", mode=mode)


@functools.cache
def _probe(mode: str):
    """Random partial schedules of the small instances and what the rules do in them.

    One jitted call: a random number of random steps per instance (none for the hand-made
    one), then every rule's action, `job_start_times` of every job and `pair_start_times`.
    """
    env = _env(mode)
    J, O, _ = SHAPE  # noqa: E741
    _, batch = _instances()
    rng = np.random.default_rng(1)
    lengths = np.array([rng.integers(0, n + 1) for n in batch.num_ops.sum(-1)])
    lengths[-1] = 0

    def one(inst, length, key):
        state, _ = env.reset(key, inst)

        def body(s, inp):
            i, k = inp
            nxt, _ = env.step(s, random_valid_action(k, env.action_mask(s)))
            return jax.tree.map(lambda a, b: jnp.where(i < length, a, b), nxt, s), None

        steps = (jnp.arange(J * O), jax.random.split(key, J * O))
        state, _ = lax.scan(body, state, steps)
        # Every rule at once: `rule_action(rule, s)` is `_indexed_action` at the rule's
        # registry indices; vmapping over the indices compiles one action, not 18.
        actions = jnp.stack(
            [
                jax.vmap(lambda j, m, nd=nd: rules._indexed_action(env, state, j, m, nd))(
                    *RULE_INDICES
                )
                for nd in (False, True)
            ]
        )  # (2, rules): candidates "all", then "ready"
        public = jnp.stack([rules.rule_action(r, state) for r in PUBLIC_CHECK])
        rows = jax.vmap(lambda j: rules.job_start_times(env, state, j))(jnp.arange(J))
        return state, actions, rows, env.pair_start_times(state), public

    keys = jax.random.split(jax.random.PRNGKey(2), NUM_STATES)
    return jax.device_get(jax.jit(jax.vmap(one))(batch, lengths, keys))


def _index(tree, i):
    return jax.tree.map(lambda x: np.asarray(x)[i], tree)


# ---------------------------------------------------------------------------------------
# Plain NumPy reference (exact arithmetic with Fractions)
# ---------------------------------------------------------------------------------------


def _np_job_scores(name: str, s) -> list:
    inst = s.instance
    p, e, num_ops = (np.asarray(a) for a in (inst.processing_times, inst.eligible, inst.num_ops))
    J, O, _ = p.shape  # noqa: E741
    out = []
    for j in range(J):
        nxt = int(s.next_op[j])
        todo = range(nxt, int(num_ops[j]))
        means = [Fraction(int(p[j, k][e[j, k]].sum()), int(e[j, k].sum())) for k in todo]
        work = sum(means, Fraction(0))
        left = len(todo)
        times = [int(t) for t, ok in zip(s.next_times[j], s.next_eligible[j], strict=True) if ok]
        out.append(
            {
                "SPT": -min(times) if times else 0,
                "MWKR": work,
                "SRPT": -work,
                "MOR": left,
                "FOPNR": -left,
                "FIFO": -int(s.job_ready[j]),
            }[name]
        )
    return out


def _np_start(mode: str, s, j: int, m: int) -> int:
    """Start of job j's next op on machine m, recomputed from the schedule arrays."""
    ready = int(s.job_ready[j])
    if mode == "append":
        return max(ready, int(s.machine_free[m]))
    time = int(s.next_times[j, m])
    on_m = np.asarray(s.machine) == m
    intervals = sorted(zip(np.asarray(s.start)[on_m], np.asarray(s.end)[on_m], strict=True))
    prev_end = 0
    for st, en in intervals:
        cand = max(ready, prev_end)
        if cand + time <= st:
            return cand
        prev_end = int(en)
    return max(ready, prev_end)


def _np_machine_scores(mode: str, name: str, s, j: int) -> list:
    t = [int(x) for x in s.next_times[j]]
    return [
        {
            "EF": lambda m: -(_np_start(mode, s, j, m) + t[m]),
            "SPT": lambda m: -t[m],
            "SPTW": lambda m: -(t[m] + int(s.machine_busy[m])),
        }[name](m)
        for m in range(len(t))
    ]


def _np_best(scores: list, valid) -> int:
    """Lowest index of the best valid score (0 when nothing is valid)."""
    idx = [i for i, ok in enumerate(valid) if ok]
    if not idx:
        return 0
    best = max(scores[i] for i in idx)
    return min(i for i in idx if scores[i] == best)


def _np_rule_action(mode: str, rule: str, s, ready: bool) -> int:
    job_rule, machine_rule = rules.parse_rule(rule)
    elig = np.asarray(s.next_eligible)
    candidates = elig.any(-1)
    if ready and candidates.any():
        earliest = min(
            _np_start(mode, s, j, m)
            for j in range(elig.shape[0])
            for m in range(elig.shape[1])
            if elig[j, m]
        )
        candidates = candidates & (np.asarray(s.job_ready) <= earliest)
    job = _np_best(_np_job_scores(job_rule, s), candidates)
    mach = _np_best(_np_machine_scores(mode, machine_rule, s, job), elig[job])
    return job * elig.shape[1] + mach


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


def test_registry_names_and_parsing():
    assert len(rules.RULES) == 18 and len(set(rules.RULES)) == 18
    for job in ("SPT", "SRPT", "FOPNR", "MWKR", "MOR", "FIFO"):
        for mach in ("EF", "SPT", "SPTW"):
            assert f"{job}-{mach}" in rules.RULES
    assert rules.parse_rule("mor") == ("MOR", "EF")
    assert rules.parse_rule("MOPNR-SPTW") == ("MOR", "SPTW")
    assert rules.canonical_rule("mopnr") == "MOR-EF"
    for bad in ("", "XYZ", "MWKR-XYZ", "MWKR-EF-EF"):
        with pytest.raises(ValueError, match="MWKR-EF"):
            rules.parse_rule(bad)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow
def test_rule_choices_match_numpy_reference(mode):
    states, actions, _, _, public = _probe(mode)
    num_done = 0
    for i in range(NUM_STATES):
        s = _index(states, i)
        num_done += not s.next_eligible.any()
        for r, rule in enumerate(rules.RULES):
            for c, ready in enumerate((False, True)):
                want = _np_rule_action(mode, rule, s, ready)
                assert actions[i, c, r] == want, (mode, rule, i, ready)
    assert num_done < NUM_STATES // 2  # most sampled states still have decisions left
    columns = [rules.RULES.index(rules.canonical_rule(r)) for r in PUBLIC_CHECK]
    np.testing.assert_array_equal(public, actions[:, 1, columns])


@pytest.mark.parametrize("mode", MODES)
def test_job_start_times_is_a_row_of_pair_start_times(mode):
    _, _, rows, pair_starts, _ = _probe(mode)
    np.testing.assert_array_equal(rows, pair_starts)


@pytest.mark.parametrize("mode", MODES)
def test_hand_made_spt_and_mwkr_choose_differently(mode):
    _, actions, _, _, _ = _probe(mode)
    M = SHAPE[2]
    picks = {rule: divmod(int(a), M) for rule, a in zip(rules.RULES, actions[-1, 1], strict=True)}
    assert picks["SPT-EF"] == (0, 1)  # shortest next op: job 0, on its faster machine 1
    assert picks["MWKR-EF"] == (1, 0)  # most work left: job 1 (12), only machine 0
    assert picks["SRPT-EF"] == (0, 1)  # least work left: job 0 (3)
    assert picks["MOR-EF"] == (1, 0)  # jobs 1 and 2 tie on 2 ops left: lowest index
    assert picks["FOPNR-EF"] == (0, 1)
    assert picks["FIFO-EF"] == (0, 1)  # all ready at 0: lowest index
    assert picks["SPT-SPT"] == (0, 1)
    assert picks["MWKR-SPTW"] == (1, 0)


def _validate_all(mode: str, rule: str, insts, final) -> np.ndarray:
    """Validates every cropped schedule of a batch of final states; returns makespans."""
    makespans = np.asarray(final.makespan)
    for i, inst in enumerate(insts):
        sched = Schedule(final.machine[i], final.start[i], final.end[i]).crop(inst.shape[:2])
        check = jaxshop.validate(inst, sched)
        assert check, (mode, rule, i, check.reason)
        assert check.makespan == makespans[i], (mode, rule, i)
    return makespans


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow
def test_every_rule_rollout_is_feasible_and_deterministic(mode):
    insts, batch = _instances()
    for rule in rules.RULES:
        final = jax.device_get(rules.solve_with_rule(rule, batch, mode))
        makespans = _validate_all(mode, rule, insts, final)
        again = rules.solve_with_rule(rule, insts, mode)  # the list pads to the same shape
        np.testing.assert_array_equal(makespans, np.asarray(again.makespan))
        np.testing.assert_array_equal(final.start, np.asarray(again.start))
        np.testing.assert_array_equal(final.machine, np.asarray(again.machine))
    # SPT-EF on the hand-made instance (see test_rule_method_solves_fjsp_and_jssp).
    # Hand-computed: SPT-EF over released jobs gives 11 in both modes; over all candidate
    # jobs the append mode runs job 2's second op before job 1 starts and reaches 19.
    final = rules.solve_with_rule("SPT-EF", batch, mode)
    assert int(final.makespan[-1]) == 11
    final = rules.solve_with_rule("SPT-EF", batch, mode, candidates="all")
    assert int(final.makespan[-1]) == {"append": 19, "insert": 11}[mode]
    # The rule is a runtime argument: one compiled program per (mode, shape) for all rules.
    assert sum(key[:2] == (mode, (NUM_STATES, *SHAPE)) for key in rules._SOLVERS) == 1


def test_rule_policy_matches_solver_and_ignores_the_key():
    env = _env("insert")
    _, batch = _instances()
    policy = rules.rule_policy("MWKR-SPTW")
    steps = env.max_steps(jaxshop.unstack(batch)[0])

    @jax.jit
    def run(batch, key):
        keys = jax.random.split(key, NUM_STATES)
        states, _ = jax.vmap(env.reset)(keys, batch)
        return jax.vmap(lambda s, k: rollout(env, s, k, policy, steps))(states, keys)

    final_a, ret_a, actions_a = run(batch, jax.random.PRNGKey(0))
    final_b, _, actions_b = run(batch, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(actions_a, actions_b)
    np.testing.assert_array_equal(-ret_a, final_a.makespan)
    solved = rules.solve_with_rule("MWKR-SPTW", batch, "insert")
    np.testing.assert_array_equal(final_a.start, solved.start)
    np.testing.assert_array_equal(final_a.machine, solved.machine)


def test_rule_method_solves_fjsp_and_jssp():
    method = get_method("rule:SPT-EF")
    assert method.name == "rule:SPT-EF" and set(method.problems) == {"jssp", "fjsp"}
    insts, _ = _instances()  # exact sizes; they stack to the shape the other tests compiled
    assert jaxshop.problem_of(insts[0]) == "jssp" and jaxshop.problem_of(insts[-1]) == "fjsp"
    solutions = get_method("rule:SPT-EF", candidates="all").solve(insts)
    for inst, sol in zip(insts, solutions, strict=True):
        check = jaxshop.validate(inst, sol.schedule)
        assert check and check.makespan == sol.makespan
    # SPT-EF, append, on the hand-made instance: job 0 on m1 [0,2), job 2 on m1 [2,5) then
    # m0 [5,8), job 1 on m0 [8,13) then m1 [13,19). Insert mode puts job 1's first op into
    # the idle gap [0,5) of m0 and its second op on m1 [5,11).
    assert solutions[-1].makespan == 19
    # Released jobs only (the default): job 0 on m1 [0,2), job 2 on m1 [2,5), job 1 on m0
    # [0,5) (job 2's second op is released only at 5 > t* = 0), job 2 on m0 [5,8), job 1's
    # second op on m1 [5,11).
    assert method.solve(insts)[-1].makespan == 11
    assert get_method("rule:mopnr").name == "rule:MOR-EF"
    assert get_method("rule:FIFO", mode="insert").name == "rule:FIFO-EF"
    with pytest.raises(ValueError, match="MWKR-EF"):
        get_method("rule:NOPE")
    with pytest.raises(ValueError, match="MWKR-EF"):
        get_method("rule")
    with pytest.raises(ValueError, match="mode"):
        get_method("rule:MOR", mode="sideways")
    with pytest.raises(ValueError, match="pfsp"):
        method.solve([PFSPInstance.from_array([[1, 2], [3, 4]])])


@pytest.mark.skipif(not SHARED_BENCHMARKS.exists(), reason="shared benchmark data absent")
@pytest.mark.slow
def test_rules_on_brandimarte_are_feasible():
    names = [f"mk{k:02d}" for k in range(1, 11)]
    insts = [jaxshop.load(n, data_dir=str(SHARED_BENCHMARKS)) for n in names]
    lbs = [best_known(n)[0] for n in names]
    # Append mode only (one compile); insert mode is checked on the small instances above.
    for rule in ("MWKR-EF", "SPT-SPTW", "FIFO-SPT", "MOR-EF"):
        final = jax.device_get(rules.solve_with_rule(rule, insts, "append"))
        makespans = _validate_all("append", rule, insts, final)
        assert (makespans >= lbs).all(), rule
