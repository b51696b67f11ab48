#!/usr/bin/env bash
# On the GPU machine (issue 15): cold loads of the full-size model from an official-layout .ckpt and from its
# converted .safetensors, each with its file's pages evicted from the page cache first, then one `wma interact`
# iteration (bench/measure_loop_on_gpu.sh) whose profile gives model_loading, model_loading/checkpoint,
# model_to_cuda, peak host memory and host_resident_after_loading. The files are made here, once per machine
# (steps whose output exists are skipped; each writes a temporary and renames it):
#   wma convert --demo_weights --dtype fp32  -> full_fp32.safetensors (the engine's deterministic weights)
#   bench/make_official_ckpt.py              -> full.ckpt (torch.save, Lightning layout, dp_ema_model added)
#   wma convert full.ckpt                    -> full.safetensors (bf16, as a user converts the official file)
#   WORK  where the files go (default /tmp/wma_load; about 40 GB at the peak for the 4.2 B-parameter model)
#   and measure_loop_on_gpu.sh's PROMPTS, CONFIG, DATASET.
set -uo pipefail
out=${OUT:-gpu_out}
work=${WORK:-/tmp/wma_load}
config=${CONFIG:-third_party_carry/configs/inference/world_model_interaction.yaml}
mkdir -p "$out" "$work"
if [[ ! -x build-gpu/wma ]]; then
  (cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DWMA_BUILD_TESTS=OFF && ninja -C build-gpu -j16 wma) \
    >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
fi
step() {  # step NAME OUTPUT COMMAND...: runs COMMAND unless OUTPUT exists, timed, into $out/NAME.log
  local name=$1 output=$2; shift 2
  if [[ -s "$output" ]]; then echo "$name: $output exists"; return 0; fi
  local start=$(date +%s)
  "$@" >"$out/$name.log" 2>&1 || { echo "$name failed:"; tail -20 "$out/$name.log"; exit 1; }
  echo "$name: $(($(date +%s) - start)) s: $(tail -1 "$out/$name.log")"
}
if [[ ! -s "$work/full.ckpt" ]]; then
  step demo_weights "$work/full_fp32.safetensors" \
    build-gpu/wma convert --demo_weights --config "$config" --dtype fp32 "$work/full_fp32.safetensors"
  step official_ckpt "$work/full.ckpt" python3 bench/make_official_ckpt.py "$work/full_fp32.safetensors" "$work/full.ckpt"
fi
step convert "$work/full.safetensors" build-gpu/wma convert "$work/full.ckpt" "$work/full.safetensors"
rm -f "$work/full_fp32.safetensors"
ls -l "$work" | tee "$out/sizes.txt"

# Evicts FILE's pages: the whole page cache where this machine lets us, else the file's own pages
# (posix_fadvise DONTNEED, which drops clean pages); prints how many of its pages stay cached when fincore exists.
evict() {
  sync
  if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
    echo "evicted: drop_caches"
  else
    python3 -c "import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)" "$1"
    echo "evicted: posix_fadvise DONTNEED (drop_caches not writable)"
  fi
  if command -v fincore >/dev/null; then fincore "$1"; fi
}
status=0
for f in full.ckpt full.safetensors; do
  echo "== cold load of $f"
  evict "$work/$f"
  OUT="$out/$f" CKPT="$work/$f" N_ITER=1 bash bench/measure_loop_on_gpu.sh || status=1
done
exit $status
