#!/usr/bin/env bash
# GPU throughput benchmark, under 5 minutes on a GPU: env decisions/s of 10x10 job shops
# and 10x5 flexible job shops at batch 2^10..2^17 (random and first policies), pointer
# training schedules/s at batch 512..4096, compile times apart. Prints a table and writes
# the JSON report (runs/results/bench_gpu.json unless --out; --quick writes only to --out).
#
#   bash scripts/bench_gpu.sh                                          # on a GPU machine
#   bash scripts/bench_gpu.sh --quick --out /tmp/bench_gpu_quick.json  # CPU smoke test
#   bash scripts/bench_gpu.sh --env-batches 1024,131072 --train-batches 512,4096
#
# Options go to scripts/bench_gpu.py (`--help` lists them); PYTHON picks the interpreter.
set -euo pipefail

# Grow GPU memory as needed instead of taking 75 % up front (other processes may share it).
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}"  # no INFO lines from XLA
export PYTHONUNBUFFERED=1  # progress lines as they happen

exec "${PYTHON:-$(command -v python || command -v python3)}" "$(dirname "$0")/bench_gpu.py" "$@"
