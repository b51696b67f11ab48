#!/usr/bin/env bash
# Builds the CUDA test binary (and bench_ops) and runs the tests labelled `cuda`, on a machine
# with a GPU. Usage (repository root): tests/cuda/run_on_gpu.sh [build-dir].
# Pass-through: GTEST_FILTER. BENCH=1 also runs bench_ops, writing bench_ops.json in the build dir.
set -euo pipefail
build="${1:-build-gpu}"
extra=()
# GoogleTest sources carried next to the tree, for machines without libgtest-dev.
[[ -d third_party_carry/googletest ]] && extra+=("-DWMA_GTEST_SOURCE_DIR=$PWD/third_party_carry/googletest")
cmake -S . -B "$build" -G Ninja -DWMA_BUILD_BENCH=ON "${extra[@]}" >/dev/null
ninja -C "$build" test_cuda bench_ops
ctest --test-dir "$build" -L cuda --output-on-failure -j4
if [[ "${BENCH:-0}" == 1 ]]; then
  "$build/bench/bench_ops" --json "$build/bench_ops.json"
fi
