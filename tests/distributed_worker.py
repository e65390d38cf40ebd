"""One process of the two-process `jax.distributed` tests (tests/test_distributed.py).

`python distributed_worker.py PROCESS_ID PORT -- ARGS...` parses ARGS as
`jaxshop train pointer` does (with --distributed and the coordinator flags added), trains,
and prints `PARAMS <digest>` of the parameters this process holds afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import sys

os.environ.setdefault("JAXSHOP_POINTER_FAST_COMPILE", "1")

from jaxshop_baselines.checkpoints import params_digest  # noqa: E402
from jaxshop_baselines.pointer.train import (  # noqa: E402
    build_parser,
    config_from_args,
    run_training,
)

from jaxshop import parallel  # noqa: E402


def main() -> None:
    pid, port, rest = sys.argv[1], sys.argv[2], sys.argv[4:]
    args = build_parser().parse_args([
        *rest, "--distributed", "--coordinator", f"localhost:{port}", "--num-processes", "2",
        "--process-id", pid,
    ])
    mesh = parallel.mesh_from_args(args)
    config = dataclasses.replace(config_from_args(args), eval_size=0)  # no validation compile
    runner = run_training(config, args.out, seed=args.seed, resume=args.resume,
                          progress=False, plot=False, mesh=mesh)
    info = parallel.run_info(mesh)
    digest = params_digest(parallel.host_value(runner.params))
    print(f"PARAMS {digest} devices={info['devices']} processes={info['processes']}", flush=True)


if __name__ == "__main__":
    main()
