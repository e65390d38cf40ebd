"""Best-known makespan bounds `(lb, ub)` of the built-in benchmark instances.

`lb == ub` means the instance is closed (optimal makespan known). Names are lower case:
`ta001`–`ta120` (PFSP), `ta01`–`ta80` (JSSP), `mk01`–`mk10`, `ft06`/`ft10`/`ft20`,
`la01`–`la40`. Values were transcribed from the benchmark notes shipped beside this repo
(`shared/benchmarks/*_bounds.json`, README there), which record these sources:

* Taillard PFSP ta001–ta120 (`TAILLARD_PFSP`): `ub` are the best-known values of
  Benavides & Ritt (2018), Comput. Oper. Res. 100:230–243 (github.com/mrpritt/npfs3,
  data/instances.csv, commit 2ebaa63e), except ta056 = 3679 and ta111 = 26040, recorded
  by three later independent sources. Optimality proofs: Ritt (2016), IEEE CASE 872–877
  (github.com/mrpritt/pfs-cbfs, data/t3-cbfs.csv); ta021–ta027 and ta056 are reported
  optimal in the literature (proof not checked). For the 39 OPEN instances (ta051–ta055,
  ta057–ta060, ta081–ta090, ta101–ta120) `lb` is only a weak bound computed from the
  data (max of Taillard's 1993 machine bound and a two-machine Johnson bound); published
  lower bounds are higher, so do not use it to claim a small gap.
* Taillard JSSP ta01–ta80 (`TAILLARD_JSSP`): ScheduleOpt benchmark collection (JSPLib),
  github.com/ScheduleOpt/benchmarks jobshop/solutions/bks.json (commit 79f0edc1); 68
  closed, 12 open. Consistent with Taillard's page (2013), Weise (2020) and JSPLIB (2014).
* Brandimarte Mk01–Mk10 (`BRANDIMARTE`): ScheduleOpt flexible-jobshop/solutions/bks.json
  (commit 79f0edc1). Mk10 is open (lb 189, personal communication recorded there;
  ub 193, Quintiq 2013).
* Fisher–Thompson ft06/ft10/ft20 and Lawrence la01–la40 (`CLASSIC_JSSP`): ScheduleOpt
  jobshop bks.json (commit 79f0edc1); all optimal, equal to JSPLIB's optima.

Instances: E. Taillard, EJOR 64(2):278–285, 1993; P. Brandimarte, Ann. Oper. Res.
41:157–183, 1993; Fisher & Thompson 1963; Lawrence 1984.

Attaching a bound to an instance: the tables are keyed by the *built-in* names, and a
file name says nothing about its content (`ta001.txt` may hold any instance). Code that
holds an instance must use `best_known_for(instance)`, which compares the instance's
content (`instance_fingerprint`) with the fingerprints of the built-in instances stored
in `fingerprints.json` (made by `scripts/make_fingerprints.py`); `best_known(name)` is
only for looking up the tables by built-in name.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources

import numpy as np

from jaxshop.instances.types import FJSPInstance, Instance, PFSPInstance

TAILLARD_PFSP: dict[str, tuple[int, int]] = {
    # name: (lb, ub); see the module docstring for the sources
    "ta001": (1278, 1278),
    "ta002": (1359, 1359),
    "ta003": (1081, 1081),
    "ta004": (1293, 1293),
    "ta005": (1235, 1235),
    "ta006": (1195, 1195),
    "ta007": (1234, 1234),
    "ta008": (1206, 1206),
    "ta009": (1230, 1230),
    "ta010": (1108, 1108),
    "ta011": (1582, 1582),
    "ta012": (1659, 1659),
    "ta013": (1496, 1496),
    "ta014": (1377, 1377),
    "ta015": (1419, 1419),
    "ta016": (1397, 1397),
    "ta017": (1484, 1484),
    "ta018": (1538, 1538),
    "ta019": (1593, 1593),
    "ta020": (1591, 1591),
    "ta021": (2297, 2297),  # reported optimal
    "ta022": (2099, 2099),  # reported optimal
    "ta023": (2326, 2326),  # reported optimal
    "ta024": (2223, 2223),  # reported optimal
    "ta025": (2291, 2291),  # reported optimal
    "ta026": (2226, 2226),  # reported optimal
    "ta027": (2273, 2273),  # reported optimal
    "ta028": (2200, 2200),
    "ta029": (2237, 2237),
    "ta030": (2178, 2178),
    "ta031": (2724, 2724),
    "ta032": (2834, 2834),
    "ta033": (2621, 2621),
    "ta034": (2751, 2751),
    "ta035": (2863, 2863),
    "ta036": (2829, 2829),
    "ta037": (2725, 2725),
    "ta038": (2683, 2683),
    "ta039": (2552, 2552),
    "ta040": (2782, 2782),
    "ta041": (2991, 2991),
    "ta042": (2867, 2867),
    "ta043": (2839, 2839),
    "ta044": (3063, 3063),
    "ta045": (2976, 2976),
    "ta046": (3006, 3006),
    "ta047": (3093, 3093),
    "ta048": (3037, 3037),
    "ta049": (2897, 2897),
    "ta050": (3065, 3065),
    "ta051": (3527, 3850),  # open (weak computed lb)
    "ta052": (3529, 3704),  # open (weak computed lb)
    "ta053": (3370, 3640),  # open (weak computed lb)
    "ta054": (3400, 3723),  # open (weak computed lb)
    "ta055": (3371, 3611),  # open (weak computed lb)
    "ta056": (3679, 3679),  # reported optimal
    "ta057": (3480, 3704),  # open (weak computed lb)
    "ta058": (3451, 3691),  # open (weak computed lb)
    "ta059": (3457, 3743),  # open (weak computed lb)
    "ta060": (3498, 3756),  # open (weak computed lb)
    "ta061": (5493, 5493),
    "ta062": (5268, 5268),
    "ta063": (5175, 5175),
    "ta064": (5014, 5014),
    "ta065": (5250, 5250),
    "ta066": (5135, 5135),
    "ta067": (5246, 5246),
    "ta068": (5094, 5094),
    "ta069": (5448, 5448),
    "ta070": (5322, 5322),
    "ta071": (5770, 5770),
    "ta072": (5349, 5349),
    "ta073": (5676, 5676),
    "ta074": (5781, 5781),
    "ta075": (5467, 5467),
    "ta076": (5303, 5303),
    "ta077": (5595, 5595),
    "ta078": (5617, 5617),
    "ta079": (5871, 5871),
    "ta080": (5845, 5845),
    "ta081": (5926, 6202),  # open (weak computed lb)
    "ta082": (6099, 6183),  # open (weak computed lb)
    "ta083": (6162, 6271),  # open (weak computed lb)
    "ta084": (6088, 6269),  # open (weak computed lb)
    "ta085": (6188, 6314),  # open (weak computed lb)
    "ta086": (6192, 6364),  # open (weak computed lb)
    "ta087": (6044, 6268),  # open (weak computed lb)
    "ta088": (6161, 6401),  # open (weak computed lb)
    "ta089": (6044, 6275),  # open (weak computed lb)
    "ta090": (6348, 6434),  # open (weak computed lb)
    "ta091": (10862, 10862),
    "ta092": (10480, 10480),
    "ta093": (10922, 10922),
    "ta094": (10889, 10889),
    "ta095": (10524, 10524),
    "ta096": (10329, 10329),
    "ta097": (10854, 10854),
    "ta098": (10730, 10730),
    "ta099": (10438, 10438),
    "ta100": (10675, 10675),
    "ta101": (11037, 11195),  # open (weak computed lb)
    "ta102": (10971, 11203),  # open (weak computed lb)
    "ta103": (11153, 11281),  # open (weak computed lb)
    "ta104": (11128, 11275),  # open (weak computed lb)
    "ta105": (11143, 11259),  # open (weak computed lb)
    "ta106": (11107, 11176),  # open (weak computed lb)
    "ta107": (11249, 11360),  # open (weak computed lb)
    "ta108": (11164, 11334),  # open (weak computed lb)
    "ta109": (10993, 11192),  # open (weak computed lb)
    "ta110": (11168, 11288),  # open (weak computed lb)
    "ta111": (25931, 26040),  # open (weak computed lb)
    "ta112": (26373, 26520),  # open (weak computed lb)
    "ta113": (26327, 26371),  # open (weak computed lb)
    "ta114": (26454, 26456),  # open (weak computed lb)
    "ta115": (26219, 26334),  # open (weak computed lb)
    "ta116": (26414, 26477),  # open (weak computed lb)
    "ta117": (26342, 26389),  # open (weak computed lb)
    "ta118": (26443, 26560),  # open (weak computed lb)
    "ta119": (25903, 26005),  # open (weak computed lb)
    "ta120": (26337, 26457),  # open (weak computed lb)
}

TAILLARD_JSSP: dict[str, tuple[int, int]] = {
    # name: (lb, ub); ScheduleOpt bks.json (commit 79f0edc1)
    "ta01": (1231, 1231),
    "ta02": (1244, 1244),
    "ta03": (1218, 1218),
    "ta04": (1175, 1175),
    "ta05": (1224, 1224),
    "ta06": (1238, 1238),
    "ta07": (1227, 1227),
    "ta08": (1217, 1217),
    "ta09": (1274, 1274),
    "ta10": (1241, 1241),
    "ta11": (1357, 1357),
    "ta12": (1367, 1367),
    "ta13": (1342, 1342),
    "ta14": (1345, 1345),
    "ta15": (1339, 1339),
    "ta16": (1360, 1360),
    "ta17": (1462, 1462),
    "ta18": (1396, 1396),
    "ta19": (1332, 1332),
    "ta20": (1348, 1348),
    "ta21": (1642, 1642),
    "ta22": (1600, 1600),
    "ta23": (1557, 1557),
    "ta24": (1644, 1644),
    "ta25": (1595, 1595),
    "ta26": (1643, 1643),
    "ta27": (1680, 1680),
    "ta28": (1603, 1603),
    "ta29": (1625, 1625),
    "ta30": (1562, 1584),  # open
    "ta31": (1764, 1764),
    "ta32": (1774, 1783),  # open
    "ta33": (1791, 1791),
    "ta34": (1828, 1828),
    "ta35": (2007, 2007),
    "ta36": (1819, 1819),
    "ta37": (1771, 1771),
    "ta38": (1673, 1673),
    "ta39": (1795, 1795),
    "ta40": (1658, 1669),  # open
    "ta41": (1926, 2005),  # open
    "ta42": (1900, 1937),  # open
    "ta43": (1809, 1846),  # open
    "ta44": (1961, 1978),  # open
    "ta45": (1997, 1997),
    "ta46": (1976, 2002),  # open
    "ta47": (1827, 1889),  # open
    "ta48": (1921, 1937),  # open
    "ta49": (1938, 1960),  # open
    "ta50": (1848, 1923),  # open
    "ta51": (2760, 2760),
    "ta52": (2756, 2756),
    "ta53": (2717, 2717),
    "ta54": (2839, 2839),
    "ta55": (2679, 2679),
    "ta56": (2781, 2781),
    "ta57": (2943, 2943),
    "ta58": (2885, 2885),
    "ta59": (2655, 2655),
    "ta60": (2723, 2723),
    "ta61": (2868, 2868),
    "ta62": (2869, 2869),
    "ta63": (2755, 2755),
    "ta64": (2702, 2702),
    "ta65": (2725, 2725),
    "ta66": (2845, 2845),
    "ta67": (2825, 2825),
    "ta68": (2784, 2784),
    "ta69": (3071, 3071),
    "ta70": (2995, 2995),
    "ta71": (5464, 5464),
    "ta72": (5181, 5181),
    "ta73": (5568, 5568),
    "ta74": (5339, 5339),
    "ta75": (5392, 5392),
    "ta76": (5342, 5342),
    "ta77": (5436, 5436),
    "ta78": (5394, 5394),
    "ta79": (5358, 5358),
    "ta80": (5183, 5183),
}

BRANDIMARTE: dict[str, tuple[int, int]] = {
    # name: (lb, ub); ScheduleOpt flexible-jobshop bks.json (commit 79f0edc1)
    "mk01": (40, 40),
    "mk02": (26, 26),
    "mk03": (204, 204),
    "mk04": (60, 60),
    "mk05": (172, 172),
    "mk06": (57, 57),
    "mk07": (139, 139),
    "mk08": (523, 523),
    "mk09": (307, 307),
    "mk10": (189, 193),  # open
}

CLASSIC_JSSP: dict[str, tuple[int, int]] = {
    # name: (lb, ub); ScheduleOpt bks.json (commit 79f0edc1), all optimal
    "ft06": (55, 55),
    "ft10": (930, 930),
    "ft20": (1165, 1165),
    "la01": (666, 666),
    "la02": (655, 655),
    "la03": (597, 597),
    "la04": (590, 590),
    "la05": (593, 593),
    "la06": (926, 926),
    "la07": (890, 890),
    "la08": (863, 863),
    "la09": (951, 951),
    "la10": (958, 958),
    "la11": (1222, 1222),
    "la12": (1039, 1039),
    "la13": (1150, 1150),
    "la14": (1292, 1292),
    "la15": (1207, 1207),
    "la16": (945, 945),
    "la17": (784, 784),
    "la18": (848, 848),
    "la19": (842, 842),
    "la20": (902, 902),
    "la21": (1046, 1046),
    "la22": (927, 927),
    "la23": (1032, 1032),
    "la24": (935, 935),
    "la25": (977, 977),
    "la26": (1218, 1218),
    "la27": (1235, 1235),
    "la28": (1216, 1216),
    "la29": (1152, 1152),
    "la30": (1355, 1355),
    "la31": (1784, 1784),
    "la32": (1850, 1850),
    "la33": (1719, 1719),
    "la34": (1721, 1721),
    "la35": (1888, 1888),
    "la36": (1268, 1268),
    "la37": (1397, 1397),
    "la38": (1196, 1196),
    "la39": (1233, 1233),
    "la40": (1222, 1222),
}

#: Every table, by suite.
BOUNDS: dict[str, dict[str, tuple[int, int]]] = {
    "taillard-pfsp": TAILLARD_PFSP,
    "taillard-jssp": TAILLARD_JSSP,
    "brandimarte": BRANDIMARTE,
    "classic-jssp": CLASSIC_JSSP,
}

_ALL: dict[str, tuple[int, int]] = {k: v for table in BOUNDS.values() for k, v in table.items()}


def best_known(name: str) -> tuple[int, int] | None:
    """`(lb, ub)` tabulated for the built-in name (case-insensitive: 'ta001', 'Mk01'), else None.

    A table lookup by name only: it says nothing about an instance that happens to carry
    that name (a file `ta001.txt` may hold anything). With an instance, use
    `best_known_for(instance)`, which matches by content.
    """
    return _ALL.get(name.strip().lower())


def is_closed(name: str) -> bool:
    """True when the optimal makespan of `name` is known (lb == ub)."""
    b = best_known(name)
    return b is not None and b[0] == b[1]


def gap(name: str, makespan: float) -> float | None:
    """Relative gap `(makespan - ub) / ub` to the best-known upper bound, or None."""
    b = best_known(name)
    return None if b is None else (float(makespan) - b[1]) / b[1]


# ---------------------------------------------------------------------------------------
# Bounds by content
# ---------------------------------------------------------------------------------------

#: Version tag hashed first into every fingerprint; change it with the encoding.
FINGERPRINT_VERSION = "jaxshop-instance-fingerprint-v1"
_FINGERPRINTS_FILE = "fingerprints.json"


def _canonical(instance: Instance) -> tuple[str, list[tuple[str, np.ndarray]]]:
    """The problem kind and the exact-size arrays that define `instance` (padding removed).

    PFSP: the real jobs x real machines processing times. Job shop / FJSP: the real jobs
    (`num_ops > 0`), their first `num_ops` operations (ops axis cropped to the longest
    job) and the real machines, then trailing machines that no operation can use dropped
    (they change no schedule); times where a machine is not eligible are zeroed. The kind
    is 'jssp' when every operation has exactly one eligible machine, else 'fjsp'.
    """
    if isinstance(instance, PFSPInstance):
        p = np.asarray(instance.processing_times)
        if p.ndim != 2:
            raise ValueError(f"instance_fingerprint needs one unbatched instance, got {p.shape}")
        jobs = np.asarray(instance.job_mask).astype(bool)
        machines = np.asarray(instance.machine_mask).astype(bool)
        return "pfsp", [("processing_times", p[jobs][:, machines])]
    if isinstance(instance, FJSPInstance):
        p = np.asarray(instance.processing_times)
        if p.ndim != 3:
            raise ValueError(f"instance_fingerprint needs one unbatched instance, got {p.shape}")
        num_ops = np.asarray(instance.num_ops).astype(np.int64)
        jobs = num_ops > 0
        num_ops = num_ops[jobs]
        ops = int(num_ops.max()) if num_ops.size else 0
        machines = np.asarray(instance.machine_mask).astype(bool)
        p = p[jobs][:, :ops][:, :, machines]
        e = np.asarray(instance.eligible).astype(bool)[jobs][:, :ops][:, :, machines]
        e &= (np.arange(ops) < num_ops[:, None])[:, :, None]
        used = np.flatnonzero(e.any(axis=(0, 1)))
        m = int(used[-1]) + 1 if used.size else 0
        p, e = np.where(e, p, 0)[:, :, :m], e[:, :, :m]
        counts = e.sum(-1)[np.arange(ops) < num_ops[:, None]]
        kind = "jssp" if (counts == 1).all() else "fjsp"
        return kind, [("num_ops", num_ops), ("eligible", e), ("processing_times", p)]
    raise TypeError(f"not an instance: {type(instance).__name__}")


def instance_fingerprint(instance: Instance) -> str:
    """SHA-256 (hex) of the canonical exact-size content of one unbatched instance.

    Independent of padding and of where the instance came from (file name, format):
    two instances have the same fingerprint exactly when they have the same problem
    kind ('pfsp', 'jssp', 'fjsp'), sizes, eligibility and processing times. The hash
    covers `FINGERPRINT_VERSION`, the kind, then per array its name, shape and values
    as little-endian int32 (eligibility as uint8); see `_canonical` for the cropping.
    """
    kind, arrays = _canonical(instance)
    h = hashlib.sha256()
    h.update(f"{FINGERPRINT_VERSION}\n{kind}\n".encode())
    for name, a in arrays:
        values = a.astype("u1") if a.dtype == bool else a.astype("<i4")
        h.update(f"{name} {'x'.join(str(d) for d in a.shape)}\n".encode())
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def builtin_fingerprints() -> dict[str, str]:
    """`{built-in name: fingerprint}` of every tabulated instance, from `fingerprints.json`."""
    text = resources.files("jaxshop.instances").joinpath(_FINGERPRINTS_FILE).read_text()
    data = json.loads(text)
    if data.get("version") != FINGERPRINT_VERSION:
        raise ValueError(
            f"{_FINGERPRINTS_FILE}: version {data.get('version')!r}, expected "
            f"{FINGERPRINT_VERSION!r}; rerun scripts/make_fingerprints.py"
        )
    return dict(data["instances"])


@lru_cache(maxsize=1)
def _names_by_fingerprint() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, fp in builtin_fingerprints().items():
        out.setdefault(fp, name)
    return out


def best_known_for(instance: Instance) -> tuple[str, tuple[int, int]] | None:
    """`(built-in name, (lb, ub))` when `instance` has the content of a tabulated built-in
    instance, whatever it is called or however it is padded; else None.

    A renamed copy of ta001 gets ta001's bounds; a file called `ta001.txt` that holds
    another instance gets none.
    """
    name = _names_by_fingerprint().get(instance_fingerprint(instance))
    if name is None or name not in _ALL:
        return None
    return name, _ALL[name]


def trivial_lower_bound(instance: Instance) -> int:
    """A makespan lower bound every schedule of `instance` meets, from its data alone (NumPy,
    no compile): the longest job (each operation at its shortest time) and the busiest
    machine (a flow shop's machine loads; in a flexible job shop the load of operations that
    can run on one machine only, and the total shortest work spread over the machines,
    rounded up: `jaxshop.fjsp.env.makespan_lower_bound`). Bounds files are checked against
    it: an upper bound below it is a typo, not a result."""
    if isinstance(instance, PFSPInstance):
        p = np.asarray(instance.processing_times, np.int64)  # (J, M)
        return int(max(p.sum(0).max(initial=0), p.sum(1).max(initial=0)))
    p = np.asarray(instance.processing_times, np.int64)  # (J, O, M)
    eligible = np.asarray(instance.eligible, bool)
    shortest = np.where(eligible, p, np.iinfo(np.int64).max).min(-1, initial=np.iinfo(np.int64).max)
    shortest = np.where(eligible.any(-1), shortest, 0)  # (J, O)
    machines = max(int(np.asarray(instance.machine_mask, bool).sum()), 1)
    single = eligible & (eligible.sum(-1, keepdims=True) == 1)
    return int(max(
        shortest.sum(-1).max(initial=0),
        -(-int(shortest.sum()) // machines),
        np.where(single, p, 0).sum((0, 1)).max(initial=0),
    ))

