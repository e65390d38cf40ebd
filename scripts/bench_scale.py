"""Scale-out benchmark: throughput against the number of devices and the global batch.

For each device count (a fresh process each; on a CPU the devices are simulated with
`--xla_force_host_platform_device_count`, so this measures correctness and overhead, not
a speed-up) and global batch, on a mesh of that many devices (`jaxshop_baselines.parallel`):

- env decisions/s: random instances generated and solved by the random policy (one
  uniform per decision) in one jitted call, the batch sharded over the mesh;
- training updates/s: pointer REINFORCE updates (`make_train_chunk`), batch sharded,
  parameters replicated.

Then `jaxshop eval --random fjsp:10x5:N --method M --json` in a fresh process per N: the
chunked evaluation of N random 10x5 instances, with its peak memory (device peak where
the backend reports it, else the process's peak RSS). Compile time is reported
separately from the timed runs, which end with `block_until_ready`.

    python scripts/bench_scale.py                       # the default grid, 10^6 eval
    python scripts/bench_scale.py --devices 1,8 --eval-n 10000,1000000 --out results/x
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = "--child"


def _child(devices: int, env_batches: list[int], train_batches: list[int], repeats: int,
           train_updates: int) -> dict:
    """Runs inside a process that sees `devices` devices; returns its measurements."""
    import jax
    import numpy as np
    from jaxshop_baselines import parallel
    from jaxshop_baselines.evaluation.generated import generated_chunk
    from jaxshop_baselines.methods import get_method
    from jaxshop_baselines.pointer.config import PointerConfig
    from jaxshop_baselines.pointer.train import init_runner, make_train_chunk

    from jaxshop.instances.generated import parse_generated

    mesh = parallel.make_mesh(devices)
    rows = []
    with parallel.use_mesh(mesh):
        for batch in env_batches:
            suite = parse_generated(f"fjsp:10x5:{batch}")
            run = jax.jit(generated_chunk(get_method("random"), suite))
            keys = parallel.shard_batch(np.asarray(jax.random.split(jax.random.PRNGKey(0),
                                                                    batch)))
            t0 = time.perf_counter()
            compiled = run.lower(keys).compile()
            compile_s = time.perf_counter() - t0
            # Decisions = operations scheduled, counted on the instances of the call.
            decisions = int(_count_operations(suite.generator(), keys))
            jax.block_until_ready(compiled(keys))  # warm-up
            t0 = time.perf_counter()
            for _ in range(repeats):
                jax.block_until_ready(compiled(keys))
            dt = (time.perf_counter() - t0) / repeats
            rows.append({"kind": "env", "devices": devices, "global_batch": batch,
                         "per_device_batch": batch // devices,
                         "decisions_per_second": round(decisions / dt, 1),
                         "instances_per_second": round(batch / dt, 1),
                         "seconds_per_call": round(dt, 4), "compile_seconds": round(compile_s, 2)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        for batch in train_batches:
            config = PointerConfig(batch_size=batch, updates_per_chunk=train_updates,
                                   checkpoint_every=train_updates, eval_size=0)
            runner = parallel.replicate(init_runner(config, jax.random.PRNGKey(0)))
            t0 = time.perf_counter()
            chunk = make_train_chunk(config).lower(runner).compile()
            compile_s = time.perf_counter() - t0
            runner, _ = chunk(runner)  # warm-up
            jax.block_until_ready(runner)
            t0 = time.perf_counter()
            for _ in range(repeats):
                runner, metrics = chunk(runner)
            jax.block_until_ready((runner, metrics))
            dt = (time.perf_counter() - t0) / (repeats * train_updates)
            rows.append({"kind": "train", "devices": devices, "global_batch": batch,
                         "per_device_batch": batch // devices,
                         "updates_per_second": round(1 / dt, 3),
                         "schedules_per_second": round(batch / dt, 1),
                         "compile_seconds": round(compile_s, 2)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rows": rows, **parallel.run_info(mesh)}


def _count_operations(generate, keys):
    """Operations of the instances drawn from `keys` as the evaluator draws them."""
    import jax

    one = lambda key: generate(jax.random.split(key)[0]).num_ops.sum()  # noqa: E731
    return jax.jit(lambda k: jax.vmap(one)(k).sum())(keys)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _run_child(devices: int, args) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
    cmd = [sys.executable, __file__, CHILD, str(devices), args.env_batch, args.train_batch,
           str(args.repeats), str(args.train_updates)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if run.returncode:
        raise RuntimeError(f"devices={devices}: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _run_eval(n: int, method: str, chunk: int) -> dict:
    cmd = ["jaxshop", "eval", "--random", f"fjsp:10x5:{n}", "--method", method, "--chunk",
           str(chunk), "--json"]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"eval N={n}: {run.stderr[-2000:]}")
    out = json.loads(run.stdout)
    out["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _device_table(report: dict, kind: str, title: str, rates: dict[str, tuple[str, str]]
                  ) -> list[str]:
    """The Markdown section of the `kind` rows: one line per device count and batch, with
    the `rates` columns (header -> (row field, format spec)) between the batches and the
    compile time."""
    header = ["devices", "global batch", "per device", *rates, "compile s"]
    lines = ["", f"## {title}", "", "| " + " | ".join(header) + " |",
             "|---:" * len(header) + "|"]
    for r in (r for r in report["rows"] if r["kind"] == kind):
        cells = [r["devices"], r["global_batch"], r["per_device_batch"],
                 *(format(r[field], spec) for field, spec in rates.values()),
                 r["compile_seconds"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def _markdown(report: dict) -> str:
    lines = [f"# Scale-out benchmark ({report['device_kind']}, jax {report['jax']})", "",
             f"Load average at start {report['load_start']}, at end {report['load_end']} "
             f"(2-core CPU shared with other jobs). Simulated CPU devices share the same "
             "cores: the columns show overhead and correctness, not a speed-up."]
    lines += _device_table(report, "env",
                           "Env decisions/s (random policy, FJSP 10x5, generation included)",
                           {"decisions/s": ("decisions_per_second", ",.0f"),
                            "instances/s": ("instances_per_second", ",.0f")})
    lines += _device_table(report, "train",
                           "Pointer training updates/s (FJSP 10x5, AC-SD, dim 64)",
                           {"updates/s": ("updates_per_second", ""),
                            "schedules/s": ("schedules_per_second", ",.0f")})
    lines += ["", "## `jaxshop eval --random fjsp:10x5:N` (chunked, one process per N)", "",
              "| N | method | chunk | devices | solved | mean makespan | instances/s | "
              "compile s | peak memory MiB |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for e in report["eval"]:
        peak = e["device_peak_bytes"] or e["host_peak_rss_bytes"]
        kind = "device" if e["device_peak_bytes"] else "host RSS"
        lines.append(f"| {e['instances']:,} | {e['method']} | {e['chunk_size']} | "
                     f"{e['devices']} | {e['solved']:,} | {e['mean_makespan']:.2f} | "
                     f"{e['instances_per_second']:,.0f} | {e['compile_seconds']} | "
                     f"{peak / 2**20:,.0f} ({kind}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        devices, env_b, train_b, repeats, updates = sys.argv[2:7]
        print(json.dumps(_child(int(devices), _ints(env_b), _ints(train_b), int(repeats),
                                int(updates))))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="1,2,4,8", help="device counts (default 1,2,4,8)")
    p.add_argument("--env-batch", default="1024,8192", help="global env batches")
    p.add_argument("--train-batch", default="64,256", help="global training batches")
    p.add_argument("--train-updates", type=int, default=2, help="updates per jitted call")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per measurement")
    p.add_argument("--eval-n", default="10000,100000,1000000",
                   help="random 10x5 instances evaluated (one process each)")
    p.add_argument("--eval-method", default="random,rule:MWKR-EF",
                   help="methods of the eval runs (comma-separated)")
    p.add_argument("--eval-chunk", type=int, default=8192)
    p.add_argument("--out", default="runs/results/bench_scale", help="writes OUT.json and OUT.md")
    args = p.parse_args()

    import jax

    report = {"jax": jax.__version__, "device_kind": jax.devices()[0].device_kind,
              "load_start": round(os.getloadavg()[0], 2), "rows": [], "eval": []}
    for d in _ints(args.devices):
        child = _run_child(d, args)
        report["rows"] += child["rows"]
    for method in args.eval_method.split(","):
        for n in _ints(args.eval_n):
            report["eval"].append(_run_eval(n, method, args.eval_chunk))
            print(json.dumps(report["eval"][-1]), file=sys.stderr, flush=True)
    report["load_end"] = round(os.getloadavg()[0], 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    text = _markdown(report)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
