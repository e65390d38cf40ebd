"""The README and the documentation pages (docs/**/*.md) are tested, so they cannot drift:
every line of their ```bash blocks, every full command they quote inline (`jaxshop ...
--opt`, `python scripts/...`), and every ```python block runs here.

Shell lines are split at `&&`; `[--opt]` brackets run both ways (without, then with them;
`[a|b|c]` once per alternative) in one working folder, so `[--resume]` continues the run
the line started. `jaxshop ...` lines run in one worker process
(`jaxshop_baselines.cli.main`, which shares compiled functions between lines); a
`--mesh N` above this process's device count runs in a subprocess with N simulated CPU
devices; `python scripts/...` lines run as subprocesses with `--out` into the temporary
folder (never the tracked results/). Budgets are shrunk by `REWRITES` (they only make a
line cheaper, never change what it does), placeholders filled by `PLACEHOLDERS`, files
the lines read are written by `_prepare`. A line that cannot run in a test is in `SKIP`
with the reason; any other line must run (a new line fails here until it runs or is
skipped with a reason). Both tables are checked for stale entries. A block that is not
meant to run is fenced as ```text.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: The documents whose commands and blocks run here: the README, then every docs page.
DOCUMENTS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
DATA = ROOT / "jaxshop" / "instances" / "data"

# (README text pattern, replacement, why): each only shrinks a budget; all that match apply.
REWRITES: list[tuple[str, str, str]] = [
    (r"(--suite (?:taillard-pfsp|taillard-jssp|brandimarte|lawrence|ft))(?= |$)",
     r"\1 --limit 1", "a whole suite -> its first instance"),
    (r"--sample 100\b", "--sample 2", "best of 100 -> best of 2"),
    (r"--sample 16\b", "--sample 2", "best of 16 -> best of 2"),
    (r":1000000\b", ":8", "10^6 random instances -> 8"),
    (r"--seeds 100 --days 10\b", "--seeds 2 --days 1 --warmup-days 0",
     "100 fabs x 15 days -> 2 fabs x 1 day"),
    (r"--batch 1024,4096\b", "--batch 2 --repeats 1 --min-seconds 0 --target-decisions 64",
     "benchmark batches 1024, 4096 -> one short call at batch 2"),
    # trainers: a couple of updates on tiny instances
    (r"^(jaxshop train pointer .*)--steps 1000\b", r"\1--steps 2 --chunk 2",
     "1000 updates -> 2"),
    (r"^jaxshop train pointer (?!.*--steps)", "jaxshop train pointer --steps 2 --chunk 2 ",
     "the default 1000 updates -> 2"),
    (r"^(jaxshop train pointer .*)--batch (?:128|512)\b", r"\1--batch 4",
     "batch -> 4 instances"),
    (r"^jaxshop train pointer (?!.*--batch)", "jaxshop train pointer --batch 4 ",
     "the default batch of 128 instances -> 4"),
    (r"^(jaxshop train pointer .*)--dim 256\b", r"\1--dim 64",
     "a 256-wide model -> the default 64 (the README's pointer lines then share one compile)"),
    (r"--episodes 3200\b", "--episodes 2 --chunk 2 --envs 2 --eval-size 2",
     "3200 episodes -> 2"),
    (r"^jaxshop train ppo ", "jaxshop train ppo --updates 1 --chunk 1 --rollout 4 "
     "--minibatches 1 --epochs 1 --eval-size 4 --jobs 3 --machines 2 ",
     "the default 300 updates of 64 envs x 32 steps -> 1 update of 4 steps"),
    (r"--envs 256\b", "--envs 4", "256 envs -> 4"),
    (r"^jaxshop distill ", "jaxshop distill --steps 2 --chunk 2 --batch 4 --jobs 3 "
     "--machines 2 ", "the default 500 updates x 64 instances -> 2 x 4"),
    (r"--teacher-samples 8\b", "--teacher-samples 2", "best of 9 teacher rollouts -> 3"),
    (r"--dataset-size 384\b", "--dataset-size 4", "CP-SAT's set of 384 instances -> 4"),
    (r"--jobs 50 --machines 20\b", "--jobs 5 --machines 3", "50x20 instances -> 5x3"),
    (r"^jaxshop train kernel-q (?!.*--jobs)", "jaxshop train kernel-q --jobs 5 --machines 3 ",
     "the default 50x20 instances -> 5x3"),
    (r"^jaxshop train kernel-q ", "jaxshop train kernel-q --instances 2 --walk 2 --actions 2 "
     "--iters 2 ", "32 instances, 40 sweeps -> 2, 2"),
]

#: Placeholders of README lines (whole words) -> what the test uses.
PLACEHOLDERS = {"DIR": "runs/kq"}

#: Lines (as `commands()` spells them) that cannot run in a test, and why.
SKIP = {
    "pip install -e .": "installs the package (these tests run in an installed environment)",
    'pip install -e ".[test,bench,cpsat,interop]"': "installs the package and its test extras",
    'pip install -e ".[bench]"': "installs jumanji and gymnax (the bench extra)",
    'pip install -e ".[cpsat]"': "installs OR-Tools (the cpsat extra; CI installs it)",
    "ruff check .": "lints the whole tree: the CI command (.ci/run) runs it",
    "python -m pytest": "the test suite itself, this file included",
    'python -m pytest -m "not slow"': "the fast tier of the test suite, this file included",
    'pip install -e ".[docs]"': "installs mkdocs and its plugins (the docs extra)",
    "mkdocs build --strict": "the documentation build: tests/cli/test_docs.py runs it",
    "jaxshop train pointer --batch 1024 --out /shared/runs/sd --distributed "
    "--coordinator host0:12345 --num-processes N --process-id i":
        "multi-host: N processes on N hosts (tests/agents/test_distributed.py runs two processes "
        "on one machine)",
    "taskset -c 0 python scripts/bench_train.py --baseline 189d161 --batch 128,1024":
        "times this code against commit 189d161 checked out beside it: minutes of timing",
    "bash scripts/bench_gpu.sh": "GPU benchmark (minutes on a CUDA device); its CPU smoke "
        "test, --quick, is tests/evaluation/test_bench_gpu.py",
    "python scripts/distill_study.py --teacher pointer:runs/teacher-d256 --tag d256 "
    "--skip-ablation --objectives distill,reinforce,kickstart":
        "a study of 1,000-update trainings (hours) of the teacher trained by the line above",
    "python scripts/distill_budget.py --teacher pointer:runs/teacher-d256 --tag d256 "
    "--budgets 100,200,400 --seeds 0,1,2":
        "a study of 36 trainings (hours) of the teacher trained by the line above",
    "python scripts/kernel_q_select.py --jobs 200 --val-jobs 200 --moves 50 --sweeps-only":
        "a study: trains and validates 200x20 kernel-Q models (tens of minutes)",
    "python scripts/kernel_q_study.py --models 100x20=baselines/kernel_q/models/100x20,"
    "200x20=baselines/kernel_q/models/200x20,500x20=baselines/kernel_q/models/200x20":
        "a study: five searches on 50 Taillard instances at their time budgets (an hour)",
}

#: Lines (and python blocks, by `FILE: HEADING`) whose tiny run still
#: costs over ~10 s of CPU, mostly compiles of a training step. The three pointer lines
#: share one compile, as do the two kernel-Q lines: their cheap runs rely on the first.
SLOW = {
    "jaxshop train pointer --variant sd --steps 1000 --out runs/sd [--resume]",
    "jaxshop train pointer --batch 512 --out runs/sd8",
    "jaxshop train pointer --dim 256 --steps 1000 --batch 128 --out runs/teacher-d256",
    "jaxshop train ddqn --env fab --episodes 3200 --gamma 0.95 --out runs/fab",
    "jaxshop distill --teacher pointer --student small-pointer --dim 16 --alpha 1 --tau 2 "
    "--out runs/st",
    "jaxshop distill --student mlp --dim 32 --objective kickstart --regime student --out runs/kick",
    "jaxshop distill --regime teacher --teacher-samples 8 --out runs/search",
    "jaxshop distill --teacher cpsat:3 --dataset-size 384 --dim 64 --time-budget 1320",
    "python scripts/bench_envs.py --cases jssp_10x10_t6 --batch 1024,4096 --peers",
    "jaxshop train ppo --envs 256 --mesh 4 --out runs/ppo4",
    "jaxshop train ppo --env fjsp",
    "jaxshop train kernel-q --jobs 50 --machines 20 --residual --lam 0.2 --sigma 1 --rff 32 "
    "--out DIR",
    "jaxshop train kernel-q --out DIR",
    "docs/envs.md: Use jaxshop envs in your agent",
    "README.md: The API in ten lines",  # ~17 CPU-s: compiles reset, step and a rollout
}

# ------------------------------------------------------------------ reading the README

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
#: An inline code span that is a whole command a reader would copy (not a mention such as
#: `jaxshop bench`): a jaxshop command with options, a script run, a pip install.
_INLINE_COMMAND = re.compile(
    r"^(jaxshop [\w-]+( [\w-]+)? --|python (-m )?\S+\.py|bash \S+\.sh|taskset |pip install \S)"
)


def _name(document: Path) -> str:
    return document.relative_to(ROOT).as_posix()


def fenced(lang: str) -> list[str]:
    """The bodies of the ```lang blocks of every document, in order."""
    return [body for doc in DOCUMENTS
            for tag, body in _FENCE.findall(doc.read_text()) if tag == lang]


def python_blocks() -> dict[str, str]:
    """The ```python blocks of every document, named `FILE: HEADING` by the heading they
    are under (a suffix when a section has several)."""
    blocks: dict[str, str] = {}
    for doc in DOCUMENTS:
        text = doc.read_text()
        for match in _FENCE.finditer(text):
            if match.group(1) == "python":
                headings = re.findall(r"^#+ (.+)$", _FENCE.sub("", text[: match.start()]),
                                      re.M)
                name = f"{_name(doc)}: {headings[-1].strip() if headings else 'top'}"
                while name in blocks:
                    name += " (next)"
                blocks[name] = match.group(2)
    return blocks


def _split(line: str) -> list[str]:
    line = re.sub(r"(^|\s)#.*$", "", line)  # a comment
    return [" ".join(part.split()) for part in line.split("&&") if part.strip()]


def commands() -> list[str]:
    """Every shell command of the documents: each `&&` part of each line of their ```bash
    blocks (continuation lines joined, comments dropped), then each inline code span that
    is a whole command; whitespace collapsed, duplicates dropped."""
    found = []
    for body in fenced("bash"):
        for line in re.sub(r"\\\n", " ", body).splitlines():
            found += _split(line)
    for doc in DOCUMENTS:
        prose = _FENCE.sub("", doc.read_text())
        for span in re.findall(r"`([^`]+)`", prose):
            span = " ".join(span.split())
            if _INLINE_COMMAND.match(span):
                found += _split(span)
    return list(dict.fromkeys(found))


def rewrite(command: str) -> str:
    """`command` with the budgets shrunk (`REWRITES`) and placeholders filled."""
    for pattern, replacement, _ in REWRITES:
        command = re.sub(pattern, replacement, command)
    for word, value in PLACEHOLDERS.items():
        command = re.sub(rf"(?<![\w/.-]){word}(?![\w/.-])", value, command)
    return command


_OPTIONAL = re.compile(r"(?<!\S)\[[^\]]*\]")  # `[--opt]`, not `".[test]"`


def variants(command: str) -> list[str]:
    """`command` without its `[...]` optional parts, then with them (one run per
    alternative of `[a|b|c]`)."""
    brackets = [b[1:-1] for b in _OPTIONAL.findall(command)]
    if not brackets:
        return [command]
    options = [b.split("|") for b in brackets]
    pieces = _OPTIONAL.split(command)
    chosen = [[""] * len(options)]  # without them, then the k-th alternative of each
    chosen += [[o[min(k, len(o) - 1)] for o in options]
               for k in range(max(len(o) for o in options))]
    return [" ".join("".join(p + c for p, c in zip(pieces, [*choice, ""], strict=True)).split())
            for choice in chosen]


def runnable(command: str) -> bool:
    return command.startswith(("jaxshop ", "python scripts/"))


# ------------------------------------------------------------------ running a line

MY_FJS = """\
3 2 1.5
2 2 1 3 2 5 1 2 4
2 1 1 2 2 2 6 1 3
1 2 1 4 2 2
"""


def _prepare(folder: Path) -> None:
    """The files README lines read: `my.fjs`, `my_instance.json` (job-shop-lib's JSON) and
    a folder suite `path/to/folder`."""
    (folder / "my.fjs").write_text(MY_FJS)
    (folder / "my_instance.json").write_text(json.dumps({
        "name": "mine", "duration_matrix": [[3, 2], [2, 4]],
        "machines_matrix": [[0, [0, 1]], [1, 0]]}))
    suite = folder / "path" / "to" / "folder"
    suite.mkdir(parents=True)
    shutil.copy(DATA / "jssp" / "classic" / "ft06.txt", suite / "shop_a.txt")
    shutil.copy(DATA / "jssp" / "classic" / "la01.txt", suite / "shop_b.txt")
    (suite / "bounds.json").write_text(json.dumps({"shop_a": 55}))


def _option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def _subprocess_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu", **extra}


#: The worker that runs README commands and blocks: one process for the whole module (the
#: lines share its compiled functions), apart from the test process, so that the README's
#: training runs neither see nor leave behind the state of the rest of the suite.
WORKER = r"""
import contextlib, io, json, os, sys, traceback
import numpy as np
from jaxshop_baselines.cli import main

reply_to = sys.stdout
for line in sys.stdin:
    request = json.loads(line)
    os.chdir(request["cwd"])
    out, err, summary = io.StringIO(), io.StringIO(), {}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if "argv" in request:
                code = main(request["argv"])
            else:
                namespace = {"__name__": "__readme__"}
                exec(compile(request["source"], request["name"], "exec"), namespace)
                code = 0
                if "returns" in namespace:
                    returns = np.asarray(namespace["returns"])
                    summary = {"returns_size": int(returns.size),
                               "returns_negative": bool((returns < 0).all())}
        except BaseException:
            traceback.print_exc()
            code = 99
    reply_to.write(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                               "summary": summary}) + "\n")
    reply_to.flush()
"""


class _Worker:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def ask(self, request: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True, env=_subprocess_env(), cwd=ROOT)
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return {"code": f"the worker died ({code})", "out": "", "err": "", "summary": {}}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def worker():
    w = _Worker()
    yield w
    w.close()


def _run_jaxshop(argv: list[str], worker: _Worker) -> tuple[int, str, str]:
    import jax

    mesh = _option(argv, "--mesh")
    if mesh is not None and mesh.isdigit() and int(mesh) > jax.local_device_count():
        flags = (os.environ.get("XLA_FLAGS", "")
                 + f" --xla_force_host_platform_device_count={mesh}").strip()
        code = "import sys; from jaxshop_baselines.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                              text=True, env=_subprocess_env(XLA_FLAGS=flags), timeout=900)
        return proc.returncode, proc.stdout, proc.stderr
    reply = worker.ask({"argv": argv, "cwd": os.getcwd()})
    return reply["code"], reply["out"], reply["err"]


def _run_script(argv: list[str], folder: Path) -> tuple[int, str, str]:
    script, *rest = argv
    if "--out" not in rest:
        rest += ["--out", str(folder / (Path(script).stem + "_report.json"))]
    proc = subprocess.run([sys.executable, str(ROOT / script), *rest], cwd=folder,
                          capture_output=True, text=True, env=_subprocess_env(), timeout=900)
    if proc.returncode == 0:
        assert (folder / _option(rest, "--out")).is_file(), f"{script} wrote no --out report"
    return proc.returncode, proc.stdout, proc.stderr


def _check_outputs(argv: list[str], out: str, folder: Path) -> None:
    """What the README says a line produces: one JSON object with --json, the --out file
    (with the CSV beside it for an instance-suite eval), the Gantt chart, a trained run."""
    command = argv[0] if argv else ""
    if "--json" in argv and command in ("solve", "eval", "list"):
        json.loads(out)
    target = _option(argv, "--out")
    if target is not None:
        path = folder / target
        assert path.exists(), f"--out {target} was not written"
        suite = _option(argv, "--suite")
        if command == "eval" and suite is not None and suite != "fab":
            assert path.with_suffix(".csv").is_file(), "no CSV beside the eval JSON"
        if command in ("train", "distill"):
            assert path.is_dir() and any(path.iterdir()), f"{target}: empty run folder"
    gantt = _option(argv, "--gantt")
    if gantt is not None:
        assert (folder / gantt).is_file(), f"--gantt {gantt} was not written"


def _params(names: list[str]):
    return [pytest.param(c, id=c[:90], marks=[pytest.mark.slow] if c in SLOW else [])
            for c in names]


@pytest.mark.parametrize("command", _params(commands()))
@pytest.mark.slow
def test_readme_shell_line(command, tmp_path, monkeypatch, worker):
    if command in SKIP:
        pytest.skip(SKIP[command])
    assert runnable(command), (
        f"README line {command!r} is neither runnable here (jaxshop ..., python "
        "scripts/...) nor in SKIP: make it run or skip it with a reason"
    )
    monkeypatch.chdir(tmp_path)
    _prepare(tmp_path)
    for run in variants(rewrite(command)):
        argv = shlex.split(run)
        if argv[0] == "jaxshop":
            code, out, err = _run_jaxshop(argv[1:], worker)
        else:
            code, out, err = _run_script(argv[1:], tmp_path)
        assert code == 0, f"{run!r} exited {code}:\n{err[-3000:]}\n{out[-2000:]}"
        _check_outputs(argv[1:] if argv[0] == "jaxshop" else [], out, tmp_path)


@pytest.mark.parametrize("heading", _params(python_blocks()))
@pytest.mark.slow
def test_readme_python_block(heading, tmp_path, worker):
    """Each block runs as a reader would paste it: a fresh namespace, nothing defined."""
    reply = worker.ask({"source": python_blocks()[heading], "cwd": str(tmp_path),
                        "name": f"python block of {heading!r}"})
    assert reply["code"] == 0, f"{heading!r}:\n{reply['err'][-3000:]}"
    if heading in BLOCK_CHECKS:
        BLOCK_CHECKS[heading](reply["summary"])


def _some_episodes_ended(summary: dict) -> None:
    assert summary.get("returns_size", 0) > 0, "the agent block's scan ended no episode"
    assert summary["returns_negative"], "returns of normalized rewards are -C/LB < 0"


#: What the prose around a python block promises of its results (by heading).
BLOCK_CHECKS = {"docs/envs.md: Use jaxshop envs in your agent": _some_episodes_ended}


# ------------------------------------------------------------------ the tables are current


def test_tables_name_only_current_readme_lines():
    lines = commands()
    assert len(lines) > 20 and len(python_blocks()) >= 2, "README/docs blocks not found"
    assert not set(SKIP) - set(lines), "SKIP names lines the documents no longer have"
    assert not SLOW - set(lines) - set(python_blocks()), "SLOW names what the documents lack"
    assert not set(BLOCK_CHECKS) - set(python_blocks()), "BLOCK_CHECKS names a lost block"
    for pattern, _, why in REWRITES:
        assert any(re.search(pattern, c) for c in lines), f"unused rewrite: {why}"
    for word in PLACEHOLDERS:
        assert any(re.search(rf"\b{word}\b", c) for c in lines), f"unused placeholder {word}"


def test_rewrites_only_add_budget_options():
    """A rewritten line keeps the README's subcommand and every option it names."""
    for command in commands():
        if command in SKIP:
            continue
        before = [t for t in shlex.split(re.sub(r"[\[\]|]", " ", command))
                  if t.startswith("--")]
        after = shlex.split(re.sub(r"[\[\]|]", " ", rewrite(command)))
        assert after[:2] == shlex.split(command)[:2], command
        assert set(before) <= set(after), f"{command!r}: rewrite dropped an option"


# ------------------------------------------------------------------ --help names every method


@pytest.mark.parametrize("subcommand", ["eval", "solve"])
@pytest.mark.slow
def test_help_names_every_registered_method(subcommand, capsys):
    from jaxshop_baselines.cli import main
    from jaxshop_baselines.methods import available_methods

    assert main([subcommand, "--help"]) == 0
    text = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))  # unwrap lines
    missing = [m for m in available_methods() if not re.search(rf"(?<![\w-]){m}(?![\w-])", text)]
    assert not missing, f"`jaxshop {subcommand} --help` does not name {missing}"
