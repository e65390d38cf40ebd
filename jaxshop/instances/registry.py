"""Built-in benchmark names, the data directory, `load` and benchmark suites.

Taillard instances are generated (no files needed); Brandimarte, Fisher–Thompson and
Lawrence instances are read from the data directory (see `data_dir`), laid out as
`fjsp/brandimarte/Mk01.fjs` and `jssp/classic/ft06.txt`, `jssp/classic/la01.txt`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from jaxshop.instances import bounds, taillard
from jaxshop.instances.formats import read_instance
from jaxshop.instances.types import Instance

#: Environment variable naming the benchmark data directory.
DATA_ENV = "JAXSHOP_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[2]  # the folder above the `jaxshop` package
_DEFAULT_RELATIVE = Path("..") / "shared" / "benchmarks"

DataDir = str | PathLike | None


def data_dir(explicit: DataDir = None) -> Path:
    """The benchmark data directory.

    In order: `explicit`; the `JAXSHOP_DATA` environment variable; `../shared/benchmarks`
    relative to the current directory; the same relative to the repository root. Raises
    `ValueError` when none exists.
    """
    if explicit is not None:
        return _existing_dir(Path(explicit), "the data_dir argument")
    env = os.environ.get(DATA_ENV)
    if env:
        return _existing_dir(Path(env), f"${DATA_ENV}")
    tried = [Path.cwd() / _DEFAULT_RELATIVE, _REPO_ROOT / _DEFAULT_RELATIVE]
    for candidate in tried:
        if candidate.is_dir():
            return candidate.resolve()
    raise ValueError(
        "no benchmark data directory found; pass data_dir=... or set "
        f"${DATA_ENV} (tried: {', '.join(str(p) for p in tried)})"
    )


def _existing_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise ValueError(f"benchmark data directory {path} (from {what}) does not exist")
    return path.resolve()


# ---------------------------------------------------------------------------------------
# Built-in instance names
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Generated:
    """A Taillard instance made by its generator."""

    make: Callable[[int], Instance]
    index: int

    def __call__(self, root: DataDir) -> Instance:
        return self.make(self.index)


@dataclass(frozen=True)
class _DataFile:
    """An instance file below the data directory (file names matched case-insensitively)."""

    folder: str
    filename: str
    format: str

    def __call__(self, root: DataDir) -> Instance:
        base = data_dir(root)
        for folder in (base / self.folder, base):
            path = folder / self.filename
            if path.is_file():
                return read_instance(path, self.format)
            if folder.is_dir():
                for other in sorted(folder.iterdir()):
                    if other.name.lower() == self.filename.lower() and other.is_file():
                        return read_instance(other, self.format)
        raise ValueError(
            f"{self.filename} not found in {base / self.folder} (data directory {base}); "
            f"pass data_dir=... or set ${DATA_ENV}"
        )


_BUILTINS: dict[str, Callable[[DataDir], Instance]] = {
    **{
        taillard.pfsp_name(k): _Generated(taillard.taillard_pfsp, k)
        for k in range(1, taillard.NUM_PFSP + 1)
    },
    **{
        taillard.jssp_name(k): _Generated(taillard.taillard_jssp, k)
        for k in range(1, taillard.NUM_JSSP + 1)
    },
    **{f"mk{k:02d}": _DataFile("fjsp/brandimarte", f"Mk{k:02d}.fjs", "fjs") for k in range(1, 11)},
    **{
        name: _DataFile("jssp/classic", f"{name}.txt", "jssp")
        for name in ("ft06", "ft10", "ft20", *(f"la{k:02d}" for k in range(1, 41)))
    },
}

_VALID = "ta001-ta120 (PFSP), ta01-ta80 (JSSP), mk01-mk10, ft06, ft10, ft20, la01-la40"


def builtin_names() -> list[str]:
    """Every built-in instance name (lower case)."""
    return list(_BUILTINS)


def load(spec: str | PathLike, data_dir: DataDir = None, format: str | None = None) -> Instance:
    """A built-in instance by name (case-insensitive) or an instance file by path.

    `ta001`–`ta120` give PFSP, `ta01`–`ta80` JSSP (generated); `mk01`–`mk10`, `ft06`,
    `ft10`, `ft20`, `la01`–`la40` are read from the data directory. Anything else must be
    an existing file; its format is sniffed unless `format` is given.
    """
    if isinstance(spec, str):
        builtin = _BUILTINS.get(spec.strip().lower())
        if builtin is not None:
            return builtin(data_dir)
    if not isinstance(spec, (str, PathLike)):
        raise TypeError(f"load expects a name or a path, got {type(spec).__name__}")
    path = Path(spec)
    if path.is_file():
        return read_instance(path, format)
    raise ValueError(f"unknown instance {str(spec)!r}: not an existing file nor one of {_VALID}")


# ---------------------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedInstance:
    """An instance of a suite with its name and size group (e.g. '20x5')."""

    name: str
    instance: Instance
    group: str

    @property
    def best_known(self) -> tuple[int, int] | None:
        """`(lb, ub)` of the best-known makespan, if tabulated."""
        return bounds.best_known(self.name)


@dataclass(frozen=True)
class Suite:
    """A named list of built-in instances."""

    name: str
    description: str
    names: tuple[str, ...]


def size_group(instance: Instance) -> str:
    """'<jobs>x<machines>' of an unbatched instance, e.g. '20x5'."""
    jobs = int(np.asarray(instance.job_mask).sum())
    machines = int(np.asarray(instance.machine_mask).sum())
    return f"{jobs}x{machines}"


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "taillard-pfsp",
            "Taillard (1993) permutation flow shop ta001-ta120, 12 size groups of 10",
            tuple(taillard.pfsp_name(k) for k in range(1, taillard.NUM_PFSP + 1)),
        ),
        Suite(
            "taillard-jssp",
            "Taillard (1993) job shop ta01-ta80, 8 size groups of 10",
            tuple(taillard.jssp_name(k) for k in range(1, taillard.NUM_JSSP + 1)),
        ),
        Suite(
            "brandimarte",
            "Brandimarte (1993) flexible job shop Mk01-Mk10",
            tuple(f"mk{k:02d}" for k in range(1, 11)),
        ),
        Suite(
            "lawrence",
            "Lawrence (1984) job shop la01-la40",
            tuple(f"la{k:02d}" for k in range(1, 41)),
        ),
        Suite("ft", "Fisher & Thompson (1963) job shop ft06, ft10, ft20", ("ft06", "ft10", "ft20")),
    )
}


def suite(name: str, data_dir: DataDir = None, group: str | None = None) -> list[NamedInstance]:
    """The instances of suite `name` (see `SUITES`), optionally only one size `group`."""
    key = name.strip().lower()
    if key not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}")
    out = []
    for inst_name in SUITES[key].names:
        instance = load(inst_name, data_dir)
        named = NamedInstance(inst_name, instance, size_group(instance))
        if group is None or named.group == group:
            out.append(named)
    if group is not None and not out:
        raise ValueError(f"suite {key!r} has no instances of size group {group!r}")
    return out


def problem_kind(name: str) -> str | None:
    """'pfsp', 'jssp' or 'fjsp' for a built-in name without loading it, else None."""
    builtin = _BUILTINS.get(name.strip().lower())
    if isinstance(builtin, _Generated):
        return "pfsp" if builtin.make is taillard.taillard_pfsp else "jssp"
    if isinstance(builtin, _DataFile):
        return "fjsp" if builtin.format == "fjs" else "jssp"
    return None


__all__ = [
    "DATA_ENV",
    "SUITES",
    "NamedInstance",
    "Suite",
    "builtin_names",
    "data_dir",
    "load",
    "problem_kind",
    "size_group",
    "suite",
]
