"""Packaged benchmark data, bounds by content (fingerprints) and folder suites."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxshop
from jaxshop.instances import bounds, formats, registry, taillard
from jaxshop.instances.types import FJSPInstance, pad, stack, unstack

REPO = Path(__file__).resolve().parents[2]
PACKAGED = REPO / "jaxshop" / "instances" / "data"
SHARED = REPO.parent / "shared" / "benchmarks"
FINGERPRINTS = REPO / "jaxshop" / "instances" / "fingerprints.json"


def tiny_job_shop() -> FJSPInstance:
    return FJSPInstance.from_job_shop([[0, 1], [1, 0]], [[3, 2], [4, 1]])


def assert_same(a, b) -> None:
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        np.testing.assert_array_equal(np.asarray(getattr(a, f.name)), getattr(b, f.name))


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)


# ---------------------------------------------------------------------------------------
# Packaged data and data_dir
# ---------------------------------------------------------------------------------------


def test_data_dir_defaults_to_the_packaged_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert registry.data_dir() == registry.packaged_data_dir() == PACKAGED.resolve()
    assert jaxshop.data_dir() == PACKAGED.resolve()
    mk01 = jaxshop.load("mk01")
    assert_same(mk01, formats.read_fjs(PACKAGED / "fjsp" / "brandimarte" / "Mk01.fjs"))
    assert mk01.shape == (10, 6, 6)
    assert jaxshop.load("la01").shape == (10, 5, 5)
    for name in ("brandimarte", "lawrence", "ft"):
        assert all(x.bounds is not None for x in registry.suite(name))


def test_packaged_files():
    names = sorted(p.name for p in (PACKAGED / "fjsp" / "brandimarte").iterdir())
    assert names == [f"Mk{k:02d}.fjs" for k in range(1, 11)]
    classic = {p.name for p in (PACKAGED / "jssp" / "classic").iterdir()}
    assert classic == {f"{n}.txt" for n in ("ft06", "ft10", "ft20")} | {
        f"la{k:02d}.txt" for k in range(1, 41)
    }
    assert "Brandimarte" in (PACKAGED / "SOURCES.md").read_text()
    if SHARED.is_dir():  # the packaged files are byte copies of the shared notes' files
        for path in PACKAGED.rglob("*"):
            if path.is_file() and path.suffix in (".fjs", ".txt"):
                shared = SHARED / path.relative_to(PACKAGED)
                assert path.read_bytes() == shared.read_bytes(), path


def test_data_dir_errors_name_the_options(tmp_path, monkeypatch):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a directory.*--data-dir"):
        registry.data_dir(a_file)
    with pytest.raises(ValueError, match="does not exist.*JAXSHOP_DATA"):
        registry.data_dir(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"--data-dir"):
        registry.data_dir(tmp_path / "missing")
    monkeypatch.setenv(registry.DATA_ENV, str(a_file))
    with pytest.raises(ValueError, match=r"from \$JAXSHOP_DATA\) is a file"):
        registry.data_dir()
    monkeypatch.setenv(registry.DATA_ENV, str(tmp_path))
    assert registry.data_dir() == tmp_path.resolve()
    with pytest.raises(ValueError, match=r"Mk01.fjs not found.*from \$JAXSHOP_DATA"):
        jaxshop.load("mk01")
    monkeypatch.setenv(registry.DATA_ENV, "")  # empty: ignored
    assert registry.data_dir() == PACKAGED.resolve()


# ---------------------------------------------------------------------------------------
# Fingerprints and bounds by content
# ---------------------------------------------------------------------------------------


def test_shipped_fingerprints_match_the_instances():
    shipped = json.loads(FINGERPRINTS.read_text())
    assert shipped["version"] == bounds.FINGERPRINT_VERSION
    table = shipped["instances"]
    with_bounds = [n for n in registry.builtin_names() if bounds.best_known(n) is not None]
    assert list(table) == with_bounds and len(table) == 120 + 80 + 10 + 3 + 40
    for name in with_bounds:
        instance = registry.load(name, data_dir=registry.packaged_data_dir())
        assert bounds.instance_fingerprint(instance) == table[name], name
        assert bounds.best_known_for(instance) == (name, bounds.best_known(name))
    assert len(set(table.values())) == len(table)  # no two built-ins share a content
    assert bounds.builtin_fingerprints() == table


@pytest.mark.slow
def test_make_fingerprints_script_reproduces_the_file(tmp_path):
    out = tmp_path / "fp.json"
    script = REPO / "scripts" / "make_fingerprints.py"
    subprocess.run([sys.executable, str(script), "-o", str(out)], check=True, cwd=tmp_path)
    assert out.read_text() == FINGERPRINTS.read_text()


def test_fingerprint_ignores_padding_and_format():
    for name in ("ta001", "ta01", "mk01", "la01"):
        x = jaxshop.load(name)
        fp = bounds.instance_fingerprint(x)
        if name == "ta001":
            sizes = {"max_jobs": 25, "max_machines": 7}
        else:
            n, o, m = x.shape
            sizes = {"max_jobs": n + 3, "max_ops": o + 2, "max_machines": m + 1}
        assert bounds.instance_fingerprint(pad(x, **sizes)) == fp
        batch = stack([x, jaxshop.load("ta002" if name == "ta001" else "ft06")], **sizes)
        assert bounds.instance_fingerprint(unstack(batch)[0]) == fp
        assert bounds.best_known_for(pad(x, **sizes))[0] == name
        with pytest.raises(ValueError, match="unbatched"):
            bounds.instance_fingerprint(batch)
    la01 = jaxshop.load("la01")
    as_fjs = formats.parse_fjs(formats.write_fjs(la01), "la01.fjs")
    assert bounds.best_known_for(as_fjs) == ("la01", (666, 666))
    # Mk06 with the 15-machine header of some copies (machines 11-15 unused) is still Mk06.
    text = (PACKAGED / "fjsp" / "brandimarte" / "Mk06.fjs").read_text()
    first, rest = text.split("\n", 1)
    assert first.split()[:2] == ["10", "10"]
    wide = formats.parse_fjs("10 15 3\n" + rest, "Mk06-15.fjs")
    assert wide.shape[2] == 15 and bounds.best_known_for(wide) == ("mk06", (57, 57))


def test_fingerprint_sees_every_value():
    ta001 = taillard.taillard_pfsp(1)
    p = np.asarray(ta001.processing_times).copy()
    p[3, 2] += 1
    changed = type(ta001).from_array(p)
    assert bounds.instance_fingerprint(changed) != bounds.instance_fingerprint(ta001)
    assert bounds.best_known_for(changed) is None
    # The same numbers as a job shop (every job visits 0..m-1) are another problem.
    jobs = FJSPInstance.from_job_shop(
        np.tile(np.arange(p.shape[1]), (p.shape[0], 1)), np.asarray(ta001.processing_times)
    )
    assert bounds.instance_fingerprint(jobs) != bounds.instance_fingerprint(ta001)
    assert bounds.best_known_for(jobs) is None
    a, b = tiny_job_shop(), FJSPInstance.from_job_shop([[0, 1], [1, 0]], [[3, 2], [4, 2]])
    assert bounds.instance_fingerprint(a) != bounds.instance_fingerprint(b)
    flexible = FJSPInstance.from_operations([[{0: 3, 1: 3}, {1: 2}], [{1: 4}, {0: 1}]], 2)
    assert bounds.instance_fingerprint(flexible) != bounds.instance_fingerprint(a)


def test_renamed_files_get_bounds_by_content(tmp_path):
    fake = tmp_path / "ta001.txt"
    fake.write_text(formats.write_jssp(tiny_job_shop()))
    assert bounds.best_known_for(jaxshop.load(fake)) is None
    assert bounds.best_known("ta001") == (1278, 1278)  # the table itself is unchanged
    copy = tmp_path / "foo.fjs"
    copy.write_bytes((PACKAGED / "fjsp" / "brandimarte" / "Mk01.fjs").read_bytes())
    assert bounds.best_known_for(jaxshop.load(copy)) == ("mk01", (40, 40))
    mine = tmp_path / "mine.txt"
    mine.write_text(formats.write_taillard_pfsp(taillard.taillard_pfsp(1)))
    assert bounds.best_known_for(jaxshop.load(mine)) == ("ta001", (1278, 1278))
    # NamedInstance.best_known goes by content, not by name.
    assert registry.NamedInstance("ta001", jaxshop.load(fake), "2x2").best_known is None
    assert registry.NamedInstance("x", jaxshop.load(copy), "10x6").best_known == (40, 40)
    given = registry.NamedInstance("x", jaxshop.load(fake), "2x2", (5, 7), "file:b.csv")
    assert given.best_known == (5, 7)


def test_builtin_suite_with_other_files_gets_no_borrowed_bounds(tmp_path):
    folder = tmp_path / "fjsp" / "brandimarte"
    folder.mkdir(parents=True)
    for k in range(1, 11):
        src = PACKAGED / "fjsp" / "brandimarte" / f"Mk{k:02d}.fjs"
        (folder / src.name).write_bytes(src.read_bytes())
    (folder / "Mk02.fjs").write_text(formats.write_fjs(tiny_job_shop()))
    items = registry.suite("brandimarte", data_dir=tmp_path)
    by_name = {x.name: x for x in items}
    assert by_name["mk02"].bounds is None and by_name["mk02"].best_known is None
    assert by_name["mk02"].bounds_source is None
    assert by_name["mk01"].bounds == (40, 40)
    assert by_name["mk01"].bounds_source == "builtin:mk01"


# ---------------------------------------------------------------------------------------
# Built-in suites
# ---------------------------------------------------------------------------------------


def test_list_suites_describe_themselves():
    suites = registry.list_suites()
    assert [s.name for s in suites] == list(registry.SUITES)
    for s in suites:
        assert s.description and s.problem in ("pfsp", "jssp", "fjsp") and s.names
        assert jaxshop.instances.problem_of(jaxshop.load(s.names[0])) == s.problem
        assert all(registry.problem_kind(n) == s.problem for n in s.names)
    assert len(registry.builtin_names()) == 253


def test_builtin_suite_groups():
    items = registry.suite("taillard-jssp", groups=["15x15", "50x20"])
    assert [x.name for x in items] == [f"ta{k:02d}" for k in (*range(1, 11), *range(61, 71))]
    assert all(x.bounds == bounds.best_known(x.name) for x in items)
    assert all(x.bounds_source == f"builtin:{x.name}" for x in items)
    assert len(registry.suite("ft", group="6x6", groups=["20x5"])) == 2
    assert len(registry.suite("ft", groups="10x10")) == 1
    with pytest.raises(ValueError, match=r"size group '7x7'.*its size groups: 6x6, 10x10, 20x5"):
        registry.suite("ft", groups=["6x6", "7x7"])


def test_builtin_names_win_over_folders(tmp_path, monkeypatch):
    (tmp_path / "ft").mkdir()
    (tmp_path / "ft" / "x.txt").write_text(formats.write_jssp(tiny_job_shop()))
    monkeypatch.chdir(tmp_path)
    assert [x.name for x in registry.suite("ft")] == ["ft06", "ft10", "ft20"]
    assert [x.name for x in registry.suite("./ft")] == ["x"]
    assert [x.name for x in registry.suite(Path("ft"))] == ["x"]


# ---------------------------------------------------------------------------------------
# Folder suites
# ---------------------------------------------------------------------------------------


def _mixed_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ta001.txt").write_text(formats.write_jssp(tiny_job_shop()))
    (folder / "foo.fjs").write_bytes((PACKAGED / "fjsp" / "brandimarte" / "Mk01.fjs").read_bytes())
    (folder / "b_flow").write_text(formats.write_taillard_pfsp(taillard.taillard_pfsp(2)))
    (folder / "la.TXT").write_text(formats.write_jssp(jaxshop.load("la02")))
    # Not instances: hidden files, other extensions, notes, folders.
    (folder / ".hidden.txt").write_text("garbage")
    (folder / "README.md").write_text("# notes")
    (folder / "README.txt").write_text("notes")
    (folder / "results.csv").write_text("a,b\n1,2\n")
    (folder / "meta.json").write_text("{}")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "x.txt").write_text("garbage")
    return folder


def test_folder_suite_reads_every_instance_file(tmp_path):
    folder = _mixed_folder(tmp_path / "mine")
    items = registry.suite(str(folder))
    assert [x.name for x in items] == ["b_flow", "foo", "la", "ta001"]
    got = {x.name: (x.group, x.bounds, x.bounds_source) for x in items}
    assert got == {
        "b_flow": ("20x5", (1359, 1359), "builtin:ta002"),
        "foo": ("10x6", (40, 40), "builtin:mk01"),
        "la": ("10x5", (655, 655), "builtin:la02"),
        "ta001": ("2x2", None, None),
    }
    assert [x.name for x in registry.suite(folder, groups=["2x2", "10x6"])] == ["foo", "ta001"]
    with pytest.raises(ValueError, match=r"'9x9'.*its size groups: 20x5, 10x6, 10x5, 2x2"):
        registry.suite(folder, groups=["9x9"])


def test_folder_suite_of_the_packaged_classics():
    items = registry.suite(PACKAGED / "jssp" / "classic")
    assert len(items) == 43
    for x in items:
        assert x.bounds_source == f"builtin:{x.name}"
        assert x.bounds == bounds.best_known(x.name)


@pytest.mark.parametrize(
    "filename, text",
    [
        ("bounds.json", json.dumps({"instances": {"FOO": {"lb": 30, "ub": 41, "x": 1}}})),
        ("bounds.json", json.dumps({"foo": {"ub": 41}, "other": 5})),
        ("bounds.json", json.dumps({"foo": 41, "ta001": {"lb": 6, "ub": 9}})),
        ("bounds.csv", "name,lb,ub\nfoo,30,41\nta001,6,9\n"),
        ("bounds.csv", "# comment\nName , UB\n\nfoo, 41\n"),
    ],
)
def test_folder_bounds_files_take_precedence(tmp_path, filename, text):
    folder = _mixed_folder(tmp_path / "mine")
    (folder / filename).write_text(text)
    got = {x.name: (x.bounds, x.bounds_source) for x in registry.suite(folder)}
    lb = 30 if "30" in text else 0
    assert got["foo"] == ((lb, 41), f"file:{folder / filename}")
    assert got["la"] == ((655, 655), "builtin:la02")  # no entry: by content
    if "ta001" in text:
        assert got["ta001"] == ((6, 9), f"file:{folder / filename}")
    else:
        assert got["ta001"] == (None, None)


@pytest.mark.parametrize(
    "filename, text, message",
    [
        ("bounds.json", "{not json", r"bounds.json: not valid JSON .*line 1"),
        ("bounds.json", "[1, 2]", r"bounds.json: expected an object"),
        ("bounds.json", '{"instances": [1]}', r"bounds.json: expected an object"),
        ("bounds.json", '{"foo": {"lb": 3}}', r"bounds.json: instance 'foo': has no 'ub'"),
        ("bounds.json", '{"foo": "40"}', r"bounds.json: instance 'foo': the bound must be"),
        ("bounds.json", '{"foo": -1}', r"bounds.json: instance 'foo'.*non-negative"),
        ("bounds.json", '{"foo": true}', r"bounds.json: instance 'foo'.*integer"),
        ("bounds.json", '{"foo": {"lb": 50, "ub": 40}}', r"bounds.json: instance 'foo': lb 50"),
        ("bounds.json", '{"foo": 1, "FOO": 2}', r"bounds.json: instance 'FOO': listed twice"),
        ("bounds.csv", "", r"bounds.csv: empty"),
        ("bounds.csv", "foo,40\n", r"bounds.csv, line 1: header must be"),
        ("bounds.csv", "name,lb,ub\nfoo,1,2\nbar,x,3\n", r"bounds.csv, line 3: lb must be"),
        ("bounds.csv", "name,ub\n\nfoo,1,2\n", r"bounds.csv, line 3: expected 2 fields"),
        ("bounds.csv", "name,lb,ub\nfoo,5,2\n", r"bounds.csv, line 2: lb 5 is above ub 2"),
        ("bounds.csv", "name,ub\n,5\n", r"bounds.csv, line 2: empty name"),
        ("bounds.csv", "name,ub\nfoo,5\nFoo,6\n", r"bounds.csv, line 3: 'Foo' listed twice"),
    ],
)
def test_malformed_bounds_files(tmp_path, filename, text, message):
    folder = _mixed_folder(tmp_path / "mine")
    (folder / filename).write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        registry.suite(folder)
    assert "\n" not in str(err.value) and str(folder / filename) in str(err.value)


def test_folder_suite_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"'{empty}' holds no instance files"):
        registry.suite(empty)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "bounds.json").write_text("{}")
    (notes / "README").write_text("x")
    (notes / "table.csv").write_text("x")
    with pytest.raises(ValueError, match="holds no instance files"):
        registry.suite(notes)
    with pytest.raises(ValueError, match="not an existing folder nor a built-in suite"):
        registry.suite(tmp_path / "missing")
    with pytest.raises(ValueError, match="taillard-pfsp"):
        registry.suite("nope")
    with pytest.raises(ValueError, match="empty suite name"):
        registry.suite(" ")
    (tmp_path / "one.txt").write_text(formats.write_jssp(tiny_job_shop()))
    with pytest.raises(ValueError, match="is a file, not a folder"):
        registry.suite(tmp_path / "one.txt")
    with pytest.raises(TypeError):
        registry.suite(3)
    both = _mixed_folder(tmp_path / "both")
    (both / "bounds.json").write_text("{}")
    (both / "bounds.csv").write_text("name,ub\n")
    with pytest.raises(ValueError, match="both bounds.json and bounds.csv"):
        registry.suite(both)
    twice = _mixed_folder(tmp_path / "twice")
    (twice / "FOO.txt").write_text(formats.write_jssp(tiny_job_shop()))
    with pytest.raises(ValueError, match="FOO.txt and foo.fjs have the same instance name"):
        registry.suite(twice)
    broken = _mixed_folder(tmp_path / "broken")
    (broken / "bad.txt").write_text("2 2\n0 1 1\n")
    with pytest.raises(ValueError, match="bad.txt, line"):
        registry.suite(broken)


def test_read_folder_bounds(tmp_path):
    assert registry.read_folder_bounds(tmp_path) == ({}, None)
    (tmp_path / "bounds.csv").write_text("\ufeffname,lb,ub\nTa001,,1278\n")
    table, path = registry.read_folder_bounds(tmp_path)
    assert table == {"ta001": (0, 1278)} and path == tmp_path / "bounds.csv"


def test_exports():
    import jaxshop.instances as inst

    for name in (
        "best_known_for",
        "instance_fingerprint",
        "list_suites",
        "Suite",
        "packaged_data_dir",
        "size_group",
    ):
        assert name in inst.__all__ and hasattr(inst, name)
