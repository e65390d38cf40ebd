"""Text formats for scheduling instances: parsers and writers.

Every format has `parse_X(text, source) -> instance`, `read_X(path)` and
`write_X(instance) -> str`, with `parse_X(write_X(x)) == x`. Malformed input raises
`InstanceFormatError` (a `ValueError`) whose message starts with `"<source>, line N: "`.
`#` starts a comment in every format; blank lines are ignored; line numbers are those of
the original text (1-based).

Formats (names accepted by `read_instance(path, format=...)`):

* ``taillard-pfsp``: Taillard's flow-shop layout: an optional text header line, a line
  ``n m [seed [ub [lb]]]``, an optional ``processing times :`` line, then m rows (one per
  machine) of n times. Files holding several such blocks: `parse_taillard_pfsp_all`.
* ``pfsp-std``: ``n m`` then one line per job of m ``machine time`` pairs, machines
  0-based and listed in flow order 0..m-1 (ScheduleOpt ``tfsNNN.txt``).
* ``jssp``: OR-Library / JSPLIB job shop: ``n m`` then one line per job of exactly m
  ``machine time`` pairs in processing order, machines 0-based (a machine may repeat).
* ``taillard-jssp``: Taillard's job-shop layout: optional text header, ``n m [time_seed
  [machine_seed [ub [lb]]]]``, a ``Times`` block (n rows of m durations) and a
  ``Machines`` block (n rows of m machines, 1-based).
* ``fjs``: flexible job shop (Brandimarte, Hurink, ...): ``jobs machines [avg]`` then one
  line per job: the number of operations, then per operation the number k of eligible
  machines followed by k ``machine time`` pairs, machines 1-based.
* ``job-shop-lib-json``: job-shop-lib's JSON instance (``JobShopInstance.to_dict``): an
  object with ``duration_matrix`` (per job, one time per operation) and
  ``machines_matrix`` (per job, per operation a 0-based machine or a list of eligible
  machines, all with that one time), and ``metadata.num_machines`` when a machine is
  unused (jaxshop writes it); other keys are ignored. JSON has no comments; a parse error
  names the JSON line.

PyJobShop reads FJSPLIB files (``fjs``); job-shop-lib reads the ``jssp`` layout (its
"Taillard" files, ``#`` comments) and its JSON: `jaxshop solve FILE` reads all three.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TypeVar

import jax
import numpy as np

from jaxshop.instances.types import FJSPInstance, Instance, PFSPInstance

#: Largest accepted processing time (the same headroom `types` leaves for int32 sums).
MAX_TIME = int(np.iinfo(np.int32).max // 4)
#: Largest accepted padded array size (jobs × ops × machines) built from one file.
MAX_CELLS = 1 << 28

_INT = re.compile(r"[+-]?[0-9]+\Z")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_I = TypeVar("_I", PFSPInstance, FJSPInstance)  # what one block parses to


class InstanceFormatError(ValueError):
    """A malformed instance file; `source` and `line` say where."""

    def __init__(self, source: str, line: int, message: str):
        super().__init__(f"{source}, line {line}: {message}")
        self.source = source
        self.line = line


# ---------------------------------------------------------------------------------------
# Line reader
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    number: int
    tokens: list[str]

    def is_text(self) -> bool:
        """True when the first token is not a number (a header or block label)."""
        return not _NUMBER.match(self.tokens[0])


class _Reader:
    """Non-blank, comment-stripped lines with their original line numbers."""

    def __init__(self, text: str, source: str):
        self.source = source
        raw = text.removeprefix("\ufeff").splitlines()
        self.lines = [
            _Line(i, toks)
            for i, line in enumerate(raw, 1)
            if (toks := line.split("#", 1)[0].split())
        ]
        self.end_line = max(len(raw), 1)
        self.pos = 0
        if not self.lines:
            raise self.error(self.end_line, "empty file (no data, only blanks or comments)")

    def error(self, line: int, message: str) -> InstanceFormatError:
        return InstanceFormatError(self.source, line, message)

    def at_end(self) -> bool:
        return self.pos >= len(self.lines)

    def peek(self) -> _Line | None:
        return None if self.at_end() else self.lines[self.pos]

    def next(self, expected: str) -> _Line:
        if self.at_end():
            raise self.error(self.end_line, f"unexpected end of file, expected {expected}")
        self.pos += 1
        return self.lines[self.pos - 1]

    def finish(self, after: str) -> None:
        if not self.at_end():
            line = self.lines[self.pos]
            raise self.error(line.number, f"unexpected data after {after}: {line.tokens[0]!r}")

    def int(self, line: _Line, index: int, what: str, low: int = 0, high: int = MAX_TIME) -> int:
        """Token `index` of `line` as an integer in [low, high]."""
        if index >= len(line.tokens):
            raise self.error(line.number, f"line ends early, expected {what}")
        tok = line.tokens[index]
        if not _INT.match(tok):
            raise self.error(line.number, f"expected an integer for {what}, got {tok!r}")
        if len(tok) > 30:  # also keeps int() clear of its digit limit
            raise self.error(line.number, f"{what} is too large: {tok[:20]}...")
        value = int(tok)
        if value < low and low == 0:
            raise self.error(line.number, f"negative {what}: {value}")
        if not low <= value <= high:
            raise self.error(line.number, f"{what} is {value}, expected {low}..{high}")
        return value

    def ints(self, line: _Line, count: int, what: str, low: int = 0, high: int = MAX_TIME
             ) -> list[int]:
        """Exactly `count` integers in [low, high] on `line`."""
        self.count(line, count, what)
        return [self.int(line, i, f"{what}, value {i + 1}", low, high) for i in range(count)]

    def pairs(self, line: _Line, job: int, m: int) -> list[tuple[int, int]]:
        """Exactly m 0-based `machine time` pairs of job `job` (1-based) on `line`."""
        self.count(line, 2 * m, f"job {job} ({m} 'machine time' pairs)")
        return [
            (
                self.int(line, 2 * k, f"machine of job {job} operation {k + 1}", 0, m - 1),
                self.int(line, 2 * k + 1, f"processing time of job {job} operation {k + 1}"),
            )
            for k in range(m)
        ]

    def count(self, line: _Line, count: int, what: str) -> None:
        if len(line.tokens) != count:
            raise self.error(
                line.number, f"expected {count} values for {what}, found {len(line.tokens)}"
            )

    def sizes(self, line: _Line, extra: int, what: str) -> tuple[int, int]:
        """`n m` followed by at most `extra` further integers."""
        if not 2 <= len(line.tokens) <= 2 + extra:
            raise self.error(
                line.number,
                f"expected {what} ('n m' and up to {extra} more integers), "
                f"found {len(line.tokens)} values",
            )
        for i in range(2, len(line.tokens)):
            self.int(line, i, f"header value {i + 1}", 0, 2**63)
        n = self.int(line, 0, "the number of jobs", 1, 10**7)
        m = self.int(line, 1, "the number of machines", 1, 10**7)
        return n, m

    def label(self, words: str) -> _Line | None:
        """Consumes the next line if it is the text label starting with `words`."""
        line = self.peek()
        if line is not None and line.is_text():
            if " ".join(line.tokens).lower().startswith(words):
                self.pos += 1
                return line
        return None


def _parse_one(block: Callable[[_Reader], _I], after: str, text: str, source: str) -> _I:
    """One instance `block` and nothing after it (`after` names the block's end)."""
    r = _Reader(text, source)
    inst = block(r)
    r.finish(after)
    return inst


def _parse_all(block: Callable[[_Reader], _I], text: str, source: str) -> list[_I]:
    """Every instance `block` of a multi-instance file, at least one."""
    r = _Reader(text, source)
    out = [block(r)]
    while not r.at_end():
        out.append(block(r))
    return out


def _pair_jobs(
    text: str, source: str
) -> tuple[_Reader, _Line, int, Iterator[tuple[_Line, list[tuple[int, int]]]]]:
    """Reader, header line and m of an `n m` file whose jobs are m `machine time` pairs.

    The jobs come lazily as (line, pairs), so a caller's check on one job fails before the
    next line is read; the end of the data is checked once the last job is taken.
    """
    r = _Reader(text, source)
    head = r.next("'n m'")
    n, m = r.sizes(head, 0, "'n m'")

    def jobs() -> Iterator[tuple[_Line, list[tuple[int, int]]]]:
        for j in range(n):
            line = r.next(f"job {j + 1} of {n}")
            yield line, r.pairs(line, j + 1, m)
        r.finish(f"the last of the {n} jobs")

    return r, head, m, jobs()


def _build_fjsp(
    reader: _Reader, jobs: list[list[dict[int, int]]], m: int, line: int
) -> FJSPInstance:
    max_ops = max(len(ops) for ops in jobs)
    if len(jobs) * max_ops * m > MAX_CELLS:
        raise reader.error(line, f"instance too large ({len(jobs)} x {max_ops} x {m})")
    return FJSPInstance.from_operations(jobs, m, reader.source)


def _check_unbatched(instance: Instance, kind: type) -> None:
    if not isinstance(instance, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(instance).__name__}")
    ndim = 2 if kind is PFSPInstance else 3
    if np.ndim(instance.processing_times) != ndim:
        raise ValueError("cannot write a batch of instances; write them one at a time")


def _row(values: np.ndarray) -> str:
    # Width-3 fields as in Taillard's files, but always at least one separating space.
    return "".join(f" {int(v):2d}" for v in values)


# ---------------------------------------------------------------------------------------
# Helpers on instances
# ---------------------------------------------------------------------------------------


def pfsp_matrix(instance: PFSPInstance) -> np.ndarray:
    """The real (n_jobs, n_machines) int32 block of a (possibly padded) PFSP instance."""
    _check_unbatched(instance, PFSPInstance)
    p = np.asarray(instance.processing_times)
    return p[np.asarray(instance.job_mask)][:, np.asarray(instance.machine_mask)].astype(np.int32)


def job_shop_arrays(instance: FJSPInstance) -> tuple[np.ndarray, np.ndarray]:
    """(machines, times), each (n_jobs, n_ops) int32 for a job shop with equal-length jobs.

    Raises `ValueError` when an operation has several eligible machines or jobs differ in
    their number of operations.
    """
    _check_unbatched(instance, FJSPInstance)
    n_ops = np.asarray(instance.num_ops)
    real = n_ops > 0
    e = np.asarray(instance.eligible)[real]
    p = np.asarray(instance.processing_times)[real]
    n_ops = n_ops[real]
    op_mask = n_ops[:, None] > np.arange(e.shape[1])
    if (e.sum(-1)[op_mask] != 1).any():
        raise ValueError("not a job shop: some operation has several eligible machines")
    if len(set(n_ops.tolist())) != 1:
        raise ValueError("jobs have different numbers of operations")
    e, p = e[:, : n_ops[0]], p[:, : n_ops[0]]
    machines = e.argmax(-1)
    times = np.take_along_axis(p, machines[..., None], -1)[..., 0]
    return machines.astype(np.int32), times.astype(np.int32)


def _square_job_shop(instance: FJSPInstance, fmt: str) -> tuple[np.ndarray, np.ndarray, int]:
    try:
        machines, times = job_shop_arrays(instance)
    except ValueError as err:
        raise ValueError(f"cannot write the {fmt} format: {err}; use write_fjs instead") from err
    m = int(np.asarray(instance.machine_mask).sum())
    if machines.shape[1] != m:
        raise ValueError(
            f"the {fmt} format needs exactly one operation per machine in every job "
            f"({machines.shape[1]} operations, {m} machines); use write_fjs instead"
        )
    return machines, times, m


# ---------------------------------------------------------------------------------------
# (1) Taillard PFSP layout
# ---------------------------------------------------------------------------------------


def _taillard_pfsp_block(r: _Reader) -> PFSPInstance:
    first = r.next("a flow-shop instance")
    if first.is_text():  # "number of jobs, number of machines, initial seed, ..."
        first = r.next("the line 'n m seed ub lb'")
    n, m = r.sizes(first, 3, "'n m seed ub lb'")
    r.label("processing times")
    rows = []
    for i in range(m):
        line = r.next(f"the processing times of machine {i + 1} of {m}")
        rows.append(r.ints(line, n, f"processing times on machine {i + 1} (one per job)"))
    return PFSPInstance.from_array(np.array(rows, np.int32).T, r.source)


def parse_taillard_pfsp(text: str, source: str = "<string>") -> PFSPInstance:
    """One flow-shop instance in Taillard's layout (or its bare `n m` + m rows variant)."""
    return _parse_one(_taillard_pfsp_block, "the last machine row", text, source)


def parse_taillard_pfsp_all(text: str, source: str = "<string>") -> list[PFSPInstance]:
    """All instance blocks of a multi-instance Taillard file (e.g. `tai20_5.txt`)."""
    return _parse_all(_taillard_pfsp_block, text, source)


def write_taillard_pfsp(instance: PFSPInstance, seed: int = 0, ub: int = 0, lb: int = 0) -> str:
    """Taillard's layout: header, `n m seed ub lb`, `processing times :`, m rows of n."""
    p = pfsp_matrix(instance)
    n, m = p.shape
    lines = [
        "number of jobs, number of machines, initial seed, upper bound and lower bound :",
        f"{n:12d}{m:12d}{seed:12d}{ub:12d}{lb:12d}",
        "processing times :",
        *(_row(row) for row in p.T),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# (2) PFSP as `n m` + per-job `machine time` pairs
# ---------------------------------------------------------------------------------------


def parse_pfsp_std(text: str, source: str = "<string>") -> PFSPInstance:
    """`n m`, then per job m pairs `machine time` with machines 0..m-1 in order."""
    r, _, m, jobs = _pair_jobs(text, source)
    p = []
    for j, (line, pairs) in enumerate(jobs):
        for i, (mach, _t) in enumerate(pairs):
            if mach != i:
                raise r.error(
                    line.number,
                    f"job {j + 1}: pair {i + 1} is on machine {mach}, "
                    f"a flow shop visits machines 0..{m - 1} in order",
                )
        p.append([t for _, t in pairs])
    return PFSPInstance.from_array(p, source)


def write_pfsp_std(instance: PFSPInstance) -> str:
    """`n m` then one line of 0-based `machine time` pairs per job."""
    p = pfsp_matrix(instance)
    lines = [f"{p.shape[0]} {p.shape[1]}"]
    lines += [" ".join(f"{i} {t}" for i, t in enumerate(row)) for row in p]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# (3) OR-Library / JSPLIB job shop
# ---------------------------------------------------------------------------------------


def parse_jssp(text: str, source: str = "<string>") -> FJSPInstance:
    """`n m`, then per job exactly m `machine time` pairs (0-based machines)."""
    r, head, m, pair_jobs = _pair_jobs(text, source)
    jobs = [[{mach: t} for mach, t in pairs] for _, pairs in pair_jobs]
    return _build_fjsp(r, jobs, m, head.number)


def write_jssp(instance: FJSPInstance) -> str:
    """`n m` then per job its `machine time` pairs (0-based), OR-Library style."""
    machines, times, m = _square_job_shop(instance, "OR-Library job-shop")
    lines = [f"{machines.shape[0]} {m}"]
    lines += [
        " ".join(f"{mc} {t}" for mc, t in zip(mrow, trow, strict=True))
        for mrow, trow in zip(machines, times, strict=True)
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# (4) Taillard JSSP layout
# ---------------------------------------------------------------------------------------


def _taillard_jssp_block(r: _Reader) -> FJSPInstance:
    first = r.next("a job-shop instance")
    if first.is_text():  # "Nb of jobs, Nb of Machines, Time seed, ..."
        first = r.next("the line 'n m time_seed machine_seed ub lb'")
    n, m = r.sizes(first, 4, "'n m time_seed machine_seed ub lb'")
    blocks = {}
    for name, low, high in (("times", 0, MAX_TIME), ("machines", 1, m)):
        what = "processing times" if name == "times" else "machines"
        if r.label(name) is None:
            line = r.peek()
            raise r.error(
                r.end_line if line is None else line.number,
                f"expected the '{name.capitalize()}' line",
            )
        rows = []
        for j in range(n):
            line = r.next(f"{name} row {j + 1} of {n}")
            rows.append(r.ints(line, m, f"{what} of job {j + 1}", low, high))
        blocks[name] = rows
    jobs = [
        [{mc - 1: t} for mc, t in zip(mrow, trow, strict=True)]
        for mrow, trow in zip(blocks["machines"], blocks["times"], strict=True)
    ]
    return _build_fjsp(r, jobs, m, first.number)


def parse_taillard_jssp(text: str, source: str = "<string>") -> FJSPInstance:
    """One job-shop instance in Taillard's Times/Machines layout (machines 1-based)."""
    return _parse_one(_taillard_jssp_block, "the Machines block", text, source)


def parse_taillard_jssp_all(text: str, source: str = "<string>") -> list[FJSPInstance]:
    """All instance blocks of a multi-instance Taillard job-shop file."""
    return _parse_all(_taillard_jssp_block, text, source)


def write_taillard_jssp(
    instance: FJSPInstance,
    time_seed: int = 0,
    machine_seed: int = 0,
    ub: int = 0,
    lb: int = 0,
) -> str:
    """Taillard's layout: header, sizes/seeds/bounds, `Times` and `Machines` (1-based)."""
    machines, times, m = _square_job_shop(instance, "Taillard job-shop")
    n = machines.shape[0]
    lines = [
        "Nb of jobs, Nb of Machines, Time seed, Machine seed, Upper bound, Lower bound",
        f"{n:10d}{m:10d}{time_seed:11d}{machine_seed:11d}{ub:10d}{lb:10d}",
        "Times",
        *(_row(row) for row in times),
        "Machines",
        *(_row(row + 1) for row in machines),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# (5) .fjs flexible job shop
# ---------------------------------------------------------------------------------------


def parse_fjs(text: str, source: str = "<string>") -> FJSPInstance:
    """`.fjs`: `jobs machines [avg]`, then one line per job (machines 1-based)."""
    r = _Reader(text, source)
    head = r.next("'jobs machines [avg]'")
    if not 2 <= len(head.tokens) <= 3:
        raise r.error(
            head.number, f"expected 'jobs machines [avg]', found {len(head.tokens)} values"
        )
    if len(head.tokens) == 3 and not _NUMBER.match(head.tokens[2]):
        raise r.error(head.number, f"expected a number for avg, got {head.tokens[2]!r}")
    n = r.int(head, 0, "the number of jobs", 1, 10**7)
    m = r.int(head, 1, "the number of machines", 1, 10**7)
    jobs = []
    for j in range(n):
        line = r.next(f"job {j + 1} of {n}")
        jobs.append(_fjs_job(r, line, j + 1, m))
    r.finish(f"the last of the {n} jobs")
    return _build_fjsp(r, jobs, m, head.number)


def _fjs_job(r: _Reader, line: _Line, job: int, m: int) -> list[dict[int, int]]:
    n_ops = r.int(line, 0, f"the number of operations of job {job}", 1, 10**6)
    pos, ops = 1, []
    for k in range(1, n_ops + 1):
        where = f"job {job} operation {k} of {n_ops}"
        count = r.int(line, pos, f"the number of eligible machines of {where}", 1, m)
        alts: dict[int, int] = {}
        for a in range(count):
            mach = r.int(line, pos + 1 + 2 * a, f"machine of {where}", 1, m)
            if mach - 1 in alts:
                raise r.error(line.number, f"{where}: machine {mach} listed twice")
            alts[mach - 1] = r.int(line, pos + 2 + 2 * a, f"time of {where}")
        ops.append(alts)
        pos += 1 + 2 * count
    if pos != len(line.tokens):
        raise r.error(
            line.number,
            f"job {job}: {len(line.tokens) - pos} unexpected extra values after its "
            f"{n_ops} operations",
        )
    return ops


def write_fjs(instance: FJSPInstance) -> str:
    """`.fjs` text: `jobs<TAB>machines<TAB>avg`, then one line per job (1-based)."""
    _check_unbatched(instance, FJSPInstance)
    ops = instance.to_operations()
    m = int(np.asarray(instance.machine_mask).sum())
    n_alts = [len(a) for job in ops for a in job]
    avg = round(sum(n_alts) / max(len(n_alts), 1), 2)
    lines = [f"{len(ops)}\t{m}\t{avg:g}"]
    for job in ops:
        toks = [str(len(job))]
        for alts in job:
            toks.append(str(len(alts)))
            toks += [f"{mc + 1} {t}" for mc, t in alts.items()]
        lines.append(" ".join(toks))
    return "\n".join(lines) + "\n"


def parse_job_shop_lib_json(text: str, source: str = "<string>") -> FJSPInstance:
    """job-shop-lib's JSON instance: `duration_matrix` and `machines_matrix` per job."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InstanceFormatError(source, err.lineno, f"not JSON: {err.msg}") from None
    if not isinstance(data, dict) or not {"duration_matrix", "machines_matrix"} <= set(data):
        raise InstanceFormatError(source, 1, "expected an object with duration_matrix and "
                                  "machines_matrix (job-shop-lib's JobShopInstance.to_dict)")
    times, machines = data["duration_matrix"], data["machines_matrix"]
    if not isinstance(times, list) or not isinstance(machines, list) or not times or \
            len(times) != len(machines):
        raise InstanceFormatError(source, 1, "duration_matrix and machines_matrix must be "
                                  "non-empty lists with one row per job")
    chosen = [[(m if isinstance(m, list) else [m]) for m in row] if isinstance(row, list)
              else None for row in machines]
    flat = [k for row in chosen if row for ms in row for k in ms]
    if not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < 10**7
               for k in flat) or not flat:
        raise InstanceFormatError(source, 1, "machines_matrix: machines must be integers "
                                  "0..10^7 (0-based)")
    declared = data.get("metadata", {}).get("num_machines", 0) if isinstance(
        data.get("metadata"), dict) else 0
    m = max(max(flat) + 1, declared if isinstance(declared, int) and declared < 10**7 else 0)
    jobs = []
    for j, (t_row, m_row) in enumerate(zip(times, chosen, strict=True)):
        if not isinstance(t_row, list) or m_row is None or len(t_row) != len(m_row) or \
                not t_row:
            raise InstanceFormatError(source, 1, f"job {j}: duration_matrix and "
                                      "machines_matrix rows differ in length (or are empty)")
        ops = []
        for o, (t, ms) in enumerate(zip(t_row, m_row, strict=True)):
            if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t <= MAX_TIME:
                raise InstanceFormatError(source, 1, f"job {j} operation {o}: time {t!r} is "
                                          f"not an integer in 0..{MAX_TIME}")
            if not ms or len(set(ms)) != len(ms):
                raise InstanceFormatError(source, 1, f"job {j} operation {o}: machines "
                                          f"{ms!r} are empty or repeat")
            ops.append(dict.fromkeys(ms, t))
        jobs.append(ops)
    return _build_fjsp(_Reader(text, source), jobs, m, 1)


def write_job_shop_lib_json(instance: FJSPInstance) -> str:
    """job-shop-lib's JSON; ValueError for an operation whose eligible machines take
    different times (that layout has one time per operation)."""
    import json

    _check_unbatched(instance, FJSPInstance)
    ops = instance.to_operations()
    for j, job in enumerate(ops):
        for o, alts in enumerate(job):
            if len(set(alts.values())) > 1:
                raise ValueError(f"job-shop-lib-json: job {j} operation {o} takes different "
                                 "times on its machines; the layout has one per operation")
    return json.dumps({
        "name": "", "metadata": {"num_machines": int(np.asarray(instance.machine_mask).sum())},
        "duration_matrix": [[next(iter(a.values())) for a in job] for job in ops],
        "machines_matrix": [[(next(iter(a)) if len(a) == 1 else sorted(a)) for a in job]
                            for job in ops],
    }) + "\n"


# ---------------------------------------------------------------------------------------
# Registry and sniffing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """A text format: its parser, writer and the problem it holds."""

    name: str
    problem: str  # "pfsp" | "jssp" | "fjsp"
    parse: Callable[[str, str], Instance]
    write: Callable[[Instance], str]
    description: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("taillard-pfsp", "pfsp", parse_taillard_pfsp, write_taillard_pfsp,
               "Taillard flow shop: header, 'n m seed ub lb', m rows of n times"),
        Format("pfsp-std", "pfsp", parse_pfsp_std, write_pfsp_std,
               "flow shop: 'n m', per job m 'machine time' pairs (0-based)"),
        Format("jssp", "jssp", parse_jssp, write_jssp,
               "OR-Library/JSPLIB job shop: 'n m', per job m 'machine time' pairs (0-based)"),
        Format("taillard-jssp", "jssp", parse_taillard_jssp, write_taillard_jssp,
               "Taillard job shop: header, Times block, Machines block (1-based)"),
        Format("fjs", "fjsp", parse_fjs, write_fjs,
               "flexible job shop .fjs: 'jobs machines avg', per job its operations"),
        Format("job-shop-lib-json", "jssp", parse_job_shop_lib_json, write_job_shop_lib_json,
               "job-shop-lib JSON: duration_matrix, machines_matrix (lists: flexible)"),
    )
}  # fmt: skip

_ALIASES = {"orlib": "jssp", "jsplib": "jssp", "fjsp": "fjs", "taillard": "taillard-pfsp",
            "fjsplib": "fjs", "jsl": "job-shop-lib-json", "json": "job-shop-lib-json"}


def get_format(name: str) -> Format:
    """The `Format` called `name` (case-insensitive; aliases orlib/jsplib/fjsp)."""
    key = name.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown format {name!r}; valid: {', '.join(FORMATS)}")
    return FORMATS[key]


def _candidates(text: str) -> list[str]:
    """Formats worth trying for `text`, most plausible first."""
    if text.removeprefix("\ufeff").lstrip().startswith("{"):
        return ["job-shop-lib-json"]
    lines = [
        toks for line in text.removeprefix("\ufeff").splitlines()
        if (toks := line.split("#", 1)[0].lower().split())
    ]  # fmt: skip
    if not lines:
        return ["jssp"]
    labels = {toks[0] for toks in lines if not _NUMBER.match(toks[0])}
    if labels & {"nb", "times", "machines"}:
        return ["taillard-jssp"]
    if labels & {"number", "processing"}:
        return ["taillard-pfsp"]
    head = lines[0]
    if len(head) != 2:
        return ["fjs", "taillard-pfsp", "taillard-jssp"]
    data = lines[1:]
    if head[0].isdigit() and head[1].isdigit():
        n, m = int(head[0]), int(head[1])
        if data and len(data) == m and len(data[0]) == n and n != 2 * m:
            return ["taillard-pfsp", "jssp", "fjs"]
    return ["jssp", "fjs", "taillard-pfsp"]


def detect_format(text: str, filename: str | None = None) -> str:
    """Best guess at the format of `text` (`.fjs` files are always `fjs`)."""
    if filename is not None and Path(filename).suffix.lower() == ".fjs":
        return "fjs"
    return _candidates(text)[0]


def parse_instance(text: str, source: str = "<string>", format: str | None = None) -> Instance:
    """Parses `text` in `format`, or sniffs it: the first candidate format that parses.

    Without a format, `n m` + pair files read as job shops (`jssp`), never as `pfsp-std`.
    On failure the error of the most plausible format is raised. Text that two candidate
    formats read as different problems is refused (`ValueError` naming both): the same
    bytes must not silently mean another instance under another file name.
    """
    if format is not None:
        return get_format(format).parse(text, source)
    if Path(source).suffix.lower() == ".fjs":
        return parse_fjs(text, source)
    first_error: ValueError | None = None
    readings: dict[str, Instance] = {}
    for name in _candidates(text):
        try:
            readings[name] = FORMATS[name].parse(text, source)
        except ValueError as err:
            first_error = first_error or err
    if not readings:
        assert first_error is not None
        raise first_error
    (first, instance), *others = readings.items()
    differ = [name for name, other in others if not _same_instance(instance, other)]
    if differ:
        names = " and as ".join(f"{n} ({FORMATS[n].problem})" for n in [first, *differ])
        raise ValueError(
            f"{source}: ambiguous layout: it reads as {names}, different problems; name the "
            f"layout with --format (one of {', '.join(FORMATS)}) or use a .fjs suffix for fjs"
        )
    return instance


def _same_instance(a: Instance, b: Instance) -> bool:
    """Whether two parsed instances are the same problem with the same data."""
    if type(a) is not type(b):
        return False
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.shape(x) == np.shape(y) and np.array_equal(x, y)
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


def read_instance(path: str | PathLike, format: str | None = None) -> Instance:
    """Reads an instance file; the format is sniffed from extension/content if not given."""
    return parse_instance(_read_text(path), str(path), format)


def write_instance(instance: Instance, format: str | None = None) -> str:
    """Text of `instance`; default `taillard-pfsp` for PFSP, `jssp` for square job shops,
    else `fjs`."""
    if format is None:
        if isinstance(instance, PFSPInstance):
            format = "taillard-pfsp"
        else:
            try:
                _square_job_shop(instance, "jssp")
                format = "jssp"
            except ValueError:
                format = "fjs"
    return get_format(format).write(instance)


def _read_text(path: str | PathLike) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file ({err})") from err


def read_taillard_pfsp(path: str | PathLike) -> PFSPInstance:
    """`parse_taillard_pfsp` of a file."""
    return parse_taillard_pfsp(_read_text(path), str(path))


def read_pfsp_std(path: str | PathLike) -> PFSPInstance:
    """`parse_pfsp_std` of a file."""
    return parse_pfsp_std(_read_text(path), str(path))


def read_jssp(path: str | PathLike) -> FJSPInstance:
    """`parse_jssp` of a file."""
    return parse_jssp(_read_text(path), str(path))


def read_taillard_jssp(path: str | PathLike) -> FJSPInstance:
    """`parse_taillard_jssp` of a file."""
    return parse_taillard_jssp(_read_text(path), str(path))


def read_fjs(path: str | PathLike) -> FJSPInstance:
    """`parse_fjs` of a file."""
    return parse_fjs(_read_text(path), str(path))
