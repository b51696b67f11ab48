// PyTorch-compatible random streams: torch.randn on the CPU (ATen mt19937, CPUGeneratorImpl and
// native/cpu/DistributionTemplates.h normal_kernel) and on CUDA (curand Philox4_32_10 with ATen's
// cuda/DistributionTemplates.h distribution_nullary_kernel layout and CUDAGeneratorImpl offsets),
// torch 2.3.1 as pinned upstream (same code in current ATen; CPU checked on torch 2.15). See docs/rng.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "core/tensor.h"

namespace wma {

// c10::detail::default_rng_seed_val: the seed of torch's generators before any manual_seed.
inline constexpr std::uint64_t kTorchDefaultSeed = 67280421310721ULL;

// torch's default CPU generator: mt19937 plus the cached second Box-Muller sample of the scalar
// normal path. randn follows ATen's CPU normal_kernel for float32 contiguous tensors on x86-64
// with AVX2 (the AVX512 build dispatches normal_stub to the AVX2 kernel, so this is what torch
// produces on every current x86-64 CPU).
class TorchCpuGenerator {
 public:
  explicit TorchCpuGenerator(std::uint64_t seed = kTorchDefaultSeed);

  // torch.manual_seed / CPUGeneratorImpl::set_current_seed: reseeds mt19937 with the low 32 bits
  // and drops the cached normal sample.
  void manual_seed(std::uint64_t seed);
  std::uint64_t initial_seed() const { return seed_; }

  std::uint32_t random();    // CPUGeneratorImpl::random: one mt19937 output
  std::uint64_t random64();  // CPUGeneratorImpl::random64: two outputs, the first is the high word
  // Skips n outputs, as n calls of random() would (whole twists without tempering, about 0.6 ns
  // per output). The cached normal sample is left as it is.
  void discard(std::uint64_t n);

  // torch.randn(shape) (float32, contiguous): the vectorised Box-Muller for 16 or more elements,
  // the scalar double-precision path with its cached second sample below 16.
  Tensor randn(const Shape& shape);
  void fill_randn(float* out, std::int64_t n);

 private:
  void twist();
  void fill_randn_avx2(float* out, std::int64_t n);
  void fill_randn_scalar(float* out, std::int64_t n);

  std::uint64_t seed_ = 0;
  std::array<std::uint32_t, 624> state_{};
  int left_ = 1;
  int next_ = 0;
  std::optional<double> next_double_normal_;
};

// What ATen's calc_execution_policy picks for a grid-stride distribution kernel of `numel`
// elements drawn four per curand call (float32 normal).
struct CudaLaunch {
  std::uint32_t blocks = 0;
  std::uint32_t threads_per_block = 0;
  std::uint64_t offset_increment = 0;  // added to the generator's Philox offset by the call
};

// The geometry assumed where no GPU is asked (CPU runs): an H100 SXM's or H200's, which pipeline-sized draws
// share with every GPU of at least 80 SMs (docs/rng.md).
constexpr int kDefaultSmCount = 132;
constexpr int kDefaultMaxThreadsPerSm = 2048;

// torch's default CUDA generator, emulated on the CPU: seed and Philox offset as in
// CUDAGeneratorImpl, values as produced by curand_normal4 on the device (curand's Box-Muller with
// libdevice logf and the sin.approx/cos.approx hardware approximations, modelled bit for bit).
// The element-to-thread layout depends on the launch grid, which ATen caps at
// sm_count * (max_threads_per_sm / 256) blocks: only tensors larger than that many threads
// depend on the device (H100 SXM and H200: 132 SMs, 2048 threads per SM -> 270336 threads).
class TorchCudaGenerator {
 public:
  explicit TorchCudaGenerator(int sm_count = kDefaultSmCount, int max_threads_per_sm = kDefaultMaxThreadsPerSm,
                              std::uint64_t seed = kTorchDefaultSeed);

  // torch.cuda.manual_seed: new seed, Philox offset back to 0.
  void manual_seed(std::uint64_t seed);
  std::uint64_t initial_seed() const { return seed_; }
  std::uint64_t philox_offset() const { return offset_; }  // CUDAGeneratorImpl::get_offset
  void set_philox_offset(std::uint64_t offset);            // must be a multiple of 4, as in ATen
  int sm_count() const { return sm_count_; }

  CudaLaunch launch_for(std::int64_t numel) const;

  // torch.randn(shape, device="cuda") for float32, returned as a CPU tensor.
  Tensor randn(const Shape& shape);
  void fill_randn(float* out, std::int64_t n);

 private:
  int sm_count_;
  int max_threads_per_sm_;
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

// Both torch generators after pytorch_lightning's seed_everything(seed), which upstream calls
// once before building the model: random.seed, numpy.random.seed, torch.manual_seed (CPU and
// every CUDA device), torch.cuda.manual_seed_all. Python's and numpy's generators are not
// modelled: the pipeline never draws from them. Seeds outside [0, 2^32 - 1] are rejected
// (lightning would silently pick a random seed instead).
struct SeededGenerators {
  TorchCpuGenerator cpu;
  TorchCudaGenerator cuda;
};
SeededGenerators seed_everything(std::int64_t seed, int sm_count = kDefaultSmCount,
                                 int max_threads_per_sm = kDefaultMaxThreadsPerSm);

// The float32 operations curand_normal4's Box-Muller performs on the device, exposed for tests.
namespace cuda_math {
float logf(float x);        // libdevice __nv_logf, for normal positive finite x
float sin_approx(float x);  // PTX sin.approx.f32 (MUFU.SIN), for normal positive x below 2^33
float cos_approx(float x);  // PTX cos.approx.f32 (MUFU.COS), same domain
// _curand_box_muller(x, y) as compiled for the device: {s * sin(v), s * cos(v)} with
// s = box_muller_radius(x) and v = box_muller_angle(y).
float box_muller_radius(std::uint32_t x);
float box_muller_angle(std::uint32_t y);
std::array<float, 2> box_muller(std::uint32_t x, std::uint32_t y);
// Philox4x32-10 block for a 128-bit counter and 64-bit key (curand_Philox4x32_10).
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter, std::uint64_t key);
}  // namespace cuda_math

}  // namespace wma
