"""`jaxshop.interop`: every shipped suite to PyJobShop and job-shop-lib and back, with a
schedule: the same operations, machines, times and starts, so the same makespan."""

from __future__ import annotations

import numpy as np
import pytest

from jaxshop.instances.registry import suite
from jaxshop.instances.types import FJSPInstance, PFSPInstance
from jaxshop.schedule import Schedule, permutation_schedule, validate

#: the Taillard suites are the large ones (seconds each): the slow tier
SUITES = (pytest.param("taillard-pfsp", marks=pytest.mark.slow),
          pytest.param("taillard-jssp", marks=pytest.mark.slow), "brandimarte", "lawrence", "ft")


def greedy_schedule(instance) -> Schedule:
    """A feasible schedule built on the host, apart from the envs: jobs in turn, each next
    operation on its first eligible machine at the earliest time after both."""
    if isinstance(instance, PFSPInstance):
        return permutation_schedule(instance, list(range(int(instance.num_jobs))))
    times, elig = np.asarray(instance.processing_times), np.asarray(instance.eligible)
    num_ops = np.asarray(instance.num_ops)
    machine = np.full(elig.shape[:2], -1, np.int32)
    start, end = machine.copy(), machine.copy()
    free = np.zeros(elig.shape[-1], np.int64)
    ready = np.zeros(len(num_ops), np.int64)
    for o in range(elig.shape[1]):
        for j in range(len(num_ops)):
            if o < num_ops[j]:
                k = int(np.flatnonzero(elig[j, o])[0])
                s = max(free[k], ready[j])
                machine[j, o], start[j, o] = k, s
                end[j, o] = ready[j] = free[k] = s + times[j, o, k]
    return Schedule(machine=machine, start=start, end=end)


def same_instance(a, b) -> None:
    assert type(a) is type(b)
    for name in ("processing_times", "eligible", "num_ops", "job_mask", "machine_mask"):
        if hasattr(a, name):
            np.testing.assert_array_equal(np.asarray(getattr(a, name)),
                                          np.asarray(getattr(b, name)), err_msg=name)


def same_schedule(instance, a: Schedule, b: Schedule) -> None:
    for name in ("machine", "start", "end"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)),
                                      np.asarray(getattr(b, name)), err_msg=name)
    assert validate(instance, a).makespan == validate(instance, b).makespan


@pytest.mark.parametrize("name", SUITES)
def test_every_shipped_suite_round_trips_through_pyjobshop(name):
    pytest.importorskip("pyjobshop")
    from jaxshop.interop import from_pyjobshop, to_pyjobshop

    for entry in suite(name):
        inst = entry.instance
        schedule = greedy_schedule(inst)
        data, solution = to_pyjobshop(inst, schedule)
        assert solution.makespan == validate(inst, schedule).makespan
        back, back_schedule = from_pyjobshop(data, solution)
        same_instance(inst, back)
        same_schedule(inst, schedule, back_schedule)


@pytest.mark.parametrize("name", (pytest.param("taillard-jssp", marks=pytest.mark.slow),
                                  "lawrence", "ft"))
def test_job_shop_suites_round_trip_through_job_shop_lib(name):
    pytest.importorskip("job_shop_lib")
    from jaxshop.interop import from_job_shop_lib, to_job_shop_lib

    for entry in suite(name):
        inst = entry.instance
        schedule = greedy_schedule(inst)
        lib_schedule = to_job_shop_lib(inst, schedule)
        assert lib_schedule.makespan() == validate(inst, schedule).makespan
        back, back_schedule = from_job_shop_lib(lib_schedule)
        same_instance(inst, back)
        same_schedule(inst, schedule, back_schedule)
        same_instance(inst, from_job_shop_lib(to_job_shop_lib(inst)))


