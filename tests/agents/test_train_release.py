"""Release-grade training runs: `--resume` is one strict rule for every trainer, Ctrl-C
loses nothing, no run folder is a dead end, a damaged checkpoint is one line.

- Every trainer refuses `--resume` with an option that differs from the run's saved
  config (or seed): exit 2, one line naming the option with its saved and given values.
- Ctrl-C stops a run at the end of the chunk in flight, saved: exit 130 and one line
  saying how to resume; the resumed run writes each metrics row once, its running counters
  continue, and it ends where the uninterrupted run ends (rows and parameters).
- A folder stopped before its first checkpoint starts over, with or without `--resume`.
- A truncated checkpoint is one line on stderr and nothing else.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from jax import lax
from jaxshop_baselines import checkpoints as pointer_ckpt
from jaxshop_baselines import loop
from jaxshop_baselines.cli import main as cli_main
from jaxshop_baselines.config_io import JSONConfig
from jaxshop_baselines.ddqn.config import DDQNConfig
from jaxshop_baselines.distill.config import DistillConfig
from jaxshop_baselines.kernel_q.train import KernelQConfig
from jaxshop_baselines.pointer.config import PointerConfig
from jaxshop_baselines.ppo.config import PPOConfig


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(f)]


# ------------------------------------------------------------------ --resume: one rule

#: trainer -> (its saved config, the file it is saved in)
SAVED = {
    "pointer": (PointerConfig(num_jobs=3, num_machines=2, embed_dim=8, batch_size=4,
                              num_updates=10, updates_per_chunk=2, checkpoint_every=2),
                "config.json"),
    "ppo": (PPOConfig(num_jobs=3, num_machines=2, num_envs=4, num_steps=4, num_updates=4,
                      num_minibatches=1, hidden=8, updates_per_chunk=2, checkpoint_every=2),
            "config.json"),
    "ddqn": (DDQNConfig(num_iterations=20, iterations_per_chunk=10, checkpoint_every=10),
             "config.json"),
    "kernel-q": (KernelQConfig(jobs=10, machines=3, max_iters=40, chunk=2),
                 "config.json"),
    "distill": (DistillConfig(num_updates=10, updates_per_chunk=2, checkpoint_every=2),
                "distill.json"),
}


def _saved_run(tmp_path: Path, trainer: str, seed: int = 5) -> Path:
    """The folder of a run of `trainer` (config and run.json, as its start writes them)."""
    config, name = SAVED[trainer]
    out = tmp_path / trainer
    out.mkdir()
    config.to_json(out / name)
    (out / "run.json").write_text(json.dumps({"seed": seed, "command": "x"}) + "\n")
    return out


# (trainer, options given with --resume, text the one line must hold for each difference)
CHANGED = [
    ("pointer", ["--steps", "20"], ["--steps (saved 10, given 20)"]),
    ("pointer", ["--lr", "0.01", "--mixture", "3x2,4x2"],
     ["--lr (saved 0.001, given 0.01)", "--mixture (saved none, given 3x2,4x2)"]),
    ("ppo", ["--updates", "6"], ["--updates (saved 4, given 6)"]),
    ("ppo", ["--lr", "0.1"], ["--lr (saved 0.001, given 0.1)"]),
    ("ddqn", ["--steps", "30"], ["--steps (saved 20, given 30)"]),
    ("ddqn", ["--hidden", "8,8"], ["--hidden (saved 30,30,30, given 8,8)"]),
    ("kernel-q", ["--jobs", "20", "--iters", "8"],
     ["--jobs (saved 10, given 20)", "--iters (saved 40, given 8)"]),
    ("distill", ["--steps", "20"], ["--steps (saved 10, given 20)"]),
    ("distill", ["--tau", "3"], ["--tau (saved 2.0, given 3.0)"]),
    ("pointer", ["--seed", "6"], ["--seed (saved 5, given 6)"]),
    ("kernel-q", ["--seed", "6"], ["--seed (saved 5, given 6)"]),
    ("distill", ["--seed", "6"], ["--seed (saved 5, given 6)"]),
]


@pytest.mark.parametrize("trainer,given,named", CHANGED)
def test_resume_with_changed_options_is_refused_by_every_trainer(tmp_path, capsys, trainer,
                                                                 given, named):
    out = _saved_run(tmp_path, trainer)
    before = sorted(p.name for p in out.iterdir())
    code, stdout, err = _cli(capsys, "train", trainer, "--resume", "--out", out, *given)
    line = _one_line(err)
    assert code == 2 and stdout == "", err
    assert line.startswith("jaxshop: error: --resume keeps the run's config"), line
    for text in named:
        assert text in line, line
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


@pytest.mark.parametrize("trainer", sorted(SAVED))
def test_resume_with_the_saved_options_keeps_config_and_seed(tmp_path, trainer):
    """Options equal to the saved ones are no change: the saved config and seed come back
    (the seed of run.json when --seed is not given)."""
    from jaxshop_baselines import training  # noqa: F401 (the registry imports the trainers)

    module = {"pointer": "pointer.train", "ppo": "ppo.train", "ddqn": "ddqn.train",
              "kernel-q": "kernel_q.train", "distill": "distill.train"}[trainer]
    mod = __import__(f"jaxshop_baselines.{module}", fromlist=["build_parser"])
    out = _saved_run(tmp_path, trainer)
    saved, name = SAVED[trainer]
    same = {"pointer": ["--steps", "10"], "ppo": ["--updates", "4"],
            "ddqn": ["--steps", "20"], "kernel-q": ["--iters", "40"],
            "distill": ["--steps", "10"]}[trainer]
    for argv in (["--resume", "--out", str(out)], ["--resume", "--out", str(out), *same],
                 ["--resume", "--out", str(out), "--seed", "5"]):
        parser = mod.build_parser()
        args = parser.parse_args(argv)
        build = (lambda b, a=args: mod.config_from_args(a, b))
        config, seed = loop.resume_config(args, argv, parser, build, type(saved), {}, name)
        assert config == saved and seed == 5


def test_resume_of_a_folder_without_a_run_says_what_to_do(tmp_path, capsys):
    code, _, err = _cli(capsys, "train", "pointer", "--resume", "--out", tmp_path / "none")
    line = _one_line(err)
    assert code == 2 and "holds no run to continue" in line and "without --resume" in line


# ------------------------------------------------------------- the shared host loop


@struct.dataclass
class Toy:
    params: jax.Array
    key: jax.Array
    update: jax.Array


@dataclasses.dataclass(frozen=True)
class ToyConfig(JSONConfig):
    steps: int = 12


@jax.jit
def _toy_chunk(runner: Toy):
    """Two 'updates' of a random walk (the key lives in the runner, as the agents' do)."""

    def step(r, _):
        key, k = jax.random.split(r.key)
        params = r.params + jax.random.normal(k, r.params.shape)
        return r.replace(params=params, key=key, update=r.update + 1), {
            "loss": jnp.sum(params), "grad_norm": jnp.float32(1.0)}

    return lax.scan(step, runner, None, length=2)


def _toy_run(out: Path, *, resume: bool = False, steps: int = 12, seed: int = 0,
             on_rows=None, time_budget=None):
    runner = Toy(jnp.zeros(3), jax.random.PRNGKey(seed), jnp.int32(0))
    return loop.run_chunked(
        out=out, runner=runner, chunk=_toy_chunk, total=steps, per_chunk=2,
        checkpoint_every=4, metric_names=("loss", "grad_norm"), name="toy",
        config=ToyConfig(steps), seed=seed, command="toy", resume=resume, progress=False,
        counter=("samples", 3), on_rows=on_rows, time_budget=time_budget)


def test_a_time_budget_ends_the_run_after_the_chunk_that_spends_it(tmp_path, capsys):
    full, record = _toy_run(tmp_path / "full", time_budget=1e6)
    assert record.updates == 12
    spent, record = _toy_run(tmp_path / "spent", time_budget=0.0)  # spent by the 1st chunk
    assert record.updates == 2 and int(spent.update) == 2
    assert [int(r["update"]) for r in _rows(tmp_path / "spent" / "metrics.csv")] == [1, 2]
    assert pointer_ckpt.latest_checkpoint(tmp_path / "spent") == 2  # saved where it ended
    again, record = _toy_run(tmp_path / "spent", resume=True, time_budget=0.0)
    assert record.updates == 2  # a resume of a spent run trains no further
    np.testing.assert_array_equal(np.asarray(again.params), np.asarray(spent.params))
    capsys.readouterr()


def _interrupt_after(chunks: int):
    """An `on_rows` hook that sends this process SIGINT after `chunks` chunks (only while
    the loop's handler holds SIGINT: a stray Ctrl-C would stop the test session)."""
    seen = []

    def hook(rows):
        seen.append(rows)
        if len(seen) == chunks:
            handler = signal.getsignal(signal.SIGINT)
            assert isinstance(getattr(handler, "__self__", None), loop.StopRequest)
            os.kill(os.getpid(), signal.SIGINT)

    return hook


def test_ctrl_c_saves_the_chunk_and_resume_continues_exactly(tmp_path, capsys):
    full, _ = _toy_run(tmp_path / "full")
    part = tmp_path / "part"
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(loop.TrainingInterrupted) as stop:
        _toy_run(part, on_rows=_interrupt_after(3))  # stops at update 6, between checkpoints
    assert (stop.value.step, str(stop.value)) == (6, "interrupted at update 6")
    assert isinstance(stop.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is handler  # the loop's handler is gone
    assert pointer_ckpt.latest_checkpoint(part) == 6  # the chunks done are saved
    assert [int(r["update"]) for r in _rows(part / "metrics.csv")] == [1, 2, 3, 4, 5, 6]
    # Rows written after the checkpoint (a killed run) and twice: a resume drops them.
    with (part / "metrics.csv").open("a") as f:
        f.write("6,0.1,18,9,1,\n7,0.1,21,9,1,\n8,0.1,24,9,1,\n")
    resumed, record = _toy_run(part, resume=True)
    np.testing.assert_array_equal(np.asarray(full.params), np.asarray(resumed.params))
    rows = _rows(part / "metrics.csv")
    assert rows == _rows(tmp_path / "full" / "metrics.csv")
    assert [int(r["update"]) for r in rows] == list(range(1, 13))
    assert [int(r["samples"]) for r in rows] == [3 * u for u in range(1, 13)]
    assert record.counted == 36 and record.updates == 12
    capsys.readouterr()


def test_run_folder_without_a_checkpoint_starts_over(tmp_path, capsys):
    """What a run stopped before its first checkpoint leaves (config, run.json, the CSV
    header) is no dead end: run again, or --resume, and it starts from update 0."""
    full, _ = _toy_run(tmp_path / "full", seed=4)
    for resume in (False, True):
        out = tmp_path / f"stopped-{resume}"
        with pytest.raises(loop.TrainingInterrupted) as stop:
            _toy_run(out, seed=4, on_rows=_interrupt_after(1))
        assert stop.value.step == 2
        for step_dir in (out / "checkpoints").iterdir():  # as if stopped before saving
            for f in sorted(step_dir.rglob("*"), reverse=True):
                f.unlink() if f.is_file() else f.rmdir()
            step_dir.rmdir()
        capsys.readouterr()
        again, _ = _toy_run(out, seed=4, resume=resume)
        err = capsys.readouterr().err
        assert ("no checkpoint yet" if resume else "starting it over") in " ".join(err.split()), err
        np.testing.assert_array_equal(np.asarray(full.params), np.asarray(again.params))
        assert _rows(out / "metrics.csv") == _rows(tmp_path / "full" / "metrics.csv")
    # A folder with a checkpoint is a run to continue, never overwritten.
    with pytest.raises(ValueError, match="already holds a run .a checkpoint at update 12.; "
                                         "continue it with --resume"):
        _toy_run(tmp_path / "full", seed=4)
    # The API keeps the CLI's rule: another config or seed is refused.
    with pytest.raises(ValueError, match=r"steps \(saved 12, given 16\)"):
        _toy_run(tmp_path / "full", seed=4, steps=16, resume=True)
    with pytest.raises(ValueError, match=r"--seed \(saved 4, given 0\)"):
        _toy_run(tmp_path / "full", resume=True)


# ------------------------------------------------------- command-line runs (slow ones)


def _env(tmp_path: Path, cache: str = "xla-cache") -> dict:
    return {**os.environ, "JAXSHOP_CACHE_DIR": str(tmp_path / cache),
            "JAXSHOP_POINTER_FAST_COMPILE": "1"}


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps its status lines at 80 columns


POINTER = ["train", "pointer", "--jobs", "3", "--machines", "2", "--batch", "4", "--dim", "8",
           "--steps", "300", "--chunk", "2", "--checkpoint-every", "50", "--no-progress"]


@pytest.mark.slow
def test_ctrl_c_during_train_pointer_then_resume_equals_the_uninterrupted_run(tmp_path):
    part, full = tmp_path / "part", tmp_path / "full"

    def start(out: Path, cache: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "jaxshop_baselines.cli", *POINTER, "--out",
                                 str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=_env(tmp_path, cache))

    proc, uninterrupted = start(part, "cache-part"), start(full, "cache-full")  # side by side
    deadline = time.monotonic() + 400
    while not (part / "checkpoints" / "50").is_dir() and proc.poll() is None:
        assert time.monotonic() < deadline, "no first checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    step = pointer_ckpt.latest_checkpoint(part)
    assert 50 <= step < 300
    assert err.strip().splitlines()[-1] == (
        f"jaxshop: interrupted at update {step}; resume with: jaxshop train pointer --out "
        f"{part} --resume"), err
    assert [int(r["update"]) for r in _rows(part / "metrics.csv")] == list(range(1, step + 1))

    resumed = subprocess.run([sys.executable, "-m", "jaxshop_baselines.cli", "train", "pointer",
                              "--resume", "--out", str(part), "--no-progress"],
                             capture_output=True, text=True, env=_env(tmp_path, "cache-part"),
                             timeout=400)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed {part} at update {step}" in _flat(resumed.stderr)
    _, err_full = uninterrupted.communicate(timeout=400)
    assert uninterrupted.returncode == 0, err_full
    rows = _rows(part / "metrics.csv")
    assert [int(r["update"]) for r in rows] == list(range(1, 301))
    assert [int(r["schedules"]) for r in rows] == [4 * u for u in range(1, 301)]
    assert rows == _rows(full / "metrics.csv")
    assert (part / "params.msgpack").read_bytes() == (full / "params.msgpack").read_bytes()
    meta = json.loads((part / "meta.json").read_text())
    assert meta["updates"] == 300 and meta["schedules"] == 1200


@pytest.mark.slow
def test_train_ppo_folder_without_checkpoint_restarts_from_the_cli(tmp_path, capsys):
    """The CLI's dead end: a folder holding only a config (stopped before its first
    checkpoint). Running it again starts over; --resume starts it from update 0."""
    argv = ["--env", "pfsp", "--jobs", "3", "--machines", "2", "--envs", "4", "--rollout",
            "4", "--updates", "2", "--epochs", "1", "--minibatches", "1", "--hidden", "8",
            "--chunk", "1", "--checkpoint-every", "1", "--eval-size", "0", "--no-progress"]
    from jaxshop_baselines.ppo.train import build_parser, config_from_args

    config = config_from_args(build_parser().parse_args(argv))
    for resume, note in ((False, "starting it over"), (True, "no checkpoint yet")):
        out = tmp_path / f"run-{resume}"
        out.mkdir()
        config.to_json(out / "config.json")
        (out / "run.json").write_text(json.dumps({"seed": 0, "command": "x"}) + "\n")
        given = ["--resume", "--out", out, "--no-progress"] if resume else [*argv, "--out", out]
        code, _, err = _cli(capsys, "train", "ppo", *given)
        # The console wraps long lines (a long tmp path moves the break): compare words.
        assert code == 0 and note in " ".join(err.split()), err
        assert [int(r["update"]) for r in _rows(out / "metrics.csv")] == [1, 2]
        assert (out / "params.msgpack").is_file()


TRUNCATED = """
import sys, time
from pathlib import Path
import jax.numpy as jnp
from jaxshop_baselines import checkpoints
run = Path(sys.argv[1])
tree = {f"a{i:02d}": jnp.arange(50.0) + i for i in range(40)}  # many reads in flight
checkpoints.save_checkpoint(run, tree, 2)
for f in (run / "checkpoints" / "2").rglob("*"):
    if f.parent.name == "d":
        f.write_bytes(f.read_bytes()[:10])
try:
    checkpoints.restore_checkpoint(run, tree)
except ValueError as err:
    print(err, file=sys.stderr)
time.sleep(1.0)  # the reads still in flight finish meanwhile
"""


@pytest.mark.slow
def test_truncated_checkpoint_is_one_line_with_no_late_tracebacks(tmp_path):
    """Restoring a checkpoint whose data files were cut short: the one-line error, and not
    the `Event loop is closed` tracebacks of the reads still in flight (they end later)."""
    proc = subprocess.run([sys.executable, "-c", TRUNCATED, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    line = _one_line(proc.stderr)
    assert proc.returncode == 0 and " is unreadable " in line, proc.stderr


@pytest.mark.slow
def test_train_pointer_resume_from_a_truncated_checkpoint_is_one_line(tmp_path):
    from jaxshop_baselines.pointer.train import SPEC, init_runner
    from jaxshop_baselines.runner import save_checkpoint

    config, _ = SAVED["pointer"]
    run = tmp_path / "run"
    run.mkdir()
    config.to_json(run / "config.json")
    save_checkpoint(SPEC, run, init_runner(config, jax.random.PRNGKey(0))
                    .replace(update=np.int32(2)))
    data = [f for f in (run / "checkpoints" / "2").rglob("*") if f.parent.name == "d"]
    assert data
    for f in data:
        f.write_bytes(f.read_bytes()[:10])
    proc = subprocess.run([sys.executable, "-m", "jaxshop_baselines.cli", "train", "pointer",
                           "--resume", "--out", str(run), "--no-progress"],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=240)
    assert proc.returncode == 2 and proc.stdout == ""
    line = _one_line(proc.stderr)
    assert line.startswith(f"jaxshop: error: checkpoint {run / 'checkpoints' / '2'} is "
                           "unreadable"), line


# ------------------------------------------------------------------- --fab-release


def test_fab_release_accepts_zero_and_names_bad_values(capsys):
    from jaxshop_baselines.ddqn.train import build_parser, config_from_args

    args = build_parser().parse_args(["--env", "fab", "--fab-release", "0,0"])
    assert config_from_args(args).fab_release == (0, 0)
    for bad in ("5,3", "0,101", "-1,2", "4", "a,b"):
        code, _, err = _cli(capsys, "train", "ddqn", "--env", "fab", "--fab-release", bad,
                            "--out", "unused")
        line = _one_line(err)
        assert code == 2 and "--fab-release" in line and "layer width" not in line, line
