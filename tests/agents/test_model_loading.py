"""Every model loader names the folder or file at fault in one line, before any compile.

- `METHOD:DIR` for a folder of another agent says which kind it is and the `--method`
  that reads it (the kind comes from the files each agent writes: `model_kind`); a folder
  that holds no model says what was expected; a missing one says so.
- Damaged copies of the shipped models (truncated or garbage `config.json`,
  `params.msgpack`, `model.npz`, wrong field types, NaN parameters) are one line naming
  the file, never advice to unpickle.

Every case drives the CLI in-process and must exit 2 with exactly one stderr line, no
traceback, and no XLA compile (`no_compiles`), so the whole file runs in seconds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jax
import jaxshop_baselines
import numpy as np
import pytest
from flax import serialization
from jaxshop_baselines.checkpoints import (
    MARKER_FIELDS,
    MLP_FIELDS,
    MODEL_KINDS,
    identify_model,
    model_kind,
)
from jaxshop_baselines.cli import main
from jaxshop_baselines.ddqn.config import DDQNConfig
from jaxshop_baselines.distill.policies import MLPConfig
from jaxshop_baselines.kernel_q.train import KernelQConfig
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.ppo.config import PPOConfig

BASELINES = Path(jaxshop_baselines.__file__).resolve().parent
SHIPPED = {
    "pointer": BASELINES / "pointer" / "models" / "ac-sd",
    "ppo": BASELINES / "ppo" / "models" / "default",
    "ddqn": BASELINES / "ddqn" / "models" / "default",
    "ddqn-fab": BASELINES / "ddqn" / "models" / "fab",
    "kernel-q": BASELINES / "kernel_q" / "models" / "default",
    "student": BASELINES / "distill" / "models" / "student",
}
#: The `model_kind`s each method reads (a small-pointer student is a pointer model too).
READS = {
    "pointer": {"pointer", "student"},
    "ppo": {"ppo"},
    "ddqn": {"ddqn", "ddqn-fab"},
    "kernel-q": {"kernel-q"},
    "student": {"student", "mlp"},
    "mlp": {"mlp"},
}
CONFIGS = {"pointer": PointerConfig, "ppo": PPOConfig, "ddqn": DDQNConfig,
           "kernel-q": KernelQConfig}
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@pytest.fixture
def no_compiles():
    """Fails the test when XLA compiled anything while it ran."""
    seen: list[str] = []

    def listen(event: str, duration: float, **_) -> None:
        if event == COMPILE_EVENT:
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    yield
    jax.monitoring.unregister_event_duration_listener(listen)
    assert not seen, f"{len(seen)} XLA compiles"


@pytest.fixture(scope="module")
def mlp_student(tmp_path_factory) -> Path:
    """An MLP student folder as `jaxshop distill --student mlp` writes it (the parameters
    are never read: every case fails on the folder's kind first)."""
    out = tmp_path_factory.mktemp("mlp") / "student"
    out.mkdir()
    MLPConfig(hidden=(8, 8)).to_json(out / "config.json")
    run = json.loads((SHIPPED["student"] / "distill.json").read_text())
    (out / "distill.json").write_text(json.dumps({**run, "student": "mlp", "student_dim": 8}))
    zeros = {"scorer": {"out": {"kernel": np.zeros((8, 1), np.float32),
                                "bias": np.zeros((1,), np.float32)}}}
    (out / "params.msgpack").write_bytes(serialization.to_bytes(zeros))
    return out


def folder_of(kind: str, mlp_student: Path) -> Path:
    return mlp_student if kind == "mlp" else SHIPPED[kind]


def solve_argv(method: str, folder: Path | str) -> list[str]:
    instance = "ta001" if method == "kernel-q" else "ft06"  # kernel-q solves PFSP only
    return ["solve", instance, "--method", f"{method}:{folder}"]


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    """Runs the CLI; asserts exit 2, nothing on stdout and one stderr line; that line."""
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert out == "" and len(lines) == 1 and lines[0].startswith("jaxshop: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    assert "pickle" not in err.lower()  # never advice to load untrusted pickles
    return code, lines[0]


# --- the kind of every shipped folder --------------------------------------------------


@pytest.mark.parametrize("folder,kind", [
    ("pointer/models/ac-sd", "pointer"), ("pointer/models/ac-s", "pointer"),
    ("ppo/models/default", "ppo"), ("ddqn/models/default", "ddqn"),
    ("ddqn/models/fab", "ddqn-fab"), ("ddqn/models/fab-release-7-9", "ddqn-fab"),
    ("kernel_q/models/default", "kernel-q"), ("kernel_q/models/100x20", "kernel-q"),
    ("kernel_q/models/200x20", "kernel-q"), ("distill/models/student", "student"),
    ("pointer/models", None), ("no/such/folder", None),
])
def test_model_kind_of_shipped_folders(folder, kind):
    assert model_kind(BASELINES / folder) == kind


def test_model_kind_of_runs_and_students(tmp_path, mlp_student):
    assert identify_model(mlp_student) == ("mlp", "distill.json")
    bare = tmp_path / "bare-mlp"  # config + params only: still an MLP by its fields
    bare.mkdir()
    shutil.copy(mlp_student / "config.json", bare)
    assert identify_model(bare) == ("mlp", "config.json")
    run = tmp_path / "run"  # an unfinished distillation run: distill.json + checkpoints
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(mlp_student / "distill.json", run)
    assert model_kind(run) == "mlp"
    small = json.loads((SHIPPED["student"] / "distill.json").read_text())
    (run / "distill.json").write_text(json.dumps(small))
    assert model_kind(run) == "student"
    ppo_run = tmp_path / "ppo-run"  # a run folder: config.json + checkpoints/
    (ppo_run / "checkpoints").mkdir(parents=True)
    shutil.copy(SHIPPED["ppo"] / "config.json", ppo_run)
    assert model_kind(ppo_run) == "ppo"


def test_marker_fields_belong_to_one_config_each():
    fields = {kind: {f.name for f in dataclasses.fields(cls)} for kind, cls in CONFIGS.items()}
    fields["mlp"] = {f.name for f in dataclasses.fields(MLPConfig)}
    assert fields["mlp"] == MLP_FIELDS
    for kind, marks in MARKER_FIELDS.items():
        assert marks <= fields[kind], kind
        for other, names in fields.items():
            assert other == kind or not marks & names, (kind, other)


# --- METHOD:DIR of another agent's folder ----------------------------------------------

MISMATCHES = [(method, kind) for method in READS for kind in (*SHIPPED, "mlp")
              if kind not in READS[method]]


@pytest.mark.parametrize("method,kind", MISMATCHES, ids=[f"{m}:{k}" for m, k in MISMATCHES])
def test_folder_of_another_agent_says_its_kind(capsys, no_compiles, mlp_student, method,
                                                kind):
    folder = folder_of(kind, mlp_student)
    _, line = run_cli(capsys, solve_argv(method, folder))
    name, reader = MODEL_KINDS[kind]
    assert f"{folder} is {name} (use --method {reader}:{folder})" in line
    assert f"not {MODEL_KINDS[method][0]}" in line


@pytest.mark.parametrize("kind", ["pointer", "student", "ppo", "kernel-q"])
def test_fab_eval_of_another_agents_folder(capsys, no_compiles, kind):
    folder = SHIPPED[kind]
    _, line = run_cli(capsys, ["eval", "--suite", "fab", "--seeds", "1", "--days", "1",
                               "--warmup-days", "0", "--method", f"ddqn:{folder}"])
    assert f"{folder} is {MODEL_KINDS[kind][0]}" in line and "not a ddqn model" in line


def test_fab_ddqn_model_on_a_job_shop_says_fab(capsys):
    # A valid model of the other env: it loads (`ddqn.agent.env_sizes` makes a PRNG key,
    # two tiny compiles), then the method refuses it.
    _, line = run_cli(capsys, solve_argv("ddqn", SHIPPED["ddqn-fab"]))
    assert str(SHIPPED["ddqn-fab"]) in line and "'fab'" in line


@pytest.mark.parametrize("method", list(READS))
def test_missing_folder_says_so(capsys, no_compiles, tmp_path, method):
    folder = tmp_path / "nope"
    _, line = run_cli(capsys, solve_argv(method, folder))
    assert str(folder) in line and ("does not exist" in line or "no such" in line)


@pytest.mark.parametrize("method", list(READS))
def test_folder_without_a_model_says_what_was_expected(capsys, no_compiles, tmp_path,
                                                       method):
    (tmp_path / "notes.txt").write_text("not a model\n")
    _, line = run_cli(capsys, solve_argv(method, tmp_path))
    expected = "model.npz" if method == "kernel-q" else "params.msgpack"
    assert f"{tmp_path} holds no model" in line and "config.json" in line
    assert expected in line


# --- damaged copies of the shipped models ----------------------------------------------


def copy_model(kind: str, tmp_path: Path) -> Path:
    """The shipped folder's model files (no plots or metrics) in `tmp_path/<kind>`."""
    out = tmp_path / kind
    out.mkdir()
    for f in SHIPPED[kind].iterdir():
        if f.suffix in (".json", ".msgpack", ".npz"):
            shutil.copy(f, out)
    return out


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(3000))


def retype(path: Path) -> None:
    """A field of the wrong JSON type (a string where the config has a number)."""
    data = json.loads(path.read_text())
    data["jobs" if "jobs" in data else "num_jobs"] = "ten"
    path.write_text(json.dumps(data))


def nan_field(path: Path) -> None:
    data = json.loads(path.read_text())
    field = "sigma" if "sigma" in data else "max_grad_norm"
    path.write_text(json.dumps(data).replace(f'"{field}": {data[field]}', f'"{field}": NaN'))


def not_an_object(path: Path) -> None:
    path.write_text("[1, 2, 3]\n")


def unknown_field(path: Path) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "typo_field": 1}))


