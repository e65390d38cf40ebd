#!/usr/bin/env python
"""Env throughput benchmark; a thin wrapper around `jaxshop.bench` (= `jaxshop bench`).

    python scripts/bench_envs.py --cases pfsp --batch 1,64,1024,4096 --peers
"""

from __future__ import annotations

import sys

from jaxshop.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