def test_a_flexible_job_shop_with_machine_free_times_round_trips_through_job_shop_lib():
    pytest.importorskip("job_shop_lib")
    from jaxshop.interop import from_job_shop_lib, to_job_shop_lib

    elig = np.array([[[1, 1, 0], [0, 1, 1]], [[1, 0, 1], [1, 0, 0]]], bool)
    times = np.where(elig, np.array([[[4], [2]], [[3], [5]]]), 0).astype(np.int32)
    inst = FJSPInstance(processing_times=times, eligible=elig,
                        num_ops=np.array([2, 2], np.int32), machine_mask=np.ones(3, bool))
    schedule = greedy_schedule(inst)
    back, back_schedule = from_job_shop_lib(to_job_shop_lib(inst, schedule))
    same_instance(inst, back)
    same_schedule(inst, schedule, back_schedule)


def test_what_job_shop_lib_cannot_hold_is_refused():
    pytest.importorskip("job_shop_lib")
    from jaxshop.interop import to_job_shop_lib

    with pytest.raises(ValueError, match="one duration"):
        to_job_shop_lib(suite("brandimarte")[0].instance)  # mk01: times by machine
    with pytest.raises(ValueError, match="permutation flow shop"):
        to_job_shop_lib(suite("taillard-pfsp")[0].instance)


@pytest.mark.parametrize("name", ("lawrence", "ft"))
def test_job_shop_lib_reads_our_files_and_we_read_its_json(name, tmp_path):
    """job-shop-lib's own readers on our `jssp` files give the instance `to_job_shop_lib`
    gives, and its `to_dict` JSON reads back (sniffed) as the same instance."""
    pytest.importorskip("job_shop_lib")
    import json

    from job_shop_lib import JobShopInstance

    from jaxshop.instances.formats import parse_instance, write_jssp
    from jaxshop.interop import to_job_shop_lib

    for entry in suite(name):
        inst = entry.instance
        path = tmp_path / f"{entry.name}.txt"
        path.write_text(f"# {entry.name}, written by jaxshop\n" + write_jssp(inst))
        theirs = JobShopInstance.from_taillard_file(path)
        ours = to_job_shop_lib(inst)
        assert theirs.duration_matrix == ours.duration_matrix
        assert theirs.machines_matrix == ours.machines_matrix
        same_instance(inst, parse_instance(json.dumps(theirs.to_dict()), f"{entry.name}.json"))


def test_pyjobshop_reads_our_fjs_files_as_to_pyjobshop_builds_them(tmp_path):
    pytest.importorskip("pyjobshop")
    from pyjobshop import read

    from jaxshop.instances.formats import write_fjs
    from jaxshop.interop import to_pyjobshop

    def modes(data):
        return sorted((m.task, tuple(m.resources), m.duration) for m in data.modes)

    for entry in suite("brandimarte"):
        path = tmp_path / f"{entry.name}.fjs"
        path.write_text(write_fjs(entry.instance))
        theirs, ours = read(path), to_pyjobshop(entry.instance)
        assert modes(theirs) == modes(ours)
        assert [t.job for t in theirs.tasks] == [t.job for t in ours.tasks]
        assert len(theirs.resources) == len(ours.resources)


def test_solve_reads_a_job_shop_lib_json_file(tmp_path, capsys):
    import json

    from jaxshop_baselines.cli import main

    (tmp_path / "ft06.json").write_text(json.dumps({
        "name": "ft06-like", "duration_matrix": [[3, 2], [4, 1]],
        "machines_matrix": [[0, [0, 1]], [1, 0]]}))
    for extra in ([], ["--format", "job-shop-lib-json"]):
        assert main(["solve", str(tmp_path / "ft06.json"), "--method", "rule:spt", "--json",
                     *extra]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["problem"] == "fjsp" and out["makespan"] >= 5
    (tmp_path / "bad.json").write_text('{"duration_matrix": [[1, 2]],\n "machines_matrix": [[0]]}')
    assert main(["solve", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.json, line 1" in err and "differ" in err
    (tmp_path / "broken.json").write_text('{"duration_matrix":\n [[1, 2]')
    assert main(["solve", str(tmp_path / "broken.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.json, line 2: not JSON" in err
