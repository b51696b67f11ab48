#!/usr/bin/env bash
# On the GPU machine, in one call (issue 15): builds `wma` where build-gpu/ lacks it, then runs `wma interact` in
# fp16 at full size on upstream's example data with deterministic weights and the flags of upstream's run script,
# and prints the profile rows the issue measures: conditioning_prep and decode per pass, save_results per
# iteration, loading, GPU memory. Upstream's prompts folder and config travel in third_party_carry/ (copied from
# an upstream checkout's examples/world_model_interaction_prompts and configs/inference).
#   PROMPTS  prompts folder (default third_party_carry/prompts)
#   CONFIG   world_model_interaction.yaml (default third_party_carry/configs/inference/...)
#   DATASET  (default unitree_g1_pack_camera), N_ITER (default 3), FRAME_STRIDE (default 6)
set -uo pipefail
out=${OUT:-gpu_out}
prompts=${PROMPTS:-third_party_carry/prompts}
config=${CONFIG:-third_party_carry/configs/inference/world_model_interaction.yaml}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/card.txt"
if [[ ! -x build-gpu/wma ]]; then
  (cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DWMA_BUILD_TESTS=OFF && ninja -C build-gpu -j16 wma) \
    >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
fi
build-gpu/wma interact --demo_weights --config "$config" --prompt_dir "$prompts" --dataset "${DATASET:-unitree_g1_pack_camera}" \
  --savedir "$out/interact" --precision fp16 --seed 123 --bs 1 --height 320 --width 512 \
  --unconditional_guidance_scale 1.0 --ddim_steps 50 --ddim_eta 1.0 --video_length 16 --n_action_steps 16 \
  --exe_steps 16 --timestep_spacing uniform_trailing --guidance_rescale 0.7 --perframe_ae \
  --frame_stride "${FRAME_STRIDE:-6}" --n_iter "${N_ITER:-3}" >"$out/interact.log" 2>&1
status=$?
grep -E "^(model_|synthesis/|save_results|action_generation|world_model_interaction|iteration_total|GPU)" "$out/interact.log"
echo "wma interact exit $status"
exit $status
