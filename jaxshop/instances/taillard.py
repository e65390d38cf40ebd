"""Taillard's (1993) benchmark generator: PFSP ta001–ta120 and JSSP ta01–ta80.

Source: E. Taillard, "Benchmarks for basic scheduling problems", European Journal of
Operational Research 64(2):278–285, 1993. The instances are defined by published seeds
fed to a Park–Miller "minimal standard" generator, so nothing has to be shipped.

Generator: x ← 16807·x mod (2^31 − 1), evaluated with Schrage's method
(a = 16807, b = 127773, c = 2836). A uniform integer in [low, high] is
`low + (x_new · (high − low + 1)) // (2^31 − 1)` from the NEW state, in 64-bit integers
(equal to the paper's double-precision `floor(x/m · (high-low+1))` for every draw used).

* PFSP: one stream from the time seed; times are drawn machine by machine, job by job,
  U[1, 99]. The instance's `processing_times` is (n_jobs, n_machines).
* JSSP: times are drawn job by job, operation by operation, U[1, 99], from the time seed.
  Machine orders start as the identity; for each job j and k = 0..m−1 the machines at
  positions k and U[k, m−1] are swapped, drawing from the machine-seed stream (one stream
  across all jobs).

Everything is plain NumPy: a stream is produced at once by jump-ahead,
x_k = (a^k mod M) · x_0 mod M, from a cached table of powers of a built with the Schrage
step itself.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from jaxshop.instances.types import FJSPInstance, PFSPInstance

MODULUS = 2_147_483_647  # 2^31 - 1
MULTIPLIER = 16_807  # a
SCHRAGE_Q = 127_773  # b = M // a
SCHRAGE_R = 2_836  # c = M % a

# ---------------------------------------------------------------------------------------
# Seed tables, transcribed from Taillard (1993), EJOR 64(2):278-285 (Tables for the flow
# shop and the job shop). Size class -> the time seeds of its 10 instances, in order.
# Some seeds genuinely repeat across classes (e.g. 268827376 is ta014 and ta022).
# ---------------------------------------------------------------------------------------

_PFSP_CLASSES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    # (jobs, machines, time seeds)  -> ta001.., ten per class
    (20, 5, (873654221, 379008056, 1866992158, 216771124, 495070989,
             402959317, 1369363414, 2021925980, 573109518, 88325120)),
    (20, 10, (587595453, 1401007982, 873136276, 268827376, 1634173168,
              691823909, 73807235, 1273398721, 2065119309, 1672900551)),
    (20, 20, (479340445, 268827376, 1958948863, 918272953, 555010963,
              2010851491, 1519833303, 1748670931, 1923497586, 1829909967)),
    (50, 5, (1328042058, 200382020, 496319842, 1203030903, 1730708564,
             450926852, 1303135678, 1273398721, 587288402, 248421594)),
    (50, 10, (1958948863, 575633267, 655816003, 1977864101, 93805469,
              1803345551, 49612559, 1899802599, 2013025619, 578962478)),
    (50, 20, (1539989115, 691823909, 655816003, 1315102446, 1949668355,
              1923497586, 1805594913, 1861070898, 715643788, 464843328)),
    (100, 5, (896678084, 1179439976, 1122278347, 416756875, 267829958,
              1835213917, 1328833962, 1418570761, 161033112, 304212574)),
    (100, 10, (1539989115, 655816003, 960914243, 1915696806, 2013025619,
               1168140026, 1923497586, 167698528, 1528387973, 993794175)),
    (100, 20, (450926852, 1462772409, 1021685265, 83696007, 508154254,
               1861070898, 26482542, 444956424, 2115448041, 118254244)),
    (200, 10, (471503978, 1215892992, 135346136, 1602504050, 160037322,
               551454346, 519485142, 383947510, 1968171878, 540872513)),
    (200, 20, (2013025619, 475051709, 914834335, 810642687, 1019331795,
               2056065863, 1342855162, 1325809384, 1988803007, 765656702)),
    (500, 20, (1368624604, 450181436, 1927888393, 1759567256, 606425239,
               19268348, 1298201670, 2041736264, 379756761, 28837162)),
)  # fmt: skip

_JSSP_CLASSES: tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...] = (
    # (jobs, machines, ((time seed, machine seed), ...))  -> ta01.., ten per class
    (15, 15, ((840612802, 398197754), (1314640371, 386720536), (1227221349, 316176388),
              (342269428, 1806358582), (1603221416, 1501949241), (1357584978, 1734077082),
              (44531661, 1374316395), (302545136, 2092186050), (1153780144, 1393392374),
              (73896786, 1544979948))),
    (20, 15, ((533484900, 317419073), (1894307698, 1474268163), (874340513, 509669280),
              (1124986343, 1209573668), (1463788335, 529048107), (1056908795, 25321885),
              (195672285, 1717580117), (961965583, 1353003786), (1610169733, 1734469503),
              (532794656, 998486810))),
    (20, 20, ((1035939303, 773961798), (5997802, 1872541150), (1357503601, 722225039),
              (806159563, 1166962073), (1902815253, 1879990068), (1503184031, 1850351876),
              (1032645967, 99711329), (229894219, 1158117804), (823349822, 108033225),
              (1297900341, 489486403))),
    (30, 15, ((98640593, 1981283465), (1839268120, 248890888), (573875290, 2081512253),
              (1670898570, 788294565), (1118914567, 1074349202), (178750207, 294279708),
              (1549372605, 596993084), (798174738, 151685779), (553410952, 1329272528),
              (1661531649, 1173386294))),
    (30, 20, ((1841414609, 1357882888), (2116959593, 1546338557), (796392706, 1230864158),
              (532496463, 254174057), (2020525633, 978943053), (524444252, 185526083),
              (1569394691, 487269855), (1460267840, 1631446539), (198324822, 1937476577),
              (38071822, 1541985579))),
    (50, 15, ((17271, 718939), (660481279, 449650254), (352229765, 949737911),
              (1197518780, 166840558), (1376020303, 483922052), (2106639239, 955932362),
              (1765352082, 1209982549), (1105092880, 1349003108), (907248070, 919544535),
              (2011630757, 1845447001))),
    (50, 20, ((8493988, 2738939), (1991925010, 709517751), (342093237, 786960785),
              (1634043183, 973178279), (341706507, 286513148), (320167954, 1411193018),
              (1089696753, 298068750), (433032965, 1589656152), (615974477, 331205412),
              (236150141, 592292984))),
    (100, 20, ((302034063, 1203569070), (1437643198, 1692025209), (1792475497, 1039908559),
               (1647273132, 1012841433), (696480901, 1689682358), (1785569423, 1092647459),
               (117806902, 739059626), (1639154709, 1319962509), (2007423389, 749368241),
               (682761130, 262763021))),
)  # fmt: skip

#: PFSP ta001..ta120 as (n_jobs, n_machines, time_seed); index 0 is ta001.
PFSP_SEEDS: tuple[tuple[int, int, int], ...] = tuple(
    (n, m, s) for n, m, seeds in _PFSP_CLASSES for s in seeds
)
#: JSSP ta01..ta80 as (n_jobs, n_machines, time_seed, machine_seed); index 0 is ta01.
JSSP_SEEDS: tuple[tuple[int, int, int, int], ...] = tuple(
    (n, m, ts, ms) for n, m, pairs in _JSSP_CLASSES for ts, ms in pairs
)
NUM_PFSP = len(PFSP_SEEDS)  # 120
NUM_JSSP = len(JSSP_SEEDS)  # 80


def lehmer_next(x: int) -> int:
    """One Park–Miller step x ← 16807·x mod (2^31−1) by Schrage's method (no overflow)."""
    hi, lo = divmod(x, SCHRAGE_Q)
    x = MULTIPLIER * lo - SCHRAGE_R * hi
    return x + MODULUS if x < 0 else x


