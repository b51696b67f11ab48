// Where a sampling pass gets its Gaussian draws. Upstream (scripts/evaluation/world_model_interaction.py)
// draws from two torch generators: the CPU one for the VAE posterior samples and the CUDA one for the initial
// latent/action/state noise and every DDIM step (spec §7.6). A NoiseSource serves both streams in call order.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "io/weight_store.h"

namespace wma::pipeline {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // The next standard-normal draw of upstream's CUDA generator: f32 CPU tensor, torch layout.
  virtual Tensor randn_cuda(const Shape& shape) = 0;
  // The next draw of upstream's CPU generator (VAE posterior samples).
  virtual Tensor randn_cpu(const Shape& shape) = 0;
};

// Replays draws recorded from upstream (the end-to-end fixtures' `noise.*` tensors) in order; a draw of
// another shape than recorded, or one past the end, is an error naming the source.
class RecordedNoise : public NoiseSource {
 public:
  explicit RecordedNoise(std::string source_name) : source_(std::move(source_name)) {}
  // Queues one sampling pass's draws stored under `prefix` (e.g. "" or "iter0.policy."):
  // CPU noise.posterior.0, .1, ...; CUDA noise.x_T, noise.action_T, noise.state_T, then noise.step[k].
  void append_pass(const io::WeightStore& store, const std::string& prefix = "");
  // The passes of an end-to-end fixture: its unprefixed one, or those of a generation fixture's chunks
  // (chunk0., chunk1., ...) in order.
  static std::unique_ptr<RecordedNoise> from_pass_fixture(const std::string& path);

  Tensor randn_cuda(const Shape& shape) override;
  Tensor randn_cpu(const Shape& shape) override;
  std::size_t remaining_cuda() const { return cuda_.size(); }
  std::size_t remaining_cpu() const { return cpu_.size(); }

 private:
  Tensor next(std::deque<Tensor>& queue, std::size_t& served, const char* stream, const Shape& shape);
  std::string source_;
  std::deque<Tensor> cpu_, cuda_;
  std::size_t served_cpu_ = 0, served_cuda_ = 0;
};

// Counter-based Philox-4x32-10 with Box-Muller: fast, reproducible across machines, not torch's stream.
// The two streams use different Philox keys derived from the seed.
class PhiloxNoise : public NoiseSource {
 public:
  explicit PhiloxNoise(std::uint64_t seed);
  Tensor randn_cuda(const Shape& shape) override { return draw(cuda_stream_, shape); }
  Tensor randn_cpu(const Shape& shape) override { return draw(cpu_stream_, shape); }

 private:
  struct Stream {
    std::uint32_t key[2];
    std::uint64_t counter = 0;  // Philox blocks consumed
  };
  static Tensor draw(Stream& stream, const Shape& shape);
  Stream cuda_stream_, cpu_stream_;
};

// Upstream's own streams for a seed (docs/rng.md): torch's CUDA generator for the latent, action, state
// and step noise, torch's CPU generator for the VAE posterior samples, both as after seed_everything(seed).
// The CPU stream upstream sees at the first encode also depends on the draws its model construction
// consumed, which are not replayed here: the posterior noise matches a fresh torch.manual_seed(seed).
class TorchNoise : public NoiseSource {
 public:
  explicit TorchNoise(std::int64_t seed) : generators_(seed_everything(seed)) {}
  Tensor randn_cuda(const Shape& shape) override { return generators_.cuda.randn(shape); }
  Tensor randn_cpu(const Shape& shape) override { return generators_.cpu.randn(shape); }

 private:
  SeededGenerators generators_;
};

// One Philox-4x32-10 block (exposed for tests against the Random123 known-answer vectors).
void philox4x32_10(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]);

}  // namespace wma::pipeline
