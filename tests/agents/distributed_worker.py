"""One process of the two-process `jax.distributed` tests (tests/agents/test_distributed.py).

`python distributed_worker.py TRAINER PROCESS_ID PORT -- ARGS...` parses ARGS as
`jaxshop train TRAINER` does (with --distributed and the coordinator flags added), trains
through that trainer's `run_training`, and prints `PARAMS <digest>` of the parameters
this process holds afterwards. TRAINER: pointer, ppo, ddqn or distill.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys

os.environ.setdefault("JAXSHOP_POINTER_FAST_COMPILE", "1")

from jaxshop_baselines import parallel  # noqa: E402
from jaxshop_baselines.checkpoints import params_digest  # noqa: E402

#: trainer -> (module, its run function)
TRAINERS = {
    "pointer": ("jaxshop_baselines.pointer.train", "run_training"),
    "ppo": ("jaxshop_baselines.ppo.train", "run_training"),
    "ddqn": ("jaxshop_baselines.ddqn.train", "run_training"),
    "distill": ("jaxshop_baselines.distill.train", "run_distill"),
}


def main() -> None:
    trainer, pid, port, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5:]
    module_name, run_name = TRAINERS[trainer]
    module = importlib.import_module(module_name)
    args = module.build_parser().parse_args([
        *rest, "--distributed", "--coordinator", f"localhost:{port}", "--num-processes", "2",
        "--process-id", pid,
    ])
    mesh = parallel.mesh_from_args(args)
    config = module.config_from_args(args)
    config = dataclasses.replace(config, eval_size=0)  # no validation compile
    run = getattr(module, run_name)
    no_plot = {"plot": False} if "plot" in inspect.signature(run).parameters else {}
    runner = run(config, args.out, seed=args.seed, resume=args.resume, progress=False,
                 mesh=mesh, **no_plot)
    info = parallel.run_info(mesh)
    digest = params_digest(parallel.host_value(runner.params))
    print(f"PARAMS {digest} devices={info['devices']} processes={info['processes']}", flush=True)


if __name__ == "__main__":
    main()