@cache
def _powers(count: int) -> np.ndarray:
    """a^1 .. a^count mod M (int64), built with the Schrage step from 1."""
    out = np.empty(count, np.int64)
    x = 1
    for i in range(count):
        x = lehmer_next(x)
        out[i] = x
    out.setflags(write=False)
    return out


def lehmer_stream(seed: int, count: int) -> np.ndarray:
    """The next `count` states after `seed` (the seed itself excluded), int64."""
    if not 0 < seed < MODULUS:
        raise ValueError(f"seed must be in 1..{MODULUS - 1}, got {seed}")
    # Grow the cached power table in powers of two so repeated calls reuse it.
    size = 1 << max(int(count - 1).bit_length(), 10)
    return (_powers(size)[:count] * np.int64(seed)) % MODULUS


def uniform_ints(seed: int, count: int, low: int | np.ndarray, high: int | np.ndarray
                 ) -> np.ndarray:
    """`count` draws U[low, high] (bounds may be arrays of length `count`), int64."""
    x = lehmer_stream(seed, count)
    low = np.asarray(low, np.int64)
    return low + (x * (np.asarray(high, np.int64) - low + 1)) // MODULUS


def pfsp_times(n_jobs: int, n_machines: int, seed: int) -> np.ndarray:
    """(n_jobs, n_machines) int32 processing times of Taillard's flow-shop generator."""
    draws = uniform_ints(seed, n_jobs * n_machines, 1, 99)
    return draws.reshape(n_machines, n_jobs).T.astype(np.int32)  # drawn machine-major


