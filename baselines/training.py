"""Trainer registry behind `jaxshop train AGENT ...`: name -> `main(argv) -> exit code`."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable

from jaxshop.options import EXIT_INTERRUPTED


def _pointer_main(argv: list[str]) -> int:
    from jaxshop_baselines.pointer.train import main

    return main(argv)


TRAINERS: dict[str, Callable[[list[str]], int]] = {
    "pointer": _pointer_main,
    "ppo": lambda argv: __import__("jaxshop_baselines.ppo.train", fromlist=["main"]).main(argv),
    "kernel-q": lambda a: __import__("jaxshop_baselines.kernel_q.train", fromlist=["main"]).main(a),
    "ddqn": lambda argv: __import__("jaxshop_baselines.ddqn.train", fromlist=["main"]).main(argv),
    "distill": lambda a: __import__("jaxshop_baselines.distill.train", fromlist=["main"]).main(a),
}


def _interruptible(name: str, main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """`main` with Ctrl-C as one line: a run stopped by `TrainingInterrupted` (its work
    saved) prints how to resume it and returns 130."""

    def run(argv: list[str]) -> int:
        from jaxshop_baselines.loop import TrainingInterrupted

        try:
            return main(argv)
        except TrainingInterrupted as stop:
            from jaxshop import parallel

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