def nan_params(path: Path) -> None:
    tree = serialization.msgpack_restore(path.read_bytes())
    tree = jax.tree_util.tree_map(lambda x: np.full_like(x, np.nan), tree)
    path.write_bytes(serialization.to_bytes(tree))


def npz_single_array(path: Path) -> None:
    with path.open("wb") as f:
        np.save(f, np.zeros(3))


def npz_missing_arrays(path: Path) -> None:
    with path.open("wb") as f:
        np.savez(f, weights=np.zeros(3))


def npz_object_array(path: Path) -> None:
    with path.open("wb") as f:  # an object array is stored pickled
        np.savez(f, w=np.array([{"a": 1}], dtype=object), omega=np.zeros(3), bias=np.zeros(3))


def npz_nan(path: Path) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["w"] = np.full_like(arrays["w"], np.nan)
    with path.open("wb") as f:
        np.savez(f, **arrays)


def npz_wrong_shape(path: Path) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["w"] = arrays["w"][:-1]
    with path.open("wb") as f:
        np.savez(f, **arrays)


METHOD_OF = {"pointer": "pointer", "ppo": "ppo", "ddqn": "ddqn", "kernel-q": "kernel-q",
             "student": "student"}
DAMAGE = [
    *[(kind, "params.msgpack", damage) for kind in ("pointer", "ppo", "ddqn", "student")
      for damage in (truncate, garbage)],
    ("ppo", "params.msgpack", nan_params),
    *[(kind, "config.json", damage) for kind in METHOD_OF
      for damage in (truncate, garbage, retype, not_an_object)],
    ("pointer", "config.json", nan_field), ("kernel-q", "config.json", nan_field),
    ("ddqn", "config.json", unknown_field),
    *[("kernel-q", "model.npz", damage) for damage in (
        truncate, garbage, npz_single_array, npz_missing_arrays, npz_object_array, npz_nan,
        npz_wrong_shape)],
]


