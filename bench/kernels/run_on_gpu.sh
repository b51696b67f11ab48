#!/usr/bin/env bash
# On the GPU machine: builds a kernel lab program (default geglu_linear) with nvcc for sm_90a, counts the HGMMA
# instructions in its SASS, runs it (arguments passed on) under a time limit and prints the timed rows.
# Logs, SASS and the binary go to $OUT (default gpu_out/).
#   LAB=geglu_linear bash bench/kernels/run_on_gpu.sh [--quick]
set -uo pipefail
out=${OUT:-gpu_out}
lab=${LAB:-geglu_linear}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$out/card.txt"
start=$(date +%s)
nvcc -std=c++20 -O3 -gencode arch=compute_90a,code=sm_90a -Xptxas -v "bench/kernels/$lab.cu" -lcublasLt \
  -o "$out/$lab" >"$out/${lab}_build.log" 2>&1 || { tail -30 "$out/${lab}_build.log"; exit 1; }
echo "build $(($(date +%s) - start)) s"
cuobjdump --dump-sass "$out/$lab" >"$out/$lab.sass" 2>&1
echo "HGMMA instructions: $(grep -c HGMMA "$out/$lab.sass")"
timeout 150 "$out/$lab" "$@" >"$out/${lab}_run.log" 2>&1
status=$?
grep -v " - " "$out/${lab}_run.log" | cut -c1-100
echo "exit $status, failed checks: $(grep -c FAIL "$out/${lab}_run.log")"
exit $status
