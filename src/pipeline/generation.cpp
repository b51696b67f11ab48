// base_model_inference.py image_guided_synthesis (L252-336) and the chunk loop of run_inference (L392-420).
#include "pipeline/generation.h"

#include "core/error.h"
#include "ops/ops.h"

namespace wma::pipeline {

BaseModelGenerator::BaseModelGenerator(Synthesizer& synthesizer, const models::ClipTokenizer& tokenizer)
    : synth_(synthesizer), tokenizer_(tokenizer) {
  WMA_CHECK(synth_.model().config.wma.unet.base_model_gen_only, "[generate] ", synth_.model().config.source,
            " is not a base-model config (model.params.wma_config.params.base_model_gen_only is false)");
}

models::WMAConditioning BaseModelGenerator::condition(const Tensor& frame, const std::string& prompt, std::int64_t fs,
                                                      NoiseSource& noise) {
  const WorldModel& model = synth_.model();
  const WorldModelConfig& c = model.config;
  WMA_CHECK(frame.dim() == 4 && frame.size(0) == 1 && frame.size(3) == 3, "[generate] the input frame must be ",
            "[1, H, W, 3], got ", shape_str(frame.shape()));
  const std::int64_t h = frame.size(1), w = frame.size(2), down = c.vae_downscale();
  WMA_CHECK(h == c.video_height() && w == c.video_width(), "[generate] the input frame is ", h, "x", w, ", the model (",
            c.source, ") generates ", c.video_height(), "x", c.video_width());
  const std::int64_t frames = c.wma.unet.temporal_length;
  const Device device = model.options.device;
  const Tensor image = frame.device() == device ? ops::contiguous(frame) : ops::to_device(frame, device);

  // Image tokens of the first frame: 'b (t l) c -> (b t) l c', frame f takes tokens 16f..16f+15.
  const Tensor tokens = model.image_proj(model.image_embedder(image));
  WMA_CHECK(tokens.size(1) % frames == 0, "[generate] the Resampler gives ", tokens.size(1), " tokens, not a multiple",
            " of the ", frames, " frames");
  const Tensor image_tokens = ops::contiguous(tokens).reshape({frames, tokens.size(1) / frames, tokens.size(2)});
  const Tensor text =
      ops::repeat_interleave(model.text_encoder(tokenizer_.tokenize(std::vector<std::string>{prompt})), 0, frames);

  // Every input frame samples its posterior (upstream's CPU stream, first frame first); the frames are all the
  // same picture and only the first latent conditions, so one encode with the first draw gives it.
  std::vector<Tensor> draws;
  for (std::int64_t f = 0; f < frames; ++f) draws.push_back(noise.randn_cpu({1, c.vae.embed_dim, h / down, w / down}));
  const Tensor first_draw = ops::contiguous(draws.front().permute({0, 2, 3, 1})).unsqueeze(1);
  const Tensor z =
      model.vae.encode_first_stage(image.unsqueeze(1), ops::to_device(first_draw, device), c.perframe_ae ? 1 : 0);

  models::WMAConditioning cond;
  cond.context = ops::concat({text, image_tokens}, 1);
  cond.c_concat = ops::contiguous(ops::repeat(z, 1, frames));
  cond.fs = ops::to_device(Tensor::from_ints({1}, {fs}), device);
  return cond;
}

ChunkOutput BaseModelGenerator::chunk(const Tensor& frame, const std::string& prompt, std::int64_t fs,
                                      NoiseSource& noise, Profiler* profiler, const std::function<void()>& on_step) {
  models::WMAPass pass;
  {
    const auto timer = Profiler::scope(profiler, "synthesis/conditioning_prep");
    pass = synth_.model().diffusion.prepare(condition(frame, prompt, fs, noise));
  }
  PassOutput sampled;
  {
    const auto timer = Profiler::scope(profiler, "synthesis/ddim_sampling");
    sampled = synth_.sample(pass, noise, on_step);
  }
  const auto timer = Profiler::scope(profiler, "synthesis/decode_first_stage");
  return {sampled.latent, synth_.decode(sampled.latent)};
}

std::vector<ChunkOutput> BaseModelGenerator::generate(const Tensor& frame, const std::string& prompt, std::int64_t fs,
                                                      int num_gen, NoiseSource& noise, Profiler* profiler,
                                                      const std::function<void()>& on_step) {
  WMA_CHECK(num_gen >= 1, "[generate] num_gen must be at least 1, got ", num_gen);
  std::vector<ChunkOutput> chunks;
  Tensor input = frame;
  for (int k = 0; k < num_gen; ++k) {
    chunks.push_back(chunk(input, prompt, fs, noise, profiler, on_step));
    const Tensor& video = chunks.back().video;
    input = ops::contiguous(video.select(1, video.size(1) - 1));
  }
  return chunks;
}

}  // namespace wma::pipeline
