"""The fab's regime and parameter files: the one home of their options, checks and records.

A *regime* picks the variant of the default Mini-Fab (`default_params`): how lots are
released (`release`: Pa and Pb lots per day, each uniform in LO..HI, or the `weekly`
plan) and which disturbances run (`setups`, `maintenance`, `breakdowns`). The same names
are the command-line options (`--fab-release LO,HI`, `--fab-weekly`, `--fab-setups`,
`--fab-maintenance`, `--fab-breakdowns`) of `jaxshop eval --suite fab` and
`jaxshop train ddqn --env fab`, and the `fab_*` fields of a DDQN config, so a model's
folder says which fab it was trained on.

Parameter files (`--fab-params FILE.json`): a JSON object of `FabParams` fields, each a
(nested) list or number; fields left out keep their default (`default_params()`).
`params_to_json` writes every field, and its output reads back bit for bit, so the
`fab_params` record of an evaluation is itself a parameter file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from jaxshop.fab.generator import default_params, validate_params
from jaxshop.fab.types import ID_RANGE, FabParams
from jaxshop.options import read_json_file

RELEASE_MAX = 100  # lots of one product per day
#: A (checked) regime: `release` is `(lo, hi)`, the other keys are switches.
Regime = dict[str, tuple[int, int] | bool]
#: A JSON value as `params_to_json` writes a field: a number, a boolean or nested lists.
JsonField = int | float | bool | list
DEFAULT_REGIME: Regime = {
    "release": (8, 12), "weekly": False, "setups": False, "maintenance": False,
    "breakdowns": False,
}
#: regime key -> help of its option `--fab-KEY` (dest and DDQN config field `fab_KEY`)
REGIME_HELP = {
    "release": "Pa and Pb lots released per day, each uniform in LO..HI (default 8,12)",
    "weekly": "release the weekly plan (Pa 51, Pb 30, TW 3 lots a week) instead",
    "setups": "a 20-minute setup when machine Me changes step",
    "maintenance": "preventive maintenance on every machine",
    "breakdowns": "random failures and repairs of machines Mc and Md",
}
FLAGS = {key: "--fab-" + key for key in DEFAULT_REGIME}


def dest(key: str) -> str:
    """The argparse dest and DDQN config field of regime `key` (`fab_release`, ...)."""
    return "fab_" + key


# ------------------------------------------------------------------------ regime


def check_release(value: object, name: str = "fab_release") -> tuple[int, int]:
    """`(lo, hi)` of two integers `0 <= lo <= hi <= RELEASE_MAX`; ValueError naming `name`."""
    items = list(value) if isinstance(value, (list, tuple)) else None
    if (items is None or len(items) != 2
            or any(isinstance(x, bool) or not isinstance(x, (int, float, np.integer))
                   or not math.isfinite(x) or int(x) != x for x in items)):
        raise ValueError(f"{name} must be two integers LO,HI, got {value!r}")
    lo, hi = (int(x) for x in items)
    if not 0 <= lo <= hi <= RELEASE_MAX:
        raise ValueError(f"{name} must satisfy 0 <= LO <= HI <= {RELEASE_MAX}, got {lo},{hi}")
    return lo, hi


def release_arg(text: str) -> tuple[int, int]:
    """argparse `type=` of `--fab-release LO,HI`."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(p.lstrip("+-").isdigit() and len(p) < 10 for p in parts):
        raise argparse.ArgumentTypeError(f"expected LO,HI (two integers), got {text!r}")
    try:
        return check_release((int(parts[0]), int(parts[1])), "LO,HI")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def check_regime(regime: Mapping[str, object], where: str = "fab regime") -> Regime:
    """The complete, checked regime: defaults for missing keys; ValueError naming the key."""
    unknown = sorted(set(regime) - set(DEFAULT_REGIME))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (known: {', '.join(DEFAULT_REGIME)})")
    out = {**DEFAULT_REGIME, **regime}
    out["release"] = check_release(out["release"], f"{where}: release")
    for key in ("weekly", "setups", "maintenance", "breakdowns"):
        if not isinstance(out[key], (bool, np.bool_)):
            raise ValueError(f"{where}: {key} must be true or false, got {out[key]!r}")
        out[key] = bool(out[key])
    return out


