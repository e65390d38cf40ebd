"""Command-line option parsing shared by every `jaxshop` command and trainer.

`ArgumentParser` turns every usage error into one `UsageError` (printed by the CLI as one
line naming the option, exit code 2) instead of argparse's usage block; the `type=`
helpers below check values where they are parsed, so a bad number never reaches a compile:
integers in a range (never silently clamped or rounded), finite floats in a range, PRNG
seeds that `jax.random.PRNGKey` maps one-to-one, and writable output paths.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

#: Largest seed: `jax.random.PRNGKey` maps seeds beyond 32 bits onto others without x64.
MAX_SEED = 2**32 - 1
INT32_MAX = 2**31 - 1


class UsageError(ValueError):
    """A bad command line: printed as one line, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (raised as `UsageError`, never `SystemExit(2)`)."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def int_in(low: int, high: int | None = None, what: str = "an integer") -> Callable[[str], int]:
    """`type=` for an integer in `[low, high]` (`high=None`: no upper limit)."""

    def parse(text: str) -> int:
        token = text.strip()
        digits = token.lstrip("+-")
        if not digits.isdigit() or len(digits) > 30:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        value = int(token)
        if value < low or (high is not None and value > high):
            limit = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {limit}, got {value}")
        return value

    return parse


def float_in(low: float, high: float = math.inf, low_open: bool = False,
             what: str = "a number") -> Callable[[str], float]:
    """`type=` for a finite float in `[low, high]` (`(low, high]` with `low_open`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        too_low = value <= low if low_open else value < low
        if too_low or value > high:
            lo = f"> {low:g}" if low_open else f">= {low:g}"
            hi = "" if math.isinf(high) else f" and <= {high:g}"
            raise argparse.ArgumentTypeError(f"must be {lo}{hi}, got {text}")
        return value

    return parse


seed = int_in(0, MAX_SEED, "a seed (an integer)")
positive_int = int_in(1, INT32_MAX)
count = int_in(0, INT32_MAX)


def output_file(suffixes: tuple[str, ...] = ()) -> Callable[[str], Path]:
    """`type=` for a file to write: its folder must exist; with `suffixes`, a missing
    suffix gets the first one and another suffix is refused."""

    def parse(text: str) -> Path:
        path = Path(text)
        if not text.strip() or path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a file name")
        if suffixes:
            if not path.suffix:
                path = path.with_suffix(suffixes[0])
            elif path.suffix.lower() not in suffixes:
                raise argparse.ArgumentTypeError(
                    f"{text!r}: the file type must be one of {', '.join(suffixes)}"
                )
        parent = path.parent
        if not parent.is_dir():
            raise argparse.ArgumentTypeError(f"folder {str(parent)!r} of {text!r} does not exist")
        problem = unwritable(path)
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write {text!r}: {problem}")
        return path

    return parse


def read_json_file(path: str | Path, what: str = "JSON file") -> Any:
    """The JSON value in `path`; a one-line `ValueError` naming the file when it cannot be
    read, is binary or is not JSON (with the line and column), never a traceback."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: damaged or not a {what} (binary bytes)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: damaged or not a {what} ({err.msg}: line {err.lineno} "
                         f"column {err.colno})") from None


#: Exit code of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


def unwritable(path: Path) -> str | None:
    """Why `path` cannot be written, or None: tried for real (an existing file is opened
    for appending, a new one created and removed), since permission bits say nothing for
    root or on read-only and virtual file systems. Checked before any work, so a long run
    never ends in "Permission denied"."""
    try:
        if path.exists():
            with path.open("ab"):
                pass
        else:
            with path.open("xb"):
                pass
            path.unlink()
    except OSError as err:
        return err.strerror or str(err)
    return None


def existing_dir(text: str) -> Path:
    """`type=` for a folder that must exist."""
    path = Path(text)
    if path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"folder {text!r} does not exist")
    return path


def one_line(message: object, limit: int = 400) -> str:
    """A message folded onto one line (and cut at `limit` characters)."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
