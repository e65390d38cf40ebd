"""Built-in benchmark names, the data directory, `load` and benchmark suites.

Taillard instances are generated (no files needed); Brandimarte, Fisher–Thompson and
Lawrence instances are read from the data directory (see `data_dir`), laid out as
`fjsp/brandimarte/Mk01.fjs` and `jssp/classic/ft06.txt`, `jssp/classic/la01.txt`. A copy
of those files ships inside the package (`jaxshop/instances/data`, see `SOURCES.md`
there), so every built-in name and suite works without any separate data folder.

Best-known bounds are attached by content, never by name (`bounds.best_known_for`), or
from a `bounds.json` / `bounds.csv` beside the files of a folder suite (`suite`).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from jaxshop.instances import bounds as _bounds
from jaxshop.instances import taillard
from jaxshop.instances.formats import read_instance
from jaxshop.instances.types import Instance

#: Environment variable naming the benchmark data directory.
DATA_ENV = "JAXSHOP_DATA"
#: The instance files shipped with the package (always present).
PACKAGED_DATA = Path(__file__).resolve().parent / "data"

DataDir = str | PathLike | None


def packaged_data_dir() -> Path:
    """The folder of benchmark files shipped inside the package."""
    return PACKAGED_DATA


def data_dir(explicit: DataDir = None) -> Path:
    """The benchmark data directory.

    In order: `explicit` (the CLI's `--data-dir`); the `JAXSHOP_DATA` environment
    variable; the copy shipped with the package (`packaged_data_dir()`). Raises
    `ValueError` when the folder given by the first two does not exist or is a file.
    """
    if explicit is not None:
        return _existing_dir(Path(explicit), "--data-dir / data_dir=")
    env = os.environ.get(DATA_ENV)
    if env:
        return _existing_dir(Path(env), f"${DATA_ENV}")
    return PACKAGED_DATA


def _existing_dir(path: Path, what: str) -> Path:
    if path.is_dir():
        return path.resolve()
    problem = (
        "is a file, not a directory"
        if path.is_file()
        else "is not a directory"
        if path.exists()
        else "does not exist"
    )
    raise ValueError(
        f"benchmark data directory {path} (from {what}) {problem}; give an existing "
        f"folder, or leave out --data-dir and ${DATA_ENV} to use the packaged instances"
    )


def _data_source(explicit: DataDir) -> str:
    if explicit is not None:
        return "from --data-dir / data_dir="
    if os.environ.get(DATA_ENV):
        return f"from ${DATA_ENV}"
    return "the packaged data"


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
        path = self.find(base)
        if path is None:
            hint = (
                "the package install is incomplete"
                if base == PACKAGED_DATA
                else f"fix or leave out --data-dir / ${DATA_ENV} to use the packaged copy"
            )
            raise ValueError(
                f"{self.filename} not found in {base / self.folder} (data directory {base}, "
                f"{_data_source(root)}); {hint}"
            )
        return read_instance(path, self.format)

    def find(self, base: Path) -> Path | None:
        """The file below `base` (in `folder`, else directly in `base`), or None."""
        for folder in (base / self.folder, base):
            path = folder / self.filename
            if path.is_file():
                return path
            if folder.is_dir():
                for other in sorted(folder.iterdir()):
                    if other.name.lower() == self.filename.lower() and other.is_file():
                        return other
        return None


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
    `ft10`, `ft20`, `la01`–`la40` are read from the data directory (`data_dir`: the
    packaged copy unless `data_dir` / `$JAXSHOP_DATA` names another). Anything else must
    be an existing file; its format is sniffed unless `format` is given.
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

Bounds = tuple[int, int]


@dataclass(frozen=True)
class NamedInstance:
    """An instance of a suite with its name, size group (e.g. '20x5') and bounds.

    `bounds` is the best-known `(lb, ub)` found when the suite was built (from a bounds
    file beside a folder suite, else by content), `bounds_source` where it came from:
    `'builtin:<name>'` when the content equals that built-in instance, `'file:<path>'`
    for a bounds file, None without bounds.
    """

    name: str
    instance: Instance
    group: str
    bounds: Bounds | None = None
    bounds_source: str | None = None

    @property
    def best_known(self) -> Bounds | None:
        """`bounds` if set, else the bounds of a built-in instance with the same content."""
        if self.bounds is not None:
            return self.bounds
        match = _bounds.best_known_for(self.instance)
        return None if match is None else match[1]


@dataclass(frozen=True)
class Suite:
    """A named list of built-in instances of one problem ('pfsp', 'jssp' or 'fjsp')."""

    name: str
    description: str
    names: tuple[str, ...]
    problem: str


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
            "pfsp",
        ),
        Suite(
            "taillard-jssp",
            "Taillard (1993) job shop ta01-ta80, 8 size groups of 10",
            tuple(taillard.jssp_name(k) for k in range(1, taillard.NUM_JSSP + 1)),
            "jssp",
        ),
        Suite(
            "brandimarte",
            "Brandimarte (1993) flexible job shop Mk01-Mk10",
            tuple(f"mk{k:02d}" for k in range(1, 11)),
            "fjsp",
        ),
        Suite(
            "lawrence",
            "Lawrence (1984) job shop la01-la40",
            tuple(f"la{k:02d}" for k in range(1, 41)),
            "jssp",
        ),
        Suite(
            "ft",
            "Fisher & Thompson (1963) job shop ft06, ft10, ft20",
            ("ft06", "ft10", "ft20"),
            "jssp",
        ),
    )
}


def list_suites() -> list[Suite]:
    """The built-in suites, in a fixed order."""
    return list(SUITES.values())


#: File extensions (lower case; '' = none) a folder suite reads as instances.
INSTANCE_SUFFIXES = frozenset(
    {"", ".txt", ".fjs", ".fjsp", ".jss", ".jsp", ".jssp", ".fsp", ".pfsp", ".prb", ".dat",
     ".data", ".in", ".inst", ".instance"}
)  # fmt: skip
#: File stems (lower case) a folder suite never reads as instances.
_NOT_INSTANCES = frozenset({"bounds", "readme", "license", "licence", "notes", "sources",
                            "changelog", "copying"})  # fmt: skip
_BOUNDS_FILES = ("bounds.json", "bounds.csv")


def suite(
    name_or_path: str | PathLike,
    data_dir: DataDir = None,
    group: str | None = None,
    groups: Iterable[str] | None = None,
    format: str | None = None,
) -> list[NamedInstance]:
    """The instances of a built-in suite (see `SUITES`) or of a folder of instance files.

    A string that names a built-in suite (case-insensitive) is that suite, even if a
    folder of that name exists (write `./lawrence` for the folder); any other string or
    path must be an existing folder. `data_dir` only matters for built-in suites.

    A folder suite is every regular file directly in the folder whose name does not start
    with '.', whose extension is one of `INSTANCE_SUFFIXES` (case-insensitive; '' = no
    extension) and whose stem is not bounds/README/LICENSE/NOTES/SOURCES/CHANGELOG/COPYING;
    everything else (`*.json`, `*.csv`, `*.md`, subfolders, ...) is skipped. Each such file
    must parse (in `format`, else sniffed by `read_instance`, which refuses a file two
    layouts read as different problems). Files are taken sorted by name and
    named by their stem (stems must differ case-insensitively). Bounds come from a
    `bounds.json` (`{"instances": {name: {"lb": .., "ub": ..}}}`, `{name: ub}` or
    `{name: {"ub": ..}}`) or a `bounds.csv` (header `name,lb,ub` or `name,ub`) in the
    folder, names matched case-insensitively, a missing lb read as 0; an instance without
    an entry there gets the bounds of the built-in instance with the same content, if any.

    `group` (one size group such as '20x5') and `groups` (several) keep only those size
    groups; a group the suite does not have raises `ValueError` listing those it has.
    """
    folder = _suite_folder(name_or_path)
    if folder is None and format is not None:
        raise ValueError(f"--format applies to a folder of instance files, but "
                         f"{str(name_or_path)!r} is a built-in suite")
    if folder is None:
        key = str(name_or_path).strip().lower()
        label = f"suite {key!r}"
        items = []
        for inst_name in SUITES[key].names:
            instance = load(inst_name, data_dir)
            items.append(_named(inst_name, instance, None, None))
    else:
        label = f"suite folder {str(folder)!r}"
        items = _folder_suite(folder, format)
    return _select_groups(items, group, groups, label)


def _suite_folder(name_or_path: str | PathLike) -> Path | None:
    """None for a built-in suite name, else the folder (checked to exist)."""
    if isinstance(name_or_path, str):
        if name_or_path.strip().lower() in SUITES:
            return None
        if not name_or_path.strip():
            raise ValueError(f"empty suite name; valid: {', '.join(SUITES)} or a folder")
    elif not isinstance(name_or_path, PathLike):
        raise TypeError(f"suite expects a name or a folder, got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"suite {str(name_or_path)!r} is a file, not a folder of instances")
    raise ValueError(
        f"unknown suite {str(name_or_path)!r}: not an existing folder nor a built-in suite "
        f"({', '.join(SUITES)})"
    )


def _named(name: str, instance: Instance, given: Bounds | None, source: str | None
           ) -> NamedInstance:
    if given is None:
        match = _bounds.best_known_for(instance)
        if match is not None:
            given, source = match[1], f"builtin:{match[0]}"
    return NamedInstance(name, instance, size_group(instance), given, source)


def _select_groups(
    items: list[NamedInstance], group: str | None, groups: Iterable[str] | None, label: str
) -> list[NamedInstance]:
    wanted = [] if group is None else [group]
    if groups is not None:
        wanted += [groups] if isinstance(groups, str) else list(groups)
    if not wanted:
        return items
    have = list(dict.fromkeys(x.group for x in items))
    unknown = [g for g in wanted if g not in have]
    if unknown:
        raise ValueError(
            f"{label} has no instances of size group {', '.join(map(repr, unknown))}; "
            f"its size groups: {', '.join(have)}"
        )
    return [x for x in items if x.group in wanted]


def _instance_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        name = path.name
        if name.startswith(".") or not path.is_file():
            continue
        if name.lower() in _BOUNDS_FILES or path.stem.lower() in _NOT_INSTANCES:
            continue
        if path.suffix.lower() in INSTANCE_SUFFIXES:
            files.append(path)
    return files


def _folder_suite(folder: Path, format: str | None = None) -> list[NamedInstance]:
    files = _instance_files(folder)
    if not files:
        raise ValueError(
            f"suite folder {str(folder)!r} holds no instance files (extensions: "
            f"{', '.join(sorted(s or '(none)' for s in INSTANCE_SUFFIXES))})"
        )
    seen: dict[str, Path] = {}
    for path in files:
        other = seen.setdefault(path.stem.lower(), path)
        if other is not path:
            raise ValueError(
                f"suite folder {str(folder)!r}: {other.name} and {path.name} have the same "
                "instance name; rename one"
            )
    table, bounds_path = read_folder_bounds(folder)
    items = []
    for path in files:
        given = table.get(path.stem.lower())
        source = None if given is None else f"file:{bounds_path}"
        instance = read_instance(path, format)
        if given is not None and given[1] < (floor := _bounds.trivial_lower_bound(instance)):
            raise ValueError(
                f"{bounds_path}: instance {path.stem!r}: ub {given[1]} is below the "
                f"instance's own lower bound {floor} (no schedule can be that short)"
            )
        items.append(_named(path.stem, instance, given, source))
    return items


# ---------------------------------------------------------------------------------------
# Bounds files of folder suites
# ---------------------------------------------------------------------------------------


def read_folder_bounds(folder: str | PathLike) -> tuple[dict[str, Bounds], Path | None]:
    """`({lower-case name: (lb, ub)}, file)` from the folder's bounds.json or bounds.csv.

    `({}, None)` when there is neither; both at once, or a malformed file, raise a
    one-line `ValueError` naming the file (and the line, for CSV).
    """
    folder = Path(folder)
    present = [folder / n for n in _BOUNDS_FILES if (folder / n).is_file()]
    if not present:
        return {}, None
    if len(present) > 1:
        raise ValueError(
            f"suite folder {str(folder)!r} has both bounds.json and bounds.csv; keep one"
        )
    path = present[0]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file ({err.reason})") from None
    table = _bounds_json(text, path) if path.suffix == ".json" else _bounds_csv(text, path)
    return table, path


def _bound_value(value: object, what: str) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _check_pair(lb: int, ub: int, where: str) -> Bounds:
    if lb > ub:
        raise ValueError(f"{where}: lb {lb} is above ub {ub}")
    return lb, ub


def _bounds_json(text: str, path: Path) -> dict[str, Bounds]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    shape = '{"instances": {name: {"lb": .., "ub": ..}}}, {name: ub} or {name: {"ub": ..}}'
    table = data.get("instances", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected an object {shape}")
    out: dict[str, Bounds] = {}
    for name, entry in table.items():
        where = f"{path}: instance {name!r}"
        try:
            if isinstance(entry, dict):
                if "ub" not in entry:
                    raise ValueError("has no 'ub'")
                ub = _bound_value(entry["ub"], "ub")
                lb = _bound_value(entry.get("lb", 0), "lb")
            else:
                ub, lb = _bound_value(entry, "the bound"), 0
        except ValueError as err:
            raise ValueError(f"{where}: {err} (expected {shape})") from None
        key = name.strip().lower()
        if key in out:
            raise ValueError(f"{where}: listed twice (names are case-insensitive)")
        out[key] = _check_pair(lb, ub, where)
    return out


def _bounds_csv(text: str, path: Path) -> dict[str, Bounds]:
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    out: dict[str, Bounds] = {}
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if header is None:
            header = [c.lower() for c in cells]
            if header not in (["name", "lb", "ub"], ["name", "ub"], ["name", "ub", "lb"]):
                raise ValueError(
                    f"{where}: header must be 'name,lb,ub' or 'name,ub', got {','.join(cells)!r}"
                )
            continue
        if len(cells) != len(header):
            raise ValueError(f"{where}: expected {len(header)} fields ({','.join(header)})")
        values = dict(zip(header, cells, strict=True))
        name = values["name"]
        if not name:
            raise ValueError(f"{where}: empty name")
        try:
            ub = _bound_value(_csv_int(values["ub"]), "ub")
            lb = _bound_value(_csv_int(values.get("lb") or "0"), "lb")
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        key = name.lower()
        if key in out:
            raise ValueError(f"{where}: {name!r} listed twice (names are case-insensitive)")
        out[key] = _check_pair(lb, ub, where)
    if header is None:
        raise ValueError(f"{path}: empty; expected a 'name,lb,ub' or 'name,ub' header")
    return out


def _csv_int(cell: str) -> int | str:
    try:
        return int(cell)
    except ValueError:
        return cell


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
    "INSTANCE_SUFFIXES",
    "PACKAGED_DATA",
    "SUITES",
    "NamedInstance",
    "Suite",
    "builtin_names",
    "data_dir",
    "list_suites",
    "load",
    "packaged_data_dir",
    "problem_kind",
    "read_folder_bounds",
    "size_group",
    "suite",
]