def add_regime_options(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """Adds `--fab-release LO,HI` and the `--fab-weekly/-setups/-maintenance/-breakdowns`
    switches (dest `fab_KEY`, default None = not given); `scope` prefixes each help."""
    parser.add_argument(FLAGS["release"], dest=dest("release"), type=release_arg,
                        default=None, metavar="LO,HI", help=scope + REGIME_HELP["release"])
    for key in ("weekly", "setups", "maintenance", "breakdowns"):
        parser.add_argument(FLAGS[key], dest=dest(key), action="store_const", const=True,
                            default=None, help=scope + REGIME_HELP[key])


def regime_given(args: argparse.Namespace) -> Regime:
    """The regime keys given on the command line (`--fab-...`), checked for conflicts."""
    given = {key: getattr(args, dest(key)) for key in DEFAULT_REGIME
             if getattr(args, dest(key), None) is not None}
    if given.get("weekly") and "release" in given:
        raise ValueError(f"{FLAGS['release']} does not apply with {FLAGS['weekly']} (the "
                         "weekly plan fixes the releases); give one of them")
    return given


def describe_regime(regime: Mapping[str, object]) -> str:
    """A short phrase: `releases 7..9 lots a day`, `the weekly plan, with breakdowns`."""
    r = check_regime(regime)
    text = "the weekly plan" if r["weekly"] else (
        "releases {}..{} lots a day".format(*r["release"]))
    extras = [key for key in ("setups", "maintenance", "breakdowns") if r[key]]
    return text + (f", with {', '.join(extras)}" if extras else "")


def regime_params(regime: Mapping[str, object]) -> FabParams:
    """The `FabParams` of a regime (`default_params` of its keys)."""
    return default_params(**check_regime(regime))


# ------------------------------------------------------------------------ parameter files

_KINDS = {"b": "true/false values", "i": "integers", "f": "numbers"}


def _kind(template: np.ndarray) -> str:
    return "b" if template.dtype == np.bool_ else "i" if template.dtype.kind in "iu" else "f"


def _leaves(value: object) -> Iterator[object]:
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _leaf_ok(x: object, kind: str) -> bool:
    if kind == "b":
        return isinstance(x, bool)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    if kind == "i":
        return isinstance(x, int) and -(2**31) <= x < 2**31
    return math.isfinite(x)


def params_from_json(data: object, source: str, base: FabParams | None = None) -> FabParams:
    """`FabParams` from a JSON object of fields (the others from `base`, default
    `default_params()`); ValueError `"{source}: {field} ..."` for anything wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object of FabParams fields, got "
                         f"{type(data).__name__}")
    base = default_params() if base is None else base
    names = [f.name for f in dataclasses.fields(FabParams)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{source}: unknown FabParams field {unknown[0]!r} (fields: "
                         f"{', '.join(names)})")
    values = {}
    for name, value in data.items():
        template = np.asarray(getattr(base, name))
        kind = _kind(template)
        if not all(_leaf_ok(x, kind) for x in _leaves(value)):
            raise ValueError(f"{source}: {name} must hold {_KINDS[kind]}, got "
                             f"{json.dumps(value)[:60]}")
        try:
            array = np.asarray(value, dtype=template.dtype)
        except ValueError:
            raise ValueError(f"{source}: {name} is not a rectangular array") from None
        if array.ndim != template.ndim:
            raise ValueError(f"{source}: {name} must have {template.ndim} dimension(s) "
                             f"(shape like {template.shape}), got shape {array.shape}")
        values[name] = array
    return base.replace(**values)


def load_params(path: str | Path, total_days: int) -> FabParams:
    """The `FabParams` of a parameter file, checked for `total_days` simulated days;
    a one-line ValueError naming the file (and the field) when it is bad."""
    path = Path(path)
    data = read_json_file(path, "fab parameters file")
    params = params_from_json(data, str(path))
    validate_params(params, total_days=total_days, max_lots=ID_RANGE - 1, source=str(path))
    return params


def _json_value(x: np.ndarray) -> JsonField:
    if x.dtype.kind != "f":
        return x.tolist()
    # the shortest text of each float32 that reads back exactly (0.85, not 0.8500000238)
    flat = [float(str(v)) for v in x.reshape(-1)]
    return flat[0] if x.ndim == 0 else np.array(flat, dtype=object).reshape(x.shape).tolist()


def params_to_json(params: FabParams) -> dict[str, JsonField]:
    """Every `FabParams` field as JSON (lists, numbers, booleans); reads back exactly
    with `params_from_json`."""
    return {f.name: _json_value(np.asarray(getattr(params, f.name)))
            for f in dataclasses.fields(FabParams)}


__all__ = [
    "DEFAULT_REGIME", "FLAGS", "REGIME_HELP", "RELEASE_MAX", "add_regime_options",
    "check_regime", "check_release", "describe_regime", "dest", "load_params",
    "params_from_json", "params_to_json", "regime_given", "regime_params", "release_arg",
]