@pytest.mark.parametrize("kind,file,damage", DAMAGE,
                         ids=[f"{k}-{f}-{d.__name__}" for k, f, d in DAMAGE])
def test_damaged_file_is_one_line_naming_it(capsys, no_compiles, tmp_path, kind, file,
                                            damage):
    folder = copy_model(kind, tmp_path)
    damage(folder / file)
    _, line = run_cli(capsys, solve_argv(METHOD_OF[kind], folder))
    assert str(folder / file) in line


def test_messages_of_damaged_files(capsys, tmp_path):
    """What the lines say (not only which file)."""
    folder = copy_model("kernel-q", tmp_path)
    truncate(folder / "model.npz")
    line = run_cli(capsys, solve_argv("kernel-q", folder))[1]
    assert "damaged or not a kernel-q model file" in line
    garbage(folder / "model.npz")
    assert "damaged or not a kernel-q model file" in run_cli(
        capsys, solve_argv("kernel-q", folder))[1]
    folder = copy_model("ppo", tmp_path)
    retype(folder / "config.json")
    line = run_cli(capsys, solve_argv("ppo", folder))[1]
    assert "field num_jobs must be int" in line
    shutil.copy(SHIPPED["ppo"] / "config.json", folder)
    unknown_field(folder / "config.json")
    line = run_cli(capsys, solve_argv("ppo", folder))[1]
    assert "unknown fields typo_field" in line
    shutil.copy(SHIPPED["ppo"] / "config.json", folder)
    truncate(folder / "params.msgpack")
    line = run_cli(capsys, solve_argv("ppo", folder))[1]
    assert "params.msgpack: damaged or not a parameter file" in line
