"""Instance I/O: Taillard generator, text formats, bounds, `load` and suites."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaxshop
from jaxshop.instances import bounds, formats, registry, taillard
from jaxshop.instances.formats import InstanceFormatError
from jaxshop.instances.types import FJSPInstance, PFSPInstance

SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
#: Where reference data is looked up: the shared notes, the package's instance files, and
#: the copies of the checksum and bound files in tests/data (see its README).
ROOTS = (SHARED, registry.packaged_data_dir(), Path(__file__).resolve().parents[1] / "data")


def _shared(*parts: str) -> Path:
    for root in ROOTS:
        path = root.joinpath(*parts)
        if path.exists():
            return path
    pytest.skip(f"reference data not available: {'/'.join(parts)} is missing")


def _json(*parts: str) -> dict:
    return json.loads(_shared(*parts).read_text())


def assert_same(a, b) -> None:
    """Same instance type, same field shapes, dtypes and values."""
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = np.asarray(getattr(a, f.name)), np.asarray(getattr(b, f.name))
        assert x.dtype == y.dtype, f.name
        np.testing.assert_array_equal(x, y, err_msg=f.name)


# ---------------------------------------------------------------------------------------
# Taillard generator
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checksums() -> dict:
    return _json("taillard_checksums.json")


def _sha256_le_int32(*arrays: np.ndarray) -> str:
    data = np.concatenate([np.asarray(a).ravel() for a in arrays]).astype("<i4")
    return hashlib.sha256(data.tobytes()).hexdigest()


def test_checksum_definitions_are_the_ones_implemented(checksums):
    # The tests below compute the checksums as the JSON defines them; fail loudly if the
    # definition ever changes.
    d = checksums["definition"]
    assert "n_machines x n_jobs" in d["pfsp"] and "little-endian int32" in d["pfsp"]
    assert "concat(times, machines)" in d["jssp"] and "machines 0-indexed" in d["jssp"]


@pytest.mark.parametrize("k", range(1, 121))
def test_taillard_pfsp_checksum(k, checksums):
    inst = taillard.taillard_pfsp(k)
    n, m, _ = taillard.PFSP_SEEDS[k - 1]
    p = np.asarray(inst.processing_times)
    assert p.shape == (n, m) and p.dtype == np.int32
    assert inst.job_mask.all() and inst.machine_mask.all()
    assert p.min() >= 1 and p.max() <= 99
    # The JSON hashes the machine-major (n_machines, n_jobs) matrix.
    assert _sha256_le_int32(p.T) == checksums["pfsp"][f"ta{k:03d}"]


@pytest.mark.parametrize("k", range(1, 81))
def test_taillard_jssp_checksum(k, checksums):
    inst = taillard.taillard_jssp(k)
    n, m, _, _ = taillard.JSSP_SEEDS[k - 1]
    assert inst.shape == (n, m, m) and inst.is_job_shop()
    assert inst.processing_times.dtype == np.int32 and inst.num_ops.dtype == np.int32
    machines, times = formats.job_shop_arrays(inst)
    assert (np.sort(machines, axis=1) == np.arange(m)).all()  # each machine once per job
    assert _sha256_le_int32(times, machines) == checksums["jssp"][f"ta{k:02d}"]


def test_taillard_known_values():
    """Values printed in Taillard (1993) and in the 1996 C port of the generator."""
    p = taillard.taillard_pfsp(1).processing_times
    assert p[:5, 0].tolist() == [54, 83, 15, 71, 77]
    assert p[-3:, 4].tolist() == [18, 68, 28]
    machines, times = formats.job_shop_arrays(taillard.taillard_jssp(1))
    assert times[0, :4].tolist() == [94, 66, 10, 53]
    assert (machines[0, :4] + 1).tolist() == [7, 13, 5, 8]
    # 4x4 verification file of jsp_gen.c: (machine 1-based, time) pairs per job.
    machines, times = taillard.jssp_arrays(4, 4, 1166510396, 164000672)
    pairs = [
        [int(x) for k in range(4) for x in (machines[j, k] + 1, times[j, k])] for j in range(4)
    ]
    assert pairs == [
        [3, 54, 1, 34, 4, 61, 2, 2],
        [4, 9, 1, 15, 2, 89, 3, 70],
        [1, 38, 2, 19, 3, 28, 4, 87],
        [1, 95, 3, 34, 2, 7, 4, 29],
    ]


def test_lehmer_stream_matches_schrage_steps():
    for seed in (1, 873654221, taillard.MODULUS - 1, 17271):
        x, expected = seed, []
        for _ in range(3000):
            x = taillard.lehmer_next(x)
            expected.append(x)
        np.testing.assert_array_equal(taillard.lehmer_stream(seed, 3000), expected)


def test_uniform_ints_in_range_and_float_formula():
    seed, low, high = 123456789, 3, 17
    draws = taillard.uniform_ints(seed, 5000, low, high)
    x = taillard.lehmer_stream(seed, 5000)
    ref = [low + int(np.floor(v / taillard.MODULUS * (high - low + 1))) for v in x.tolist()]
    assert draws.tolist() == ref and draws.min() >= low and draws.max() <= high


def test_taillard_tables_and_bad_indices():
    assert len(taillard.PFSP_SEEDS) == 120 and len(taillard.JSSP_SEEDS) == 80
    assert taillard.pfsp_group(1) == "20x5" and taillard.pfsp_group(120) == "500x20"
    assert taillard.jssp_group(1) == "15x15" and taillard.jssp_group(80) == "100x20"
    for bad in (0, 121, -1, 1.0, True):
        with pytest.raises(ValueError):
            taillard.taillard_pfsp(bad)
    with pytest.raises(ValueError):
        taillard.taillard_jssp(81)


def test_taillard_seed_tables_match_bounds_notes():
    pf = _json("taillard_pfsp_bounds.json")["instances"]
    for k, (n, m, seed) in enumerate(taillard.PFSP_SEEDS, 1):
        e = pf[f"ta{k:03d}"]
        assert (e["n_jobs"], e["n_machines"], e["time_seed"]) == (n, m, seed)
    js = _json("taillard_jssp_bounds.json")["instances"]
    for k, (n, m, ts, ms) in enumerate(taillard.JSSP_SEEDS, 1):
        e = js[f"ta{k:02d}"]
        assert (e["n_jobs"], e["n_machines"], e["time_seed"], e["machine_seed"]) == (n, m, ts, ms)


# ---------------------------------------------------------------------------------------
# Formats: round trips
# ---------------------------------------------------------------------------------------

PFSP_FORMATS = ["taillard-pfsp", "pfsp-std"]
JSSP_FORMATS = ["jssp", "taillard-jssp", "fjs", "job-shop-lib-json"]


def _roundtrip(instance, fmt: str):
    f = formats.FORMATS[fmt]
    text = f.write(instance)
    back = f.parse(text, f"<{fmt}>")
    assert_same(back, instance)
    assert f.write(back) == text
    return text


@pytest.mark.parametrize("fmt", PFSP_FORMATS)
@pytest.mark.parametrize("k", [1, 45, 120])
def test_roundtrip_taillard_pfsp(fmt, k):
    _roundtrip(taillard.taillard_pfsp(k), fmt)


@pytest.mark.parametrize("fmt", JSSP_FORMATS)
@pytest.mark.parametrize("k", [1, 80])
def test_roundtrip_taillard_jssp(fmt, k):
    _roundtrip(taillard.taillard_jssp(k), fmt)


def test_roundtrip_shared_files():
    for path in sorted(_shared("fjsp", "brandimarte").glob("*.fjs")):
        _roundtrip(formats.read_fjs(path), "fjs")
    for path in sorted(_shared("jssp", "classic").glob("*.txt")):
        inst = formats.read_jssp(path)
        for fmt in JSSP_FORMATS:
            _roundtrip(inst, fmt)


@pytest.mark.parametrize(
    "args, fmt",
    [
        (("pfsp", "7"), "taillard-pfsp"),
        (("pfsp", "7", "--format", "std"), "pfsp-std"),
        (("jssp", "7"), "taillard-jssp"),
        (("jssp", "7", "--format", "std"), "jssp"),
    ],
)
def test_writers_match_reference_layout_bytes(args, fmt):
    script = _shared("taillard_gen.py")
    ref = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=True
    ).stdout
    if args[0] == "pfsp":
        inst, seeds = taillard.taillard_pfsp(7), {"seed": taillard.PFSP_SEEDS[6][2]}
    else:
        _, _, ts, ms = taillard.JSSP_SEEDS[6]
        inst, seeds = taillard.taillard_jssp(7), {"time_seed": ts, "machine_seed": ms}
    writer = formats.FORMATS[fmt].write
    assert (writer(inst, **seeds) if fmt.startswith("taillard") else writer(inst)) == ref
    assert_same(formats.parse_instance(ref, "<ref>", fmt), inst)


pfsp_instances = st.builds(
    lambda n, m, data: PFSPInstance.from_array(
        np.array(data.draw(st.lists(
            st.lists(st.integers(0, 10**6), min_size=m, max_size=m), min_size=n, max_size=n,
        )), np.int64)
    ),
    st.integers(1, 7), st.integers(1, 6), st.data(),
)  # fmt: skip


@st.composite
def job_shops(draw) -> FJSPInstance:
    n, m = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    machines = draw(st.lists(st.lists(st.integers(0, m - 1), min_size=m, max_size=m),
                             min_size=n, max_size=n))  # fmt: skip
    times = draw(st.lists(st.lists(st.integers(0, 9999), min_size=m, max_size=m),
                          min_size=n, max_size=n))  # fmt: skip
    jobs = [
        [{mc: t} for mc, t in zip(mr, tr, strict=True)]
        for mr, tr in zip(machines, times, strict=True)
    ]
    return FJSPInstance.from_operations(jobs, m)


@st.composite
def flexible_shops(draw) -> FJSPInstance:
    m = draw(st.integers(1, 5))
    op = st.dictionaries(st.integers(0, m - 1), st.integers(0, 999), min_size=1)
    jobs = draw(st.lists(st.lists(op, min_size=1, max_size=4), min_size=1, max_size=5))
    return FJSPInstance.from_operations(jobs, m)


@given(pfsp_instances, st.sampled_from(PFSP_FORMATS))
def test_roundtrip_random_pfsp(inst, fmt):
    _roundtrip(inst, fmt)


@given(job_shops(), st.sampled_from(JSSP_FORMATS))
def test_roundtrip_random_job_shop(inst, fmt):
    _roundtrip(inst, fmt)


@given(flexible_shops())
def test_roundtrip_random_fjs(inst):
    text = _roundtrip(inst, "fjs")
    assert_same(formats.parse_instance(text, "x.fjs"), inst)


@given(flexible_shops())
def test_fjs_tolerates_comments_blank_lines_crlf_and_tabs(inst):
    text = formats.write_fjs(inst)
    lines = text.splitlines()
    noisy = "# comment\r\n\r\n" + "\r\n".join(f"\t{line}  # note\r\n" for line in lines)
    assert_same(formats.parse_fjs(noisy), inst)


def test_square_job_shop_writers_reject_other_shapes():
    inst = FJSPInstance.from_operations([[{0: 3}], [{1: 4}, {0: 1}]], 2)
    with pytest.raises(ValueError, match="write_fjs"):
        formats.write_jssp(inst)
    flexible = FJSPInstance.from_operations([[{0: 3, 1: 2}, {1: 1}], [{1: 4}, {0: 1}]], 2)
    with pytest.raises(ValueError, match="job shop"):
        formats.write_taillard_jssp(flexible)
    assert formats.write_instance(flexible).startswith("2\t2\t")
    assert formats.write_instance(taillard.taillard_jssp(1)).startswith("15 15\n")


def test_padded_instances_write_their_real_part():
    inst = taillard.taillard_pfsp(1)
    padded = jaxshop.pad(inst, max_jobs=25, max_machines=7)
    assert formats.write_taillard_pfsp(padded) == formats.write_taillard_pfsp(inst)
    js = taillard.taillard_jssp(1)
    assert formats.write_fjs(jaxshop.pad(js, max_jobs=17, max_ops=16)) == formats.write_fjs(js)


def test_multi_instance_taillard_files():
    blocks = [formats.write_taillard_pfsp(taillard.taillard_pfsp(k)) for k in (1, 2, 3)]
    got = formats.parse_taillard_pfsp_all("".join(blocks), "tai20_5.txt")
    for k, inst in enumerate(got, 1):
        assert_same(inst, taillard.taillard_pfsp(k))
    blocks = [formats.write_taillard_jssp(taillard.taillard_jssp(k)) for k in (1, 2)]
    got = formats.parse_taillard_jssp_all("\n".join(blocks), "tai15_15.txt")
    for k, inst in enumerate(got, 1):
        assert_same(inst, taillard.taillard_jssp(k))


def test_taillard_pfsp_bare_variant():
    inst = formats.parse_taillard_pfsp("3 2\n1 2 3\n4 5 6\n")
    np.testing.assert_array_equal(inst.processing_times, [[1, 4], [2, 5], [3, 6]])
    assert formats.detect_format("3 2\n1 2 3\n4 5 6\n") == "taillard-pfsp"


def test_jsplib_comment_lines():
    text = "#+++++\n# instance ft06\n#+++++\n 2 2\n 0 3 1 4\n 1 5 0 6\n"
    inst = formats.parse_jssp(text, "ft.txt")
    assert inst.shape == (2, 2, 2)
    assert inst.to_operations() == [[{0: 3}, {1: 4}], [{1: 5}, {0: 6}]]


# ---------------------------------------------------------------------------------------
# Formats: malformed input
# ---------------------------------------------------------------------------------------

BAD = [
    # (format, text, line of the error, words in the message)
    ("taillard-pfsp", "", 1, "empty"),
    ("taillard-pfsp", "\n  \n# only a comment\n", 3, "empty"),
    ("taillard-pfsp", "2\n1 2\n", 1, "'n m"),
    ("taillard-pfsp", "2 2.5\n1 2\n", 1, "integer"),
    ("taillard-pfsp", "2 0\n", 1, "machines"),
    ("taillard-pfsp", "2 2\n1 2\n3\n", 3, "expected 2 values"),
    ("taillard-pfsp", "2 2\n1 2\n3 x\n", 3, "integer"),
    ("taillard-pfsp", "2 2\n1 -2\n3 4\n", 2, "negative"),
    ("taillard-pfsp", "2 2\n1 2\n", 2, "end of file"),
    ("taillard-pfsp", "header text\n2 2\nprocessing times :\n1 2\n3 4\n5 6\n", 6, "after"),
    ("pfsp-std", "2 2\n0 1 1 2\n1 3 0 4\n", 3, "order"),
    ("pfsp-std", "2 2\n0 1 1 2\n", 2, "end of file"),
    ("pfsp-std", "2 2 7\n0 1 1 2\n0 1 1 2\n", 1, "'n m'"),
    ("jssp", "# c\n2 2\n0 1 1 2\n0 3 2 4\n", 4, "machine"),
    ("jssp", "2 2\n0 1 1\n0 3 1 4\n", 2, "expected 4 values"),
    ("jssp", "2 2\n0 1 1 -5\n0 3 1 4\n", 2, "negative"),
    ("jssp", "2 2\n0 1 1 2\n", 2, "end of file"),
    ("jssp", "2 2\n0 1 1 2\n0 1 1 2\n0 1 1 2\n", 4, "after"),
    ("jssp", "2 2\n0 1 1 99999999999\n0 1 1 2\n", 2, "expected 0.."),
    ("taillard-jssp", "2 2\nTimes\n1 2\n3 4\n1 2\n2 1\n", 5, "Machines"),
    ("taillard-jssp", "2 2\nTimes\n1 2\n3 4\nMachines\n1 2\n0 1\n", 7, "1..2"),
    ("taillard-jssp", "2 2\nTimes\n1 2\n3 4\nMachines\n1 2\n", 6, "end of file"),
    ("taillard-jssp", "2 2\nTimes\n1 2 5\n3 4\nMachines\n1 2\n2 1\n", 3, "expected 2"),
    ("fjs", "", 1, "empty"),
    ("fjs", "a b\n", 1, "integer"),
    ("fjs", "2 2 x\n1 1 1 5\n1 1 2 5\n", 1, "avg"),
    ("fjs", "2 2\n1 1 1 5\n1 0\n", 3, "eligible"),
    ("fjs", "2 2 1\n1 1 3 5\n1 1 1 5\n", 2, "1..2"),
    ("fjs", "2 2\n2 1 1 5\n1 1 1 5\n", 2, "ends early"),
    ("fjs", "2 2\n1 1 1 5 7\n1 1 1 5\n", 2, "extra"),
    ("fjs", "2 2\n1 1 1 5\n", 2, "end of file"),
    ("fjs", "2 2\n1 1 1 x\n1 1 1 5\n", 2, "integer"),
    ("fjs", "2 2\n1 1 1 -3\n1 1 1 5\n", 2, "negative"),
    ("fjs", "1 2\n1 2 1 5 1 6\n", 2, "twice"),
    ("fjs", "1 2\n0\n", 2, "operations"),
    ("fjs", "1 2\n1 1 1 5\n\n\n1 1 1 5\n", 5, "after"),
    ("fjs", "1 2\n1 1 1 " + "9" * 5000 + "\n", 2, "too large"),
]


@pytest.mark.parametrize("fmt, text, line, words", BAD)
def test_malformed_input_names_source_and_line(fmt, text, line, words):
    with pytest.raises(ValueError) as info:
        formats.FORMATS[fmt].parse(text, "bad-file.txt")
    msg = str(info.value)
    assert isinstance(info.value, InstanceFormatError)
    assert "bad-file.txt" in msg and f"line {line}:" in msg, msg
    assert words.lower() in msg.lower(), msg
    assert info.value.line == line and info.value.source == "bad-file.txt"


@pytest.mark.parametrize("fmt, text, line, words", BAD)
def test_malformed_files_name_the_path(fmt, text, line, words, tmp_path):
    path = tmp_path / ("bad.fjs" if fmt == "fjs" else "bad.txt")
    path.write_text(text)
    with pytest.raises(ValueError, match=f"line {line}:") as info:
        formats.read_instance(path, fmt)
    assert str(path) in str(info.value)


@given(
    st.text(alphabet="0123456789 -.#x\n\t", max_size=60),
    st.sampled_from([None, *formats.FORMATS]),
)
def test_garbage_raises_value_error_with_a_line(text, fmt):
    try:
        formats.parse_instance(text, "junk.txt", fmt)
    except InstanceFormatError as err:
        assert err.source == "junk.txt" and f"junk.txt, line {err.line}: " in str(err)


@given(flexible_shops(), st.data())
def test_truncated_fjs_raises_with_a_line(inst, data):
    text = formats.write_fjs(inst)
    cut = data.draw(st.integers(0, len(text.rstrip()) - 1))
    truncated = text[:cut]
    if truncated.rstrip() and truncated.rstrip()[-1].isdigit() and text[cut].isdigit():
        truncated = truncated.rstrip("0123456789")  # cut between tokens, not inside one
    with pytest.raises(InstanceFormatError, match=r"cut\.fjs, line \d+: "):
        formats.parse_fjs(truncated, "cut.fjs")


def test_sniffed_malformed_file_reports_its_line(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("3 2\n0 1 1 2\n0 1 7 2\n1 1 0 2\n")
    with pytest.raises(ValueError, match=r"broken\.txt, line 3: .*machine"):
        jaxshop.load(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ValueError, match="binary.txt"):
        formats.read_instance(path)


def test_unknown_format_name():
    with pytest.raises(ValueError, match="taillard-pfsp"):
        formats.get_format("nope")
    assert formats.get_format("ORLIB").name == "jssp"


# ---------------------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------------------


def test_detect_format():
    t = taillard.taillard_jssp(3)
    p = taillard.taillard_pfsp(3)
    assert formats.detect_format(formats.write_taillard_pfsp(p)) == "taillard-pfsp"
    assert formats.detect_format(formats.write_taillard_jssp(t)) == "taillard-jssp"
    assert formats.detect_format(formats.write_jssp(t)) == "jssp"
    assert formats.detect_format(formats.write_fjs(t)) == "fjs"
    assert formats.detect_format("anything", "x.FJS") == "fjs"
    for text in (formats.write_taillard_pfsp(p), formats.write_taillard_jssp(t)):
        assert_same(formats.parse_instance(text), p if "processing" in text else t)
    # A 2-token .fjs header is sniffed by content too.
    fjs = "2 3\n1 2 1 5 3 6\n2 1 2 4 1 3 7\n"
    assert formats.parse_instance(fjs).to_operations() == [
        [{0: 5, 2: 6}],
        [{1: 4}, {2: 7}],
    ]
    # `n m` + pair lines are read as job shops (the general reading of pfsp-std files).
    std = formats.write_pfsp_std(p)
    assert isinstance(formats.parse_instance(std), FJSPInstance)
    assert_same(formats.parse_instance(std, format="pfsp-std"), p)


# ---------------------------------------------------------------------------------------
# Shared files, bounds
# ---------------------------------------------------------------------------------------


def test_brandimarte_files_have_the_recorded_sizes():
    meta = _json("fjsp", "brandimarte", "brandimarte_bounds.json")["instances"]
    assert len(meta) == 10
    for name, e in meta.items():
        inst = formats.read_instance(_shared("fjsp", "brandimarte", f"{name}.fjs"))
        assert isinstance(inst, FJSPInstance)
        assert (int(inst.num_jobs), int(inst.num_machines)) == (e["n_jobs"], e["n_machines"])
        assert inst.processing_times.dtype == np.int32 and inst.num_ops.dtype == np.int32
    mk01 = formats.read_fjs(_shared("fjsp", "brandimarte", "Mk01.fjs"))
    assert mk01.shape[0] == 10 and int(mk01.num_machines) == 6 and not mk01.is_job_shop()


def test_classic_files_have_the_recorded_sizes():
    meta = _json("jssp", "classic", "classic_jssp_bounds.json")["instances"]
    assert len(meta) == 43
    for name, e in meta.items():
        inst = formats.read_instance(_shared("jssp", "classic", f"{name}.txt"))
        assert inst.is_job_shop()
        assert inst.shape == (e["n_jobs"], e["n_machines"], e["n_machines"])
    assert formats.read_jssp(_shared("jssp", "classic", "ft06.txt")).shape == (6, 6, 6)


@pytest.mark.parametrize(
    "parts, table",
    [
        (("taillard_pfsp_bounds.json",), bounds.TAILLARD_PFSP),
        (("taillard_jssp_bounds.json",), bounds.TAILLARD_JSSP),
        (("fjsp", "brandimarte", "brandimarte_bounds.json"), bounds.BRANDIMARTE),
        (("jssp", "classic", "classic_jssp_bounds.json"), bounds.CLASSIC_JSSP),
    ],
)
def test_bounds_tables_match_the_notes(parts, table):
    recorded = _json(*parts)["instances"]
    assert set(table) == {name.lower() for name in recorded}
    for name, e in recorded.items():
        assert bounds.best_known(name) == (e["lb"], e["ub"])
        assert bounds.best_known(name.upper()) == (e["lb"], e["ub"])
        assert e["lb"] <= e["ub"]


def test_best_known_lookups():
    pf = _json("taillard_pfsp_bounds.json")["instances"]
    js = _json("taillard_jssp_bounds.json")["instances"]
    mk = _json("fjsp", "brandimarte", "brandimarte_bounds.json")["instances"]
    assert bounds.best_known("ta001")[1] == pf["ta001"]["ub"]
    assert bounds.best_known("TA01")[1] == js["ta01"]["ub"]
    assert (
        bounds.best_known("Mk10")
        == bounds.best_known("mk10")
        == (mk["Mk10"]["lb"], mk["Mk10"]["ub"])
    )
    assert bounds.best_known("ft06") is not None and bounds.best_known("la40") is not None
    assert bounds.best_known("nope") is None and bounds.best_known("ta121") is None
    assert bounds.is_closed("ft06") and not bounds.is_closed("mk10")
    assert bounds.gap("ta001", bounds.best_known("ta001")[1]) == 0.0
    assert len(bounds.TAILLARD_PFSP) == 120 and len(bounds.TAILLARD_JSSP) == 80


# ---------------------------------------------------------------------------------------
# load, data_dir, suites
# ---------------------------------------------------------------------------------------


def test_load_builtins():
    assert_same(jaxshop.load("ta001"), taillard.taillard_pfsp(1))
    assert_same(jaxshop.load("TA120"), taillard.taillard_pfsp(120))
    assert_same(jaxshop.load(" ta01 "), taillard.taillard_jssp(1))
    assert isinstance(jaxshop.load("ta080"), PFSPInstance)
    assert isinstance(jaxshop.load("ta80"), FJSPInstance)
    root = _shared()
    mk = jaxshop.load("Mk01", data_dir=root)
    assert_same(mk, formats.read_fjs(root / "fjsp" / "brandimarte" / "Mk01.fjs"))
    assert jaxshop.load("ft06", data_dir=root).shape == (6, 6, 6)
    assert jaxshop.load("la40", data_dir=str(root)).shape == (15, 15, 15)
    assert registry.problem_kind("ta001") == "pfsp" and registry.problem_kind("mk03") == "fjsp"
    assert registry.problem_kind("ft10") == "jssp" and registry.problem_kind("x") is None
    assert len(registry.builtin_names()) == 120 + 80 + 10 + 3 + 40


def test_load_files(tmp_path):
    ft06 = _shared("jssp", "classic", "ft06.txt")
    assert_same(jaxshop.load(ft06), formats.read_jssp(ft06))
    assert_same(jaxshop.load(str(ft06)), formats.read_jssp(ft06))
    path = tmp_path / "mine.txt"
    path.write_text(formats.write_pfsp_std(taillard.taillard_pfsp(2)))
    assert_same(jaxshop.load(path, format="pfsp-std"), taillard.taillard_pfsp(2))
    path = tmp_path / "mine.fjs"
    path.write_text(formats.write_fjs(taillard.taillard_jssp(2)))
    assert_same(jaxshop.load(path), taillard.taillard_jssp(2))


def test_load_unknown_names_list_the_valid_ones():
    for bad in ("ta121", "ta81", "ta1", "mk11", "la41", "nonexistent/file.txt"):
        with pytest.raises(ValueError, match="ta001-ta120.*la01-la40"):
            jaxshop.load(bad)
    with pytest.raises(TypeError):
        jaxshop.load(3)


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    assert registry.data_dir(tmp_path) == tmp_path.resolve()
    with pytest.raises(ValueError, match="does not exist"):
        registry.data_dir(tmp_path / "missing")
    monkeypatch.setenv(registry.DATA_ENV, str(tmp_path))
    assert jaxshop.data_dir() == tmp_path.resolve()
    monkeypatch.setenv(registry.DATA_ENV, str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="JAXSHOP_DATA"):
        registry.data_dir()
    # Without either, the data shipped in the package (works after `pip install`).
    monkeypatch.delenv(registry.DATA_ENV)
    monkeypatch.chdir(tmp_path)
    assert registry.data_dir() == registry.packaged_data_dir()
    assert (registry.data_dir() / "fjsp" / "brandimarte" / "Mk01.fjs").is_file()


def test_load_from_custom_data_dir(tmp_path, monkeypatch):
    small = FJSPInstance.from_operations([[{0: 3, 1: 5}], [{1: 2}, {0: 4}]], 2)
    folder = tmp_path / "fjsp" / "brandimarte"
    folder.mkdir(parents=True)
    (folder / "mk02.fjs").write_text(formats.write_fjs(small))  # other case than Mk02.fjs
    assert_same(jaxshop.load("Mk02", data_dir=tmp_path), small)
    monkeypatch.setenv(registry.DATA_ENV, str(tmp_path))
    assert_same(jaxshop.load("mk02"), small)
    with pytest.raises(ValueError, match="Mk03.fjs not found"):
        jaxshop.load("mk03")


@pytest.mark.parametrize(
    "name, size, groups",
    [
        ("taillard-pfsp", 120, 12),
        ("taillard-jssp", 80, 8),
        ("brandimarte", 10, None),
        ("lawrence", 40, 8),
        ("ft", 3, 3),
    ],
)
def test_suites(name, size, groups):
    root = None if name.startswith("taillard") else _shared()
    items = registry.suite(name, data_dir=root)
    assert len(items) == size == len(registry.SUITES[name].names)
    assert all(isinstance(x, registry.NamedInstance) for x in items)
    if groups is not None:
        assert len({x.group for x in items}) == groups
    for x in items:
        n, m = int(x.instance.num_jobs), int(x.instance.num_machines)
        assert x.group == f"{n}x{m}"
        assert x.best_known is not None


def test_suite_groups_and_errors():
    first = registry.suite("taillard-pfsp", group="20x5")
    assert [x.name for x in first] == [f"ta{k:03d}" for k in range(1, 11)]
    big = registry.suite("taillard-jssp", group="100x20")
    assert [x.name for x in big] == [f"ta{k:02d}" for k in range(71, 81)]
    with pytest.raises(ValueError, match="taillard-pfsp"):
        registry.suite("nope")
    with pytest.raises(ValueError, match="size group"):
        registry.suite("taillard-pfsp", group="7x7")


def test_exports():
    import jaxshop.instances as inst

    for name in ("load", "data_dir"):
        assert name in jaxshop.__all__ and callable(getattr(jaxshop, name))
    for name in inst.__all__:
        assert hasattr(inst, name)
