// Where a sampling pass gets its Gaussian draws. Upstream (scripts/evaluation/world_model_interaction.py) draws from
// two torch generators: the CPU one for the VAE posterior samples and the CUDA one for the initial latent/action/state
// noise and every DDIM step (docs/upstream.md#random-streams). A NoiseSource serves both streams in call order.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <future>
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
  // randn_cuda's draw placed on `device`; sources that can draw on the GPU do so there.
  virtual Tensor randn_cuda_on(const Shape& shape, Device device);
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

// The device properties ATen's launch grid for torch.randn depends on (TorchCudaGenerator): SMs and resident
// threads per SM (2048 on A100 and Hopper, 1536 on sm_86/87/89); an H100's/H200's where there is no GPU.
struct GpuGeometry {
  int sm_count = kDefaultSmCount;
  int max_threads_per_sm = kDefaultMaxThreadsPerSm;
};

// Upstream's own streams for a seed (docs/rng.md): torch's CUDA generator for the latent, action, state
// and step noise, torch's CPU generator for the VAE posterior samples, both as after seed_everything(seed).
// Upstream builds its model after seeding and every parameter initialisation draws from the CPU generator
// first: `construction_draws` (models::upstream_construction_draws for the config) are skipped on a
// background thread, which the first CPU draw waits for (about 3 s for the released model). `gpu` is the
// GPU's geometry (ATen's launch grid, hence the CUDA stream, depends on it for large tensors).
class TorchNoise : public NoiseSource {
 public:
  explicit TorchNoise(std::int64_t seed, std::uint64_t construction_draws = 0, GpuGeometry gpu = {});
  ~TorchNoise() override;  // stops an unfinished skip (a run that fails while loading need not wait)
  TorchNoise(const TorchNoise&) = delete;
  TorchNoise& operator=(const TorchNoise&) = delete;
  Tensor randn_cuda(const Shape& shape) override { return generators_.cuda.randn(shape); }
  Tensor randn_cpu(const Shape& shape) override;
  // On CUDA the draw runs torch's own kernel (backends/cuda/torch_rng.cu): same values, no host work.
  Tensor randn_cuda_on(const Shape& shape, Device device) override;

 private:
  SeededGenerators generators_;
  std::atomic<bool> stop_{false};
  std::future<void> cpu_positioned_;  // the skip; generators_.cpu is the thread's until it is done
};

// One Philox-4x32-10 block (exposed for tests against the Random123 known-answer vectors).
void philox4x32_10(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]);

}  // namespace wma::pipeline
