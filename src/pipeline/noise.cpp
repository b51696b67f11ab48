// Noise sources for the sampling passes: replay of upstream's recorded torch.randn draws, and our own
// Philox-4x32-10 (Salmon et al., Random123) + Box-Muller generator, and upstream's torch streams (TorchNoise).
#include "pipeline/noise.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "ops/device.h"
#include "ops/ops.h"

namespace wma::pipeline {

void RecordedNoise::append_pass(const io::WeightStore& store, const std::string& prefix) {
  for (int i = 0;; ++i) {
    const std::string key = prefix + "noise.posterior." + std::to_string(i);
    if (!store.contains(key)) break;
    cpu_.push_back(store.load(key));
  }
  for (const char* name : {"noise.x_T", "noise.action_T", "noise.state_T"}) cuda_.push_back(store.load(prefix + name));
  const Tensor steps = store.load(prefix + "noise.step");
  for (std::int64_t k = 0; k < steps.size(0); ++k) cuda_.push_back(ops::contiguous(steps.select(0, k)));
}

std::unique_ptr<RecordedNoise> RecordedNoise::from_pass_fixture(const std::string& path) {
  auto noise = std::make_unique<RecordedNoise>(path);
  const io::WeightStore store = io::WeightStore::open(path);
  if (!store.contains("chunk0.noise.x_T")) {
    noise->append_pass(store);
    return noise;
  }
  for (int k = 0; store.contains("chunk" + std::to_string(k) + ".noise.x_T"); ++k)
    noise->append_pass(store, "chunk" + std::to_string(k) + ".");
  return noise;
}

Tensor RecordedNoise::next(std::deque<Tensor>& queue, std::size_t& served, const char* stream, const Shape& shape) {
  WMA_CHECK(!queue.empty(), "[noise] recorded noise ", source_, ": the ", stream, " stream has only ", served,
            " draws, the pipeline asks for another ", shape_str(shape));
  Tensor t = queue.front();
  WMA_CHECK(t.shape() == shape, "[noise] recorded noise ", source_, ": ", stream, " draw #", served, " has shape ",
            shape_str(t.shape()), ", the pipeline asks for ", shape_str(shape));
  queue.pop_front();
  ++served;
  return ops::cast(t, DType::F32);
}

Tensor NoiseSource::randn_cuda_on(const Shape& shape, Device device) {
  const Tensor host = randn_cuda(shape);
  return device == Device::CPU ? host : ops::to_device(host, device);
}

Tensor TorchNoise::randn_cuda_on(const Shape& shape, Device device) {
  if (device == Device::CUDA) {
    Tensor out = Tensor::empty(shape, DType::F32, Device::CUDA);
    if (out.numel() == 0) return out;
    TorchCudaGenerator& g = generators_.cuda;
    const CudaLaunch launch = g.launch_for(out.numel());
    ops::torch_randn(out, g.initial_seed(), g.philox_offset(), launch.blocks, launch.threads_per_block);
    g.set_philox_offset(g.philox_offset() + launch.offset_increment);
    return out;
  }
  return NoiseSource::randn_cuda_on(shape, device);
}

Tensor RecordedNoise::randn_cuda(const Shape& shape) { return next(cuda_, served_cuda_, "CUDA", shape); }
Tensor RecordedNoise::randn_cpu(const Shape& shape) { return next(cpu_, served_cpu_, "CPU", shape); }

TorchNoise::TorchNoise(std::int64_t seed, std::uint64_t construction_draws, GpuGeometry gpu)
    : generators_(seed_everything(seed, gpu.sm_count, gpu.max_threads_per_sm)) {
  if (construction_draws > 0)
    cpu_positioned_ = std::async(std::launch::async, [this, left = construction_draws]() mutable {
      constexpr std::uint64_t kChunk = std::uint64_t{1} << 26;  // ~30 ms
      while (left > 0 && !stop_.load(std::memory_order_relaxed)) {
        const std::uint64_t n = std::min(left, kChunk);
        generators_.cpu.discard(n);
        left -= n;
      }
    });
}

TorchNoise::~TorchNoise() {
  stop_ = true;
  if (cpu_positioned_.valid()) cpu_positioned_.wait();
}

Tensor TorchNoise::randn_cpu(const Shape& shape) {
  if (cpu_positioned_.valid()) cpu_positioned_.get();
  return generators_.cpu.randn(shape);
}

void philox4x32_10(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]) {
  std::uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  std::uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c0;
    const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c2;
    const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<std::uint32_t>(p1);
    c3 = static_cast<std::uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

PhiloxNoise::PhiloxNoise(std::uint64_t seed) {
  const auto lo = static_cast<std::uint32_t>(seed), hi = static_cast<std::uint32_t>(seed >> 32);
  cuda_stream_.key[0] = lo, cuda_stream_.key[1] = hi;
  cpu_stream_.key[0] = lo ^ 0x5bd1e995u, cpu_stream_.key[1] = hi ^ 0x1b873593u;
}

Tensor PhiloxNoise::draw(Stream& stream, const Shape& shape) {
  Tensor out = Tensor::empty(shape, DType::F32);
  float* p = out.data<float>();
  const std::int64_t n = out.numel();
  // Uniforms in (0, 1]: 24-bit mantissa fraction shifted away from 0 so log() is finite.
  auto uniform = [](std::uint32_t u) { return (static_cast<float>(u >> 8) + 1.0f) * (1.0f / 16777216.0f); };
  for (std::int64_t i = 0; i < n; i += 4) {
    const std::uint32_t ctr[4] = {static_cast<std::uint32_t>(stream.counter),
                                  static_cast<std::uint32_t>(stream.counter >> 32), 0, 0};
    std::uint32_t r[4];
    philox4x32_10(ctr, stream.key, r);
    ++stream.counter;
    float z[4];
    for (int pair = 0; pair < 2; ++pair) {
      const float radius = std::sqrt(-2.0f * std::log(uniform(r[2 * pair])));
      const float angle = 2.0f * std::numbers::pi_v<float> * uniform(r[2 * pair + 1]);
      z[2 * pair] = radius * std::cos(angle);
      z[2 * pair + 1] = radius * std::sin(angle);
    }
    for (int j = 0; j < 4 && i + j < n; ++j) p[i + j] = z[j];
  }
  return out;
}

}  // namespace wma::pipeline
