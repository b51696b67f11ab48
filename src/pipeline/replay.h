// One interaction iteration recorded from upstream (bench/upstream/run_upstream.py --record): its inputs, every
// random draw of both passes and upstream's outputs. Replaying it through our pipeline gives outputs comparable
// tensor for tensor with upstream's (bench/upstream/psnr.py), and per-module tensors for the full-size parity
// check (tools/reference/make_fixtures.py --full-size --compare).
#pragma once

#include <memory>
#include <string>

#include "io/safetensors.h"
#include "io/weight_store.h"
#include "pipeline/interaction.h"
#include "pipeline/noise.h"
#include "pipeline/synthesis.h"

namespace wma::pipeline {

class RecordedIteration {
 public:
  // Checks the record against the model (frame size, state/action dims) and names what does not match.
  RecordedIteration(const std::string& path, const WorldModelConfig& config);

  const PassInput& policy_input() const { return policy_; }
  const PassInput& world_input() const { return world_; }
  // Both passes' draws in upstream's call order (policy first).
  std::unique_ptr<RecordedNoise> noise() const;
  // Upstream's final latent of a pass ("policy" or "world"), channels-last [1, T, h, w, C].
  Tensor upstream_latent(const std::string& pass) const;
  const std::string& path() const { return path_; }
  const io::WeightStore& store() const { return store_; }

 private:
  std::string path_;
  io::WeightStore store_;
  PassInput policy_, world_;
};

// Compares every draw of the record with what `noise` draws for the same shapes in the same order (CPU
// stream: the posterior samples; CUDA stream on `device`: x_T, action_T, state_T, one per step), bit for
// bit. Returns one line per pass and stream; `all_equal` false if any element differs.
struct NoiseComparison {
  bool all_equal = true;
  std::string report;
};
NoiseComparison compare_recorded_noise(const RecordedIteration& record, NoiseSource& noise, Device device);

// Policy pass, then the world-model pass on the recorded actions (upstream's, so that both engines' world
// passes see the same input), timed under run_interaction's section names.
IterationResult run_recorded_iteration(Synthesizer& synth, const RecordedIteration& record, NoiseSource& noise,
                                       Profiler* profiler);

// Writes an iteration's outputs under upstream's names and layouts (iter0.<pass>.output.video [1, 3, T, H, W],
// .latent [1, C, T, h, w], .actions, .states), so record and replay files compare key by key.
void write_iteration_outputs(const std::string& path, const IterationResult& result);

// Per-module tensors of both passes in upstream layouts (dump.<pass>.text, .image_tokens, .z, .state_emb,
// .action_emb, .step0.v, .step0.action_eps, .step0.state_eps, .decode), docs/fixtures.md "full size".
void write_module_dump(const std::string& path, Synthesizer& synth, const RecordedIteration& record);

}  // namespace wma::pipeline
