// The built-in demo of `wma demo`: upstream's UnifoLM-WMA-0 architecture at the sizes of the parity fixtures'
// tiny configuration (tests/fixtures/configs/tiny.yaml, derived from configs/inference/world_model_interaction.yaml),
// deterministic weights, and a synthetic scene in place of upstream's example data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/clip_tokenizer.h"
#include "pipeline/world_model.h"

namespace wma::pipeline {

// The preset configuration (64x64 video, 8x8 latents, 16 frames).
WorldModelConfig demo_config();

// A tokenizer without BPE merges (bytes only), so the demo needs no vocabulary file.
models::ClipTokenizer demo_tokenizer();
// Its merges file (meaningless pairs of byte symbols, as many as OpenCLIP's), for programs that read one.
std::string demo_merges_text();

struct DemoScene {
  Tensor image;              // [H, W, 3] in [-1, 1]
  std::vector<float> state;  // normalised, padded to `state_pad`
  std::string instruction;
  std::int64_t state_dim = 7, action_dim = 7;
};

// A table top with three coloured blocks and an arm-like bar, drawn procedurally.
DemoScene make_demo_scene(std::int64_t height, std::int64_t width, std::int64_t state_pad);

}  // namespace wma::pipeline
