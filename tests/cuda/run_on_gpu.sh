#!/usr/bin/env bash
# Builds the CUDA test binary and runs the tests labelled `cuda`, on a machine with a GPU.
# Usage (repository root): tests/cuda/run_on_gpu.sh [build-dir]. Pass-through: GTEST_FILTER.
set -euo pipefail
build="${1:-build-gpu}"
extra=()
# GoogleTest sources carried next to the tree, for machines without libgtest-dev.
[[ -d third_party_carry/googletest ]] && extra+=("-DWMA_GTEST_SOURCE_DIR=$PWD/third_party_carry/googletest")
cmake -S . -B "$build" -G Ninja "${extra[@]}" >/dev/null
ninja -C "$build" test_cuda
ctest --test-dir "$build" -L cuda --output-on-failure -j4
