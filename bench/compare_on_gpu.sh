#!/usr/bin/env bash
# On the GPU machine, in one call: builds this tree and a baseline source tree (e.g. the previous main, from
# `git archive`), runs the cuda-labelled tests, then bench_ops and a full-size `wma bench` for both builds in the
# same run, so every ratio is measured side by side on one card. Logs and JSON go to $OUT (default gpu_out/).
#   BASELINE_SRC  baseline source tree (default third_party_carry/baseline)
#   CONFIG        upstream's world_model_interaction.yaml (default third_party_carry/configs/inference/...)
#   OPS_FILTER    bench_ops --filter (default: every op)
#   BASE_TWICE    time the baseline again after this build (drift check)
#   PROFILE_SHAPES=1  op profile rows per shape; PROFILE_STEPS (2) DDIM steps of the profiled run
#   STEPS         any of: tests ops bench profile unfused (default all)
#   GTEST_SRC     GoogleTest sources for machines without libgtest-dev (default third_party_carry/googletest)
set -uo pipefail
base_src=${BASELINE_SRC:-third_party_carry/baseline}
config=${CONFIG:-third_party_carry/configs/inference/world_model_interaction.yaml}
steps=${STEPS:-tests ops bench profile unfused}
out=${OUT:-gpu_out}
gtest=${GTEST_SRC:-$PWD/third_party_carry/googletest}
mkdir -p "$out"
has() { [[ " $steps " == *" $1 "* ]]; }
log() { echo "== $*" | tee -a "$out/summary.txt"; }

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$out/card.txt"
git rev-parse --short HEAD 2>/dev/null | tee -a "$out/card.txt"
start=$(date +%s)
(cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DWMA_BUILD_BENCH=ON -DWMA_GTEST_SOURCE_DIR="$gtest" &&
  ninja -C build-gpu -j12 wma test_cuda test_cuda_models test_cuda_pipeline bench_ops) >"$out/build_new.log" 2>&1 &
new_pid=$!
if [[ -d "$base_src" ]]; then
  (cmake -S "$base_src" -B build-base -G Ninja -DCMAKE_BUILD_TYPE=Release -DWMA_BUILD_BENCH=ON -DWMA_BUILD_TESTS=OFF &&
    ninja -C build-base -j4 wma bench_ops) >"$out/build_base.log" 2>&1 &
  base_pid=$!
fi
wait $new_pid || { tail -40 "$out/build_new.log"; exit 1; }
[[ -n "${base_pid:-}" ]] && { wait $base_pid || { tail -20 "$out/build_base.log"; base_src=""; }; }
log "builds took $(( $(date +%s) - start )) s"

if has tests; then
  ctest --test-dir build-gpu -L cuda -j4 --output-on-failure >"$out/tests.log" 2>&1
  log "cuda tests: $(grep -E 'tests passed|tests failed' "$out/tests.log")"
  grep -E "^\s+[0-9]+ - .*(Failed|Exception|Timeout)" "$out/tests.log" | head -20 | tee -a "$out/summary.txt"
fi
if has unfused; then
  WMA_CUDA_FUSION=0 ctest --test-dir build-gpu -L cuda -j4 >"$out/tests_unfused.log" 2>&1
  log "cuda tests with WMA_CUDA_FUSION=0: $(grep -E 'tests passed|tests failed' "$out/tests_unfused.log")"
fi
if has ops; then
  build-gpu/bench/bench_ops --reps 10 ${OPS_FILTER:+--filter "$OPS_FILTER"} --json "$out/bench_ops.json" \
    >"$out/bench_ops.log" 2>&1
  tail -60 "$out/bench_ops.log" >>"$out/summary.txt"
fi
bench() {  # name binary extra-args...
  local name=$1 bin=$2; shift 2
  "$bin" bench --config "$config" --precision fp16 --json "$out/bench_$name.json" \
    --save_outputs "build-gpu/outputs_$name.safetensors" "$@" >"$out/bench_$name.log" 2>&1
  log "$name: $(grep -E 'denoiser_step|iteration' "$out/bench_$name.log" | tr '\n' ' ' | cut -c1-300)"
}
if has bench; then
  [[ -n "$base_src" ]] && bench base build-base/wma
  bench new build-gpu/wma
  [[ -n "$base_src" && -n "${BASE_TWICE:-}" ]] && bench base_again build-base/wma
  bench new_bf16 build-gpu/wma --precision bf16
  # Same torch noise in both runs: the fp16 videos of this build against the baseline's (the baseline's own
  # distance to upstream fp32 is in docs/performance.md).
  [[ -n "$base_src" ]] && python3 bench/upstream/psnr.py build-gpu/outputs_base.safetensors \
    build-gpu/outputs_new.safetensors >"$out/psnr_new_vs_base.txt" 2>&1 && cat "$out/psnr_new_vs_base.txt" >>"$out/summary.txt"
fi
if has profile; then
  WMA_OP_PROFILE_SHAPES=${PROFILE_SHAPES:-0} build-gpu/wma bench --config "$config" --precision fp16 \
    --ddim_steps "${PROFILE_STEPS:-2}" --warmup 1 --op_profile >"$out/profile_new.log" 2>&1
  grep -E "^denoise/|denoise glue|denoiser step" "$out/profile_new.log" | head -60 >>"$out/summary.txt"
fi
log "total $(( $(date +%s) - start )) s"
