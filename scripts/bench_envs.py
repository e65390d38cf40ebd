#!/usr/bin/env python
"""Env throughput benchmark; a thin wrapper around `jaxshop.bench` (= `jaxshop bench`)
that writes the repository's report, `results/bench_envs.json`, unless `--out` is given.

    python scripts/bench_envs.py --cases pfsp --batch 1,64,1024,4096 --peers
"""

from __future__ import annotations

import sys

from jaxshop.bench import DEFAULT_OUT, main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv += ["--out", DEFAULT_OUT]
    sys.exit(main(argv))
