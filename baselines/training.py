"""Trainer registry behind `jaxshop train AGENT ...`: name -> `main(argv) -> exit code`."""

from __future__ import annotations

from collections.abc import Callable


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


def get_trainer(name: str) -> Callable[[list[str]], int]:
    """The trainer registered under `name`; ValueError for an unknown name."""
    try:
        return TRAINERS[name]
    except KeyError:
        raise ValueError(
            f"unknown trainer {name!r}; available: {', '.join(sorted(TRAINERS))}"
        ) from None


def available_trainers() -> list[str]:
    return sorted(TRAINERS)
