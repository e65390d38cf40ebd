"""Trainer registry behind `jaxshop train AGENT ...`: name -> `main(argv) -> exit code`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from jaxshop.options import EXIT_INTERRUPTED, seed

#: trainer name -> the module whose `SPEC` the one runner (`jaxshop_baselines.runner`) trains
SPECS = {"pointer": "jaxshop_baselines.pointer.train", "ppo": "jaxshop_baselines.ppo.train",
         "ddqn": "jaxshop_baselines.ddqn.train", "distill": "jaxshop_baselines.distill.train",
         "kernel-q": "jaxshop_baselines.kernel_q.train"}


def _runner_main(name: str, argv: list[str]) -> int:
    from importlib import import_module

    from jaxshop_baselines.runner import main

    return main(import_module(SPECS[name]).SPEC, argv)


TRAINERS: dict[str, Callable[[list[str]], int]] = {
    name: (lambda argv, name=name: _runner_main(name, argv)) for name in SPECS}


def _interruptible(name: str, main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """`main` with Ctrl-C as one line: a run stopped by `TrainingInterrupted` (its work
    saved) prints how to resume it and returns 130."""

    def run(argv: list[str]) -> int:
        from jaxshop_baselines.loop import TrainingInterrupted

        try:
            return main(argv)
        except TrainingInterrupted as stop:
            from jaxshop_baselines import parallel

            if parallel.is_main_process():
                mesh = [a for a in argv if a.split("=")[0] in _MESH_FLAGS]
                again = (" (with the same --mesh/--distributed options)" if mesh else "")
                print(f"jaxshop: {stop}; resume with: jaxshop train {name} --out "
                      f"{shlex.quote(str(stop.out))} --resume{again}", file=sys.stderr)
            return EXIT_INTERRUPTED

    return run


_MESH_FLAGS = ("--mesh", "--distributed", "--coordinator", "--num-processes", "--process-id")


def get_trainer(name: str) -> Callable[[list[str]], int]:
    """The trainer registered under `name` (Ctrl-C handled, see `_interruptible`);
    ValueError for an unknown name."""
    try:
        return _interruptible(name, TRAINERS[name])
    except KeyError:
        raise ValueError(
            f"unknown trainer {name!r}; available: {', '.join(sorted(TRAINERS))}"
        ) from None


def available_trainers() -> list[str]:
    return sorted(TRAINERS)


def add_run_options(p: argparse.ArgumentParser, default_out: str) -> None:
    """The run-folder options every trainer shares: --out, --resume, --seed, --no-progress,
    and the scale-out options of `jaxshop_baselines.parallel.add_mesh_options` (--mesh,
    --distributed, ...; the trainer calls `jaxshop_baselines.parallel.mesh_from_args`)."""
    from jaxshop_baselines.parallel import add_mesh_options

    p.add_argument("--out", default=None, help=f"run directory (default {default_out})")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint")
    p.add_argument("--seed", type=seed, default=0, help="PRNG seed, 0..2^32-1 (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_mesh_options(p)
