#!/usr/bin/env bash
# On the GPU machine, in one call (issue 15): builds `wma` where build-gpu/ lacks it, then runs `wma interact` in
# fp16 at full size on upstream's example data with deterministic weights and the flags of upstream's run script,
# and prints the profile rows the issue measures: conditioning_prep and decode per pass, save_results per
# iteration, loading, GPU memory. Upstream's prompts folder and config travel in third_party_carry/ (copied from
# an upstream checkout's examples/world_model_interaction_prompts and configs/inference).
#   PROMPTS  prompts folder (default third_party_carry/prompts)
#   CONFIG   world_model_interaction.yaml (default third_party_carry/configs/inference/...)
#   DATASET  (default unitree_g1_pack_camera), N_ITER (default 3), FRAME_STRIDE (default 6)
#   CKPT     a checkpoint to load instead of the deterministic weights (bench/measure_load_on_gpu.sh)
#   CLIP_VOCAB OpenCLIP's vocabulary, which a checkpoint needs (default third_party_carry/bpe_simple_vocab_16e6.txt.gz)
#   PRECISION (default fp16), DDIM_STEPS (default 50), HEIGHT, WIDTH (default 320, 512): a dry run on a CPU
#            with tests/fixtures/configs/tiny.yaml takes fp32, 1, 64 and 64
set -uo pipefail
out=${OUT:-gpu_out}
prompts=${PROMPTS:-third_party_carry/prompts}
config=${CONFIG:-third_party_carry/configs/inference/world_model_interaction.yaml}
mkdir -p "$out"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/card.txt"
fi
if [[ ! -x build-gpu/wma ]]; then
  (cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DWMA_BUILD_TESTS=OFF && ninja -C build-gpu -j16 wma) \
    >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
fi
weights=(--demo_weights)
if [[ -n "${CKPT:-}" ]]; then
  weights=(--ckpt_path "$CKPT" --clip_vocab "${CLIP_VOCAB:-third_party_carry/bpe_simple_vocab_16e6.txt.gz}")
fi
build-gpu/wma interact "${weights[@]}" --config "$config" --prompt_dir "$prompts" --dataset "${DATASET:-unitree_g1_pack_camera}" \
  --savedir "$out/interact" --precision "${PRECISION:-fp16}" --seed 123 --bs 1 --height "${HEIGHT:-320}" --width "${WIDTH:-512}" \
  --unconditional_guidance_scale 1.0 --ddim_steps "${DDIM_STEPS:-50}" --ddim_eta 1.0 --video_length 16 --n_action_steps 16 \
  --exe_steps 16 --timestep_spacing uniform_trailing --guidance_rescale 0.7 --perframe_ae \
  --frame_stride "${FRAME_STRIDE:-6}" --n_iter "${N_ITER:-3}" >"$out/interact.log" 2>&1
status=$?
grep -E "^(model_|synthesis/|save_results|action_generation|world_model_interaction|iteration_total|GPU|peak|average|host_)" \
  "$out/interact.log"
echo "wma interact exit $status"
exit $status
