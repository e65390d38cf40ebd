"""`JSONConfig`: the JSON round-trip every agent's frozen config dataclass shares."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any


class JSONConfig:
    """Mixin for a frozen dataclass: `to_dict`/`to_json` and `from_dict`/`from_json`, which
    refuse unknown fields (a config from another agent or a typo) with a `ValueError`."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path):
        return cls.from_dict(json.loads(Path(path).read_text()))
