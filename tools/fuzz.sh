#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) in build-fuzz/, replays each target's seed
# corpus fuzz/corpus/<target>/ as a regression, then fuzzes each target in turn (docs/fuzzing.md).
#   tools/fuzz.sh [-t SECONDS | -n RUNS | -r] [TARGET...]
#     -t SECONDS  fuzz each target this long (default 20 when -n is not given)
#     -n RUNS     fuzz each target for this many executions (with -t: whichever ends first)
#     -r          replay the corpora only
# New inputs go to build-fuzz/corpus/<target>/, crashes to build-fuzz/artifacts/<target>/; the repository's
# corpus is only read. WMA_FUZZ_JOBS sets the build's parallelism (default 2). Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="" runs="" replay_only=0
while getopts "t:n:r" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    n) runs=$OPTARG ;;
    r) replay_only=1 ;;
    *) sed -n 2,9p "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ -z "$seconds" ] && [ -z "$runs" ]; then seconds=20; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_ckpt fuzz_safetensors fuzz_yaml fuzz_json fuzz_png fuzz_csv fuzz_http_request fuzz_h5)
  # Built only where libpng and libjpeg are (fuzz/CMakeLists.txt).
  if pkg-config --exists libpng libjpeg 2>/dev/null; then targets+=(fuzz_image); fi
fi

build=build-fuzz
CC=clang-14 CXX=clang++-14 cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWMA_FUZZ=ON \
  -DWMA_CUDA=OFF -DWMA_BUILD_TESTS=OFF -DWMA_HDF5=OFF -DWMA_LIBAV=OFF >/dev/null
cmake --build $build -j"${WMA_FUZZ_JOBS:-2}" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
limits=(-rss_limit_mb=2048 -timeout=10)
status=0
# Runs one libFuzzer command into a log; prints its final stats line, or the log's end on a finding.
run() {
  local log=$1; shift
  if "$@" >"$log" 2>&1; then
    grep -E '^#[0-9]+\s+(DONE|INITED)|^stat::number_of_executed_units' "$log" | tail -n 2
  else
    echo "fuzz: FINDING (log $log):"; tail -n 60 "$log"; status=1
  fi
}
for t in "${targets[@]}"; do
  mkdir -p $build/corpus/$t $build/artifacts/$t $build/logs
  common=("${limits[@]}" -artifact_prefix=$build/artifacts/$t/)
  echo "fuzz: $t: corpus regression"
  run $build/logs/$t.regression.log $build/fuzz/$t "${common[@]}" -runs=0 fuzz/corpus/$t
  if [ $replay_only -eq 1 ]; then continue; fi
  budget=()
  if [ -n "$runs" ]; then budget+=(-runs="$runs"); fi
  if [ -n "$seconds" ]; then budget+=(-max_total_time="$seconds"); fi
  if [ -f fuzz/dict/$t.dict ]; then common+=(-dict=fuzz/dict/$t.dict); fi
  echo "fuzz: $t: fuzzing (${budget[*]})"
  # New inputs go to the first folder only; the seeds are read as a starting point.
  run $build/logs/$t.fuzz.log $build/fuzz/$t "${common[@]}" "${budget[@]}" -print_final_stats=1 \
    $build/corpus/$t fuzz/corpus/$t
done
exit $status