def jssp_arrays(
    n_jobs: int, n_machines: int, time_seed: int, machine_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(machines, times), both (n_jobs, n_machines) int32, machines 0-based.

    Row j lists job j's operations in processing order.
    """
    times = uniform_ints(time_seed, n_jobs * n_machines, 1, 99).reshape(n_jobs, n_machines)
    k = np.tile(np.arange(n_machines), n_jobs)
    swap = uniform_ints(machine_seed, n_jobs * n_machines, k, n_machines - 1)
    swap = swap.reshape(n_jobs, n_machines)
    machines = np.tile(np.arange(n_machines, dtype=np.int32), (n_jobs, 1))
    rows = np.arange(n_jobs)
    for pos in range(n_machines):  # sequential swaps, vectorized over jobs
        other = swap[:, pos]
        held = machines[rows, pos].copy()
        machines[rows, pos] = machines[rows, other]
        machines[rows, other] = held
    return machines, times.astype(np.int32)


def _check_index(k: int, count: int, kind: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= count:
        raise ValueError(f"Taillard {kind} index must be an integer in 1..{count}, got {k!r}")


def pfsp_name(k: int) -> str:
    """'ta001' .. 'ta120'."""
    return f"ta{k:03d}"


def jssp_name(k: int) -> str:
    """'ta01' .. 'ta80'."""
    return f"ta{k:02d}"


def pfsp_group(k: int) -> str:
    """Size class of PFSP instance k, e.g. '20x5'."""
    _check_index(k, NUM_PFSP, "PFSP")
    n, m, _ = PFSP_SEEDS[k - 1]
    return f"{n}x{m}"


def jssp_group(k: int) -> str:
    """Size class of JSSP instance k, e.g. '15x15'."""
    _check_index(k, NUM_JSSP, "JSSP")
    n, m, _, _ = JSSP_SEEDS[k - 1]
    return f"{n}x{m}"


def taillard_pfsp(k: int) -> PFSPInstance:
    """Flow-shop instance ta{k:03d}, k in 1..120, as an exact-size `PFSPInstance`."""
    _check_index(k, NUM_PFSP, "PFSP")
    n, m, seed = PFSP_SEEDS[k - 1]
    return PFSPInstance.from_array(pfsp_times(n, m, seed), source=pfsp_name(k))


def taillard_jssp(k: int) -> FJSPInstance:
    """Job-shop instance ta{k:02d}, k in 1..80, as an exact-size `FJSPInstance`."""
    _check_index(k, NUM_JSSP, "JSSP")
    n, m, ts, ms = JSSP_SEEDS[k - 1]
    machines, times = jssp_arrays(n, m, ts, ms)
    return job_shop_instance(machines, times, m)


def job_shop_instance(machines: np.ndarray, times: np.ndarray, n_machines: int) -> FJSPInstance:
    """Vectorized exact-size job shop from (n_jobs, n_ops) 0-based machines and times."""
    n, o = machines.shape
    p = np.zeros((n, o, n_machines), np.int32)
    e = np.zeros((n, o, n_machines), bool)
    j, k = np.indices((n, o))
    p[j, k, machines] = times
    e[j, k, machines] = True
    return FJSPInstance(p, e, np.full(n, o, np.int32), np.ones(n_machines, bool))
