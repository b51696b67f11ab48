// Base-model video generation: upstream's scripts/evaluation/base_model_inference.py (image_guided_synthesis and
// run_inference's chunk loop) with configs/inference/base_model_inference.yaml
// (docs/upstream.md#base-model-generation). The conditioning differs from the interaction pass (per-frame context
// [text 77 | image 16], the latent of the first input frame as c_concat, no observations); the denoising loop and
// the decode are the Synthesizer's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/clip_tokenizer.h"
#include "pipeline/noise.h"
#include "pipeline/profile.h"
#include "pipeline/synthesis.h"

namespace wma::pipeline {

struct ChunkOutput {
  Tensor latent;  // [1, T, h, w, C] as the sampler returns it
  Tensor video;   // [1, T, H, W, 3] raw decoder output
};

class BaseModelGenerator {
 public:
  // `synthesizer` runs the DDIM loop and the decode; its model must be a base_model_gen_only one.
  BaseModelGenerator(Synthesizer& synthesizer, const models::ClipTokenizer& tokenizer);

  // One image_guided_synthesis call on `frame` [1, H, W, 3] in [-1, 1] (upstream's input video is that frame
  // repeated T times). `prompt` is "" without upstream's --text_input.
  ChunkOutput chunk(const Tensor& frame, const std::string& prompt, std::int64_t fs, NoiseSource& noise,
                    Profiler* profiler = nullptr, const std::function<void()>& on_step = {});

  // run_inference for one image: `num_gen` chunks, each next input the previous chunk's last decoded frame
  // (unclamped, as upstream feeds it back). Returns every chunk in order.
  std::vector<ChunkOutput> generate(const Tensor& frame, const std::string& prompt, std::int64_t fs, int num_gen,
                                    NoiseSource& noise, Profiler* profiler = nullptr,
                                    const std::function<void()>& on_step = {});

  // The conditioning of chunk(), public for tests: context [T, 93, D], c_concat, fs. Consumes T CPU-stream
  // draws (upstream encodes all T identical input frames, each sampling its posterior; only the first latent
  // is used, so only the first frame is encoded here).
  models::WMAConditioning condition(const Tensor& frame, const std::string& prompt, std::int64_t fs,
                                    NoiseSource& noise);

 private:
  Synthesizer& synth_;
  const models::ClipTokenizer& tokenizer_;
};

}  // namespace wma::pipeline
