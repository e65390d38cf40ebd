"""A solver as teacher: random FJSP instances solved by CP-SAT, replayed into env actions.

A solver gives no distribution over actions and cannot label the states a student visits,
so imitating it is behaviour cloning on its own schedules: `build_dataset` samples
`size` instances from the training distribution (a fixed key, so every run and seed shares
the set), solves each with CP-SAT at `seconds` per instance (`jaxshop_baselines.cpsat`),
and turns each schedule into the env's action sequence with `jaxshop.replay`. The trainer
then replays those actions (the episodes the teacher drives) and puts the distillation
loss on each decision, the teacher's distribution being a point mass on the solver's
action (`SolverTeacher`; its KL term is the student's tempered CE to that action).

The set is an `.npz` written after every `chunk` instances (atomically), so an interrupted
build loses at most one chunk and the next run goes on from there. Its `meta` records the
distribution, the time limit and the solve time, and a file whose meta does not match the
run is refused (one-line error naming the file and the field).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

import jaxshop
from jaxshop.instances.types import FJSPInstance

#: The key of the solved set's instances (any run, any seed): not the validation key
#: (`train.VALIDATION_KEY`) nor a seed of `eval --random`.
DATASET_KEY = 246_813_579
FORMAT = 1
INSTANCE_FIELDS = ("processing_times", "eligible", "num_ops", "machine_mask")


@flax.struct.dataclass
class SolvedSet:
    """Solved instances stacked over `N` (the solver teacher's "parameters")."""

    instances: FJSPInstance  # fields (N, J, O, M) / (N, J) / (N, M)
    actions: jax.Array  # (N, T) int32: the replayed actions, 0 after the last operation
    makespan: jax.Array  # (N,) int32: the solver's makespan
    lower_bound: jax.Array  # (N,) int32: its proven lower bound

    @property
    def size(self) -> int:
        return int(self.actions.shape[0])

    def sample(self, key: jax.Array, batch: int) -> tuple[FJSPInstance, jax.Array]:
        """`batch` instances drawn uniformly (with replacement) and their actions."""
        idx = jax.random.randint(key, (batch,), 0, self.actions.shape[0])
        return jax.tree_util.tree_map(lambda x: x[idx], self.instances), self.actions[idx]


@dataclasses.dataclass(frozen=True)
class SolverTeacher:
    """The pair-policy protocol of `policies` for a solver: no parameters of its own to
    read states with; its logits are a point mass on the action it took (`point_mass`)."""

    def init_carry(self) -> Any:
        return ()

    def advance(self, mid: Any, action: jax.Array) -> Any:
        return ()

    @staticmethod
    def point_mass(action: jax.Array, num_actions: int) -> jax.Array:
        """`(A,)` logits: 0 at `action`, `MASKED_LOGIT` elsewhere (finite)."""
        from jaxshop.rollout import MASKED_LOGIT

        return jnp.where(jnp.arange(num_actions) == action, 0.0, MASKED_LOGIT)


def parse_seconds(teacher: str) -> float:
    """The time limit of `cpsat:SECONDS`; ValueError when it is not a positive number."""
    _, _, text = teacher.partition(":")
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:
        raise ValueError(f"teacher {teacher!r}: give cpsat:SECONDS with 0 < SECONDS <= 3600")
    return seconds


def dataset_meta(config: Any) -> dict[str, Any]:
    """What the set depends on (a stored set must match it)."""
    return {"format": FORMAT, "solver": "cpsat", "seconds": parse_seconds(config.teacher),
            "size": int(config.dataset_size), "num_jobs": int(config.num_jobs),
            "num_machines": int(config.num_machines),
            "time_range": list(config.time_range),
            "mixture": [list(x) for x in config.mixture], "mode": config.mode,
            "key": DATASET_KEY}


def default_path(config: Any) -> Path:
    """`--dataset` when not given: `cpsat-datasets/<digest of the meta>.npz` beside the
    CP-SAT bounds cache (`$XDG_CACHE_HOME` or `~/.cache`, `jaxshop`)."""
    from jaxshop_baselines.cpsat import bounds_dir

    digest = hashlib.sha256(json.dumps(dataset_meta(config), sort_keys=True).encode())
    base = bounds_dir() or Path.home() / ".cache" / "jaxshop" / "cpsat-bounds"
    return base.parent / "cpsat-datasets" / f"{digest.hexdigest()[:20]}.npz"


def dataset_path(config: Any) -> Path:
    return Path(config.dataset) if config.dataset else default_path(config)


def _instances(config: Any) -> FJSPInstance:
    from jaxshop_baselines.distill.train import instance_config
    from jaxshop_baselines.pointer.train import make_sampler

    sampler = make_sampler(instance_config(config))
    batch = sampler(jax.random.PRNGKey(DATASET_KEY), int(config.dataset_size))
    return jax.tree_util.tree_map(np.asarray, batch)


def read_dataset(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The arrays and meta of a stored set; ValueError when it is not one of `meta`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            stored = {k: z[k] for k in z.files}
        found = json.loads(str(stored.pop("meta")))
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"--dataset {path}: not a solved set ({e})") from None
    for name, want in meta.items():
        if found.get(name) != want:
            raise ValueError(f"--dataset {path}: its {name} is {found.get(name)!r}, the run "
                             f"needs {want!r}")
    stored["meta"] = found
    return stored


def _write(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def build_dataset(config: Any, path: Path | None = None, workers: int | None = None,
                  chunk: int = 32, progress: Callable[[int, int], None] | None = None
                  ) -> dict[str, Any]:
    """Solves (or finishes solving) the set of `config` at `path` and returns its arrays
    and meta (`meta["solve_seconds"]`: the wall time all its solves took)."""
    from jaxshop_baselines.cpsat import solve_many

    path = dataset_path(config) if path is None else Path(path)
    meta = dataset_meta(config)
    instances = _instances(config)
    n = int(config.dataset_size)
    env = jaxshop.cached_make("fjsp", mode=config.mode)
    steps = int(env.max_steps(jax.tree_util.tree_map(lambda x: x[0], instances)))
    if path.is_file():
        stored = read_dataset(path, meta)
        done = int(stored["solved"])
        arrays = {k: stored[k] for k in ("actions", "makespan", "lower_bound",
                                         "replay_makespan", "optimal")}
        meta = stored["meta"]
    else:
        done = 0
        arrays = {"actions": np.zeros((n, steps), np.int32),
                  "makespan": np.zeros(n, np.int32), "lower_bound": np.zeros(n, np.int32),
                  "replay_makespan": np.zeros(n, np.int32), "optimal": np.zeros(n, bool)}
        meta = {**meta, "solve_seconds": 0.0}
    one = [FJSPInstance(*(getattr(instances, f)[i] for f in INSTANCE_FIELDS))
           for i in range(n)]
    while done < n:
        todo = list(range(done, min(n, done + chunk)))
        t0 = time.perf_counter()
        # one worker per instance, instances side by side: a set is many small solves
        results = solve_many([one[i] for i in todo], meta["seconds"], workers,
                             per_instance=1)
        meta["solve_seconds"] = round(meta["solve_seconds"] + time.perf_counter() - t0, 3)
        for i, r in zip(todo, results, strict=True):
            actions = jaxshop.replay(env, one[i], r.schedule)
            arrays["actions"][i] = 0
            arrays["actions"][i, :len(actions)] = actions
            arrays["makespan"][i], arrays["lower_bound"][i] = r.makespan, r.lower_bound
            arrays["optimal"][i] = r.status == "optimal"
            arrays["replay_makespan"][i] = jaxshop.replay_makespan(env, one[i], actions)
        done = todo[-1] + 1
        _write(path, {**arrays, "solved": np.array(done)}, meta)
        if progress is not None:
            progress(done, n)
    fields = {f: getattr(instances, f) for f in INSTANCE_FIELDS}
    return {**arrays, **fields, "meta": meta, "path": str(path)}


def solved_set(data: dict[str, Any]) -> SolvedSet:
    """The device arrays the trainer samples from."""
    return SolvedSet(
        instances=FJSPInstance(*(jnp.asarray(data[f]) for f in INSTANCE_FIELDS)),
        actions=jnp.asarray(data["actions"], jnp.int32),
        makespan=jnp.asarray(data["makespan"], jnp.int32),
        lower_bound=jnp.asarray(data["lower_bound"], jnp.int32))


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """The set in a few numbers (for `meta.json`)."""
    m, lb = data["makespan"].astype(float), np.maximum(data["lower_bound"], 1).astype(float)
    return {"dataset": data["path"], "dataset_size": int(len(m)),
            "dataset_seconds_per_instance": data["meta"]["seconds"],
            "dataset_solve_seconds": data["meta"]["solve_seconds"],
            "dataset_optimal": int(data["optimal"].sum()),
            "dataset_mean_gap_to_own_bound_percent": round(float(100 * (m / lb - 1).mean()), 4),
            "dataset_replay_worse": int((data["replay_makespan"] > data["makespan"]).sum())}
