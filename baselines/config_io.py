"""`JSONConfig`: the JSON round-trip every agent's frozen config dataclass shares."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

from jaxshop.options import read_json_file

#: At most this many field names in one error message (then "and N more").
_LISTED = 6


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _type_name(hint: Any) -> str:
    if hint is float:
        return "a finite number"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value can stand for a field annotated `hint` (lists for tuples, ints
    for floats, never a bool for a number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return not args or all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args,
                                                                           strict=True))
    return True  # a type this check does not know: the dataclass checks it


class JSONConfig:
    """Mixin for a frozen dataclass: `to_dict`/`to_json` and `from_dict`/`from_json`, which
    refuse unknown fields (a config from another agent or a typo) with a `ValueError`;
    `from_json` also refuses a field of the wrong JSON type and names the file."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None):
        """`cls(**data)`; a one-line `ValueError` (naming `source` when given) for a
        non-object, unknown or missing fields, and values the config refuses."""
        where = f"{source}: " if source is not None else ""
        if not isinstance(data, dict):
            raise ValueError(f"{where}not a {cls.__name__} (a JSON object of fields expected, "
                             f"got {type(data).__name__})")
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        unknown = sorted(set(data) - {f.name for f in fields})
        missing = [f.name for f in fields if f.name not in data
                   and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if unknown or missing:
            problems = ([f"unknown fields {_names(unknown)}"] if unknown else []) + (
                [f"missing fields {_names(missing)}"] if missing else [])
            raise ValueError(f"{where}not a valid {cls.__name__}: {'; '.join(problems)}")
        if source is None:
            return cls(**data)
        try:
            return cls(**data)
        except (ValueError, TypeError) as err:
            text = " ".join(str(err).split())
            raise ValueError(f"{where}not a valid {cls.__name__} ({text})") from None

    @classmethod
    def check_types(cls, data: dict[str, Any], source: str | Path) -> None:
        """ValueError naming `source` and the first field whose JSON value has the wrong
        type for its annotation (e.g. a string for an int, NaN for a float)."""
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data and f.name in hints and not _fits(data[f.name], hints[f.name]):
                raise ValueError(
                    f"{source}: not a valid {cls.__name__}: field {f.name} must be "
                    f"{_type_name(hints[f.name])}, got {json.dumps(data[f.name])[:60]}")

    @classmethod
    def from_json(cls, path: str | Path):
        """The config saved in `path`; a one-line `ValueError` naming the file when it is
        unreadable, not JSON, not an object, or holds unknown, missing or mistyped fields."""
        path = Path(path)
        data = read_json_file(path)
        if isinstance(data, dict):
            cls.check_types(data, path)
        return cls.from_dict(data, source=path)
