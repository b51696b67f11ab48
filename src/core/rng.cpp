// PyTorch-compatible random streams (torch 2.3.1 as pinned upstream). CPU: ATen MT19937RNGEngine.h,
// CPUGeneratorImpl, cpu/DistributionTemplates.h normal_kernel with avx_mathfun.h log256_ps and
// sincos256_ps. CUDA: curand_kernel.h Philox4_32_10 + curand_normal.h _curand_box_muller, launched as
// in ATen cuda/DistributionTemplates.h distribution_nullary_kernel. See docs/rng.md.
#include "core/rng.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numbers>

#include "core/dtype.h"
#include "core/error.h"

namespace wma {

// ----------------------------------------------------------------------------------------------
// CPU: mt19937 and ATen's normal transforms.
// ----------------------------------------------------------------------------------------------

namespace {

constexpr int kMtN = 624;
constexpr int kMtM = 397;

// One lane of avx_mathfun.h log256_ps. ATen compiles it with -mavx2 -mfma under GCC's default
// -ffp-contract=fast, so every multiply whose only use is an add became an FMA; where two
// multiplies meet in one add GCC fused the earlier one (checked bit for bit against torch's
// output: the other choices differ in about 1 element in 1000).
float avx2_log(float x) {
  x = std::max(x, 0x1p-126f);
  const std::uint32_t bits = float_bits(x);
  float e = static_cast<float>(static_cast<std::int32_t>(bits >> 23) - 0x7f) + 1.0f;
  float m = bits_float((bits & ~0x7f800000u) | float_bits(0.5f));
  const bool below_sqrthf = m < static_cast<float>(0.707106781186547524);
  const float tmp = below_sqrthf ? m : 0.0f;
  m = m - 1.0f;
  e = e - (below_sqrthf ? 1.0f : 0.0f);
  m = m + tmp;
  const float z = m * m;
  float y = static_cast<float>(7.0376836292E-2);
  y = std::fma(y, m, static_cast<float>(-1.1514610310E-1));
  y = std::fma(y, m, static_cast<float>(1.1676998740E-1));
  y = std::fma(y, m, static_cast<float>(-1.2420140846E-1));
  y = std::fma(y, m, static_cast<float>(1.4249322787E-1));
  y = std::fma(y, m, static_cast<float>(-1.6668057665E-1));
  y = std::fma(y, m, static_cast<float>(2.0000714765E-1));
  y = std::fma(y, m, static_cast<float>(-2.4999993993E-1));
  y = std::fma(y, m, static_cast<float>(3.3333331174E-1));
  y = y * m;
  y = std::fma(y, z, e * static_cast<float>(-2.12194440e-4));  // y*z fused, e*q1 rounded
  y = std::fma(-z, 0.5f, y);
  m = m + y;
  return std::fma(e, 0.693359375f, m);
}

// One lane of avx_mathfun.h sincos256_ps for x >= 0 (theta = 2*pi*u is never negative here).
void avx2_sincos(float x, float* s, float* c) {
  float y = x * static_cast<float>(1.27323954473516);  // 4 / pi
  std::int32_t j = static_cast<std::int32_t>(y);       // cvttps: truncation
  j = (j + 1) & ~1;
  y = static_cast<float>(j);
  const bool sin_negative = (j & 4) != 0;
  const bool sin_uses_sin_poly = (j & 2) == 0;
  const bool cos_negative = (~(j - 2) & 4) != 0;
  // Extended-precision reduction x - y*pi/4 in three parts, each multiply fused into its add.
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, static_cast<float>(-2.4187564849853515625e-4), x);
  x = std::fma(y, static_cast<float>(-3.77489497744594108e-8), x);
  const float z = x * x;
  float yc = static_cast<float>(2.443315711809948E-005);
  yc = std::fma(yc, z, static_cast<float>(-1.388731625493765E-003));
  yc = std::fma(yc, z, static_cast<float>(4.166664568298827E-002));
  yc = yc * z;
  yc = std::fma(yc, z, -(z * 0.5f));  // as in log: the earlier multiply is the fused one
  yc = yc + 1.0f;
  float ys = static_cast<float>(-1.9515295891E-4);
  ys = std::fma(ys, z, static_cast<float>(8.3321608736E-3));
  ys = std::fma(ys, z, static_cast<float>(-1.6666654611E-1));
  ys = ys * z;
  ys = std::fma(ys, x, x);
  // The blend adds the masked-out lane's +0.0 (and y - y), which turns -0.0 into +0.0.
  float sin_v = (sin_uses_sin_poly ? ys : yc) + 0.0f;
  float cos_v = (sin_uses_sin_poly ? yc : ys) + 0.0f;
  *s = sin_negative ? -sin_v : sin_v;
  *c = cos_negative ? -cos_v : cos_v;
}

// normal_fill_16_AVX2: data[0..8) and data[8..16) hold uniforms in [0, 1); mean 0, std 1.
void avx2_normal_fill_16(float* data) {
  const float two_pi = static_cast<float>(2.0 * std::numbers::pi);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * avx2_log(u1));
    float s = 0.0f;
    float c = 0.0f;
    avx2_sincos(two_pi * u2, &s, &c);
    data[j] = std::fma(radius * c, 1.0f, 0.0f);
    data[j + 8] = std::fma(radius * s, 1.0f, 0.0f);
  }
}

// transformation::uniform_real<float>(random(), 0, 1): 24 random bits scaled by 2^-24.
float uniform_float(std::uint32_t r) { return static_cast<float>(r & ((1u << 24) - 1)) * 0x1p-24f; }
// transformation::uniform_real<double>(random64(), 0, 1): 53 random bits scaled by 2^-53.
double uniform_double(std::uint64_t r) { return static_cast<double>(r & ((std::uint64_t{1} << 53) - 1)) * 0x1p-53; }

}  // namespace

TorchCpuGenerator::TorchCpuGenerator(std::uint64_t seed) { manual_seed(seed); }

void TorchCpuGenerator::manual_seed(std::uint64_t seed) {
  seed_ = seed;
  state_[0] = static_cast<std::uint32_t>(seed & 0xffffffffu);
  for (int j = 1; j < kMtN; ++j) {
    state_[j] = 1812433253u * (state_[j - 1] ^ (state_[j - 1] >> 30)) + static_cast<std::uint32_t>(j);
  }
  left_ = 1;
  next_ = 0;
  next_double_normal_.reset();
}

void TorchCpuGenerator::twist() {
  auto mix = [](std::uint32_t u, std::uint32_t v) {
    const std::uint32_t y = (u & 0x80000000u) | (v & 0x7fffffffu);
    return (y >> 1) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
  };
  // Three ranges without a modulo, so the compiler vectorises the first two (discard runs millions
  // of twists).
  int i = 0;
  for (; i < kMtN - kMtM; ++i) state_[i] = state_[i + kMtM] ^ mix(state_[i], state_[i + 1]);
  for (; i < kMtN - 1; ++i) state_[i] = state_[i + kMtM - kMtN] ^ mix(state_[i], state_[i + 1]);
  state_[kMtN - 1] = state_[kMtM - 1] ^ mix(state_[kMtN - 1], state_[0]);
  left_ = kMtN;
  next_ = 0;
}

void TorchCpuGenerator::discard(std::uint64_t n) {
  // random() may hand out left_ - 1 outputs before it twists again.
  const auto ready = static_cast<std::uint64_t>(left_ - 1);
  if (n <= ready) {
    left_ -= static_cast<int>(n);
    next_ += static_cast<int>(n);
    return;
  }
  n -= ready;
  const std::uint64_t twists = (n + kMtN - 1) / kMtN;
  for (std::uint64_t t = 0; t < twists; ++t) twist();
  const auto taken = static_cast<int>(n - (twists - 1) * kMtN);  // outputs taken after the last twist
  left_ = kMtN + 1 - taken;
  next_ = taken;
}

std::uint32_t TorchCpuGenerator::random() {
  if (--left_ == 0) twist();
  std::uint32_t y = state_[next_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

std::uint64_t TorchCpuGenerator::random64() {
  const std::uint64_t hi = random();
  const std::uint64_t lo = random();
  return (hi << 32) | lo;
}

Tensor TorchCpuGenerator::randn(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32, Device::CPU);
  fill_randn(t.data<float>(), t.numel());
  return t;
}

void TorchCpuGenerator::fill_randn(float* out, std::int64_t n) {
  if (n >= 16) {
    fill_randn_avx2(out, n);
  } else {
    fill_randn_scalar(out, n);
  }
}

// normal_fill_AVX2: all uniforms first, Box-Muller over blocks of 16 (first 8 give the radius,
// last 8 the angle); a ragged tail redraws 16 fresh uniforms for the last 16 elements.
void TorchCpuGenerator::fill_randn_avx2(float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = uniform_float(random());
  for (std::int64_t i = 0; i + 16 <= n; i += 16) avx2_normal_fill_16(out + i);
  if (n % 16 != 0) {
    float* tail = out + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform_float(random());
    avx2_normal_fill_16(tail);
  }
}

// normal_distribution<double> per element (serial kernel): Box-Muller in double with the sine
// half cached on the generator for the next call, then cast to float.
void TorchCpuGenerator::fill_randn_scalar(float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    double v = 0.0;
    if (next_double_normal_) {
      v = *next_double_normal_;
      next_double_normal_.reset();
    } else {
      const double u1 = uniform_double(random64());
      const double u2 = uniform_double(random64());
      const double r = std::sqrt(-2.0 * std::log1p(-u2));
      const double theta = 2.0 * std::numbers::pi * u1;
      next_double_normal_ = r * std::sin(theta);
      v = r * std::cos(theta);
    }
    out[i] = static_cast<float>(v * 1.0 + 0.0);
  }
}

// ----------------------------------------------------------------------------------------------
// CUDA: curand's Philox4x32-10 and Box-Muller as the device computes them.
// ----------------------------------------------------------------------------------------------

namespace cuda_math {

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> c, std::uint64_t key) {
  std::uint32_t k0 = static_cast<std::uint32_t>(key);
  std::uint32_t k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c[0];
    const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c[2];
    c = {static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k0, static_cast<std::uint32_t>(p1),
         static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k1, static_cast<std::uint32_t>(p0)};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// __nv_logf as inlined by nvcc (CUDA 12/13 libdevice): split x = 2^e * m with m in
// [0.666, 1.333), odd polynomial in m - 1, every step an fma.rn.f32. The subnormal, infinite and
// non-positive branches are left out: the Box-Muller argument lies in [2^-33, 1].
float logf(float x) {
  const std::uint32_t bits = float_bits(x);
  const std::uint32_t e_bits = (bits - 0x3F2AAAABu) & 0xFF800000u;
  const float m = bits_float(bits - e_bits);
  const float e = std::fma(static_cast<float>(static_cast<std::int32_t>(e_bits)), 0x1p-23f, 0.0f);
  const float t = m - 1.0f;
  float p = bits_float(0xBE055027u);
  p = std::fma(p, t, bits_float(0x3E1039F6u));
  p = std::fma(p, t, bits_float(0xBDF8CDCCu));
  p = std::fma(p, t, bits_float(0x3E0F2955u));
  p = std::fma(p, t, bits_float(0xBE2AD8B9u));
  p = std::fma(p, t, bits_float(0x3E4CED0Bu));
  p = std::fma(p, t, bits_float(0xBE7FFF22u));
  p = std::fma(p, t, bits_float(0x3EAAAA78u));
  p = std::fma(p, t, bits_float(0xBF000000u));
  p = p * t;
  p = std::fma(p, t, t);
  return std::fma(e, bits_float(0x3F317218u), p);
}

namespace {

// MUFU.SIN / MUFU.COS as PTX sin.approx.f32 / cos.approx.f32 compile on sm_70 and later: range
// reduction to a quadrant and a 23-bit fixed-point fraction (the RRO step), then a quadratic
// interpolation with a 64-entry table and a truncated squarer. Reverse-engineered and validated
// exhaustively on sm_70/sm_75 by B. Carleton's ptx-math (MIT licence), re-implemented here.
struct SinSegment {
  std::uint32_t c0, c1, c2;
};
constexpr SinSegment kSinTable[64] =
    {{0x0000000, 0x6489, 0x00e}, {0x00c90a7, 0x6482, 0x030}, {0x0191f64, 0x646a, 0x04c}, {0x025aa3e, 0x6444, 0x06e},
     {0x0322f4a, 0x640d, 0x089}, {0x03eac9a, 0x63c8, 0x0ab}, {0x04b203d, 0x6373, 0x0c9}, {0x057884e, 0x630e, 0x0e5},
     {0x063e2dd, 0x629b, 0x106}, {0x0702e08, 0x6218, 0x124}, {0x07c67e4, 0x6186, 0x142}, {0x0888e92, 0x60e5, 0x160},
     {0x094a02f, 0x6035, 0x17d}, {0x0a09ae5, 0x5f76, 0x19a}, {0x0ac7cd1, 0x5ea9, 0x1b9}, {0x0b84426, 0x5dcd, 0x1d6},
     {0x0c3ef15, 0x5ce2, 0x1f1}, {0x0cf7bcb, 0x5be9, 0x20d}, {0x0dae87f, 0x5ae2, 0x229}, {0x0e63374, 0x59cd, 0x245},
     {0x0f15aea, 0x58aa, 0x260}, {0x0fc5d24, 0x577a, 0x27d}, {0x1073876, 0x563c, 0x298}, {0x111eb36, 0x54f0, 0x2b0},
     {0x11c73b0, 0x5398, 0x2cb}, {0x126d054, 0x5232, 0x2e2}, {0x130ff7e, 0x50c0, 0x2fb}, {0x13affa2, 0x4f42, 0x316},
     {0x144cf2f, 0x4db7, 0x32c}, {0x14e6ca9, 0x4c21, 0x347}, {0x157d690, 0x4a7e, 0x35b}, {0x1610b72, 0x48d0, 0x371},
     {0x16a09e5, 0x4717, 0x388}, {0x172d082, 0x4553, 0x39e}, {0x17b5df2, 0x4384, 0x3b2}, {0x183b0df, 0x41ab, 0x3c7},
     {0x18bc804, 0x3fc8, 0x3dc}, {0x193a226, 0x3dda, 0x3ec}, {0x19b3e02, 0x3be4, 0x401}, {0x1a29a79, 0x39e4, 0x413},
     {0x1a9b660, 0x37db, 0x423}, {0x1b090a7, 0x35c9, 0x432}, {0x1b72832, 0x33b0, 0x445}, {0x1bd7c09, 0x318e, 0x453},
     {0x1c38b2c, 0x2f65, 0x463}, {0x1c954b0, 0x2d34, 0x470}, {0x1ced7ae, 0x2afc, 0x47c}, {0x1d4134c, 0x28be, 0x48a},
     {0x1d906bd, 0x2679, 0x494}, {0x1ddb13a, 0x242f, 0x4a1}, {0x1e2120e, 0x21df, 0x4ac}, {0x1e6288f, 0x1f89, 0x4b3},
     {0x1e9f416, 0x1d2f, 0x4bd}, {0x1ed7411, 0x1ad0, 0x4c4}, {0x1f0a7ed, 0x186e, 0x4ce}, {0x1f38f3c, 0x1607, 0x4d4},
     {0x1f6297e, 0x139d, 0x4da}, {0x1f87650, 0x1130, 0x4df}, {0x1fa7559, 0x0ec0, 0x4e2}, {0x1fc2647, 0x0c4f, 0x4ea},
     {0x1fd88d9, 0x09db, 0x4ec}, {0x1fe9cdd, 0x0765, 0x4ec}, {0x1ff621e, 0x04ef, 0x4ef}, {0x1ffd886, 0x0278, 0x4f1}};

constexpr float kTwoOverPiF = 0x1.45f306p-1f;       // the reduction's 2/pi, a float
constexpr double kPiOverTwo = 0x1.921fb6546df20p0;  // and its pi/2, a double
constexpr float kQuadrantMax = 0x1.921fb6p0f;

std::uint32_t low_mask(int bits) { return bits >= 32 ? 0xffffffffu : (1u << bits) - 1u; }

// The reduced operand: bit 31 sign, bits 23..30 quadrant, bits 0..22 the fraction of the quadrant
// (truncated to the hardware's precision). Domain: normal positive x below 2^33.
std::uint32_t reduce_sincos(float x) {
  const double xd = x;
  const std::uint64_t k = static_cast<std::uint64_t>(xd * kTwoOverPiF);
  const double reduced = xd - static_cast<double>(k) * kPiOverTwo;
  const double clamped = std::min(std::max(reduced, 0.0), static_cast<double>(kQuadrantMax));
  std::uint32_t frac = 0;
  const double scaled = clamped * kTwoOverPiF;
  if (scaled != 0.0) {
    std::uint64_t dbits = 0;
    static_assert(sizeof(dbits) == sizeof(scaled));
    std::memcpy(&dbits, &scaled, sizeof dbits);
    frac = static_cast<std::uint32_t>(dbits >> 29);
    frac = (frac | (1u << 23)) & low_mask(24);
    frac >>= std::min(-std::ilogb(scaled), 24);
  }
  std::uint32_t packed = (static_cast<std::uint32_t>(k & 3u) << 23) | frac;
  packed &= ~low_mask(std::max(std::ilogb(x) - 8, 0));
  // sm_70 and later drop further low bits as the quadrant count grows.
  packed &= ~low_mask(std::min(std::max(std::ilogb(xd * kTwoOverPiF), 0), 25));
  return packed;
}

// x*x minus the partial products the hardware squarer leaves out (its 19 low columns).
std::uint64_t square_truncated(std::uint32_t x) {
  std::uint32_t antidiagonal = 0;  // bit i of x at bit 2i (pdep with 0x55555555)
  for (int i = 0; i < 16; ++i) antidiagonal |= ((x >> i) & 1u) << (2 * i);
  std::uint64_t error = antidiagonal & low_mask(19);
  for (int i = 0; i < 9; ++i) {
    if (((x >> i) & 1u) == 0) continue;
    std::uint32_t row = x << (i + 1);
    row &= ~low_mask(2 * i + 2);
    error += row & low_mask(19);
  }
  return std::uint64_t{x} * x - error;
}

float sincos_poly(std::uint32_t reduced, std::uint32_t sign) {
  const SinSegment& c = kSinTable[(reduced >> 17) & 63u];
  const std::uint32_t xl = reduced & low_mask(17);
  std::uint64_t sum =
      (std::uint64_t{c.c0} << 31) + ((std::uint64_t{c.c1} * xl) << 19) - std::uint64_t{c.c2} * square_truncated(xl);
  // Normalise so that bit 56 is the leading one (bits above it only occur for results of 1.0).
  std::uint32_t exponent = 0;
  if (sum != 0) {
    const int shift = std::max(std::countl_zero(sum) - 7, 0);
    exponent = 127u - static_cast<std::uint32_t>(shift);
    sum <<= shift;
  }
  const std::uint32_t frac = static_cast<std::uint32_t>(sum >> 33) & low_mask(23);
  return bits_float((sign << 31) | (exponent << 23) | frac);
}

}  // namespace

float sin_approx(float x) {
  std::uint32_t reduced = reduce_sincos(x);
  const std::uint32_t quadrant = (reduced >> 23) & 0xffu;
  if (quadrant & 1u) reduced = ~reduced;
  return sincos_poly(reduced, (quadrant & 2u) ? 1u : 0u);
}

float cos_approx(float x) {
  std::uint32_t reduced = reduce_sincos(x);
  const std::uint32_t quadrant = (reduced >> 23) & 0xffu;
  if (!(quadrant & 1u)) reduced = ~reduced;
  return sincos_poly(reduced, ((quadrant + 1u) & 2u) ? 1u : 0u);
}

// nvcc turns both affine maps into fma.rn.f32 after a round-to-nearest u32 -> f32 conversion.
float box_muller_radius(std::uint32_t x) {
  const float u = std::fma(static_cast<float>(x), 0x1p-32f, 0x1p-33f);
  return std::sqrt(-2.0f * logf(u));
}
float box_muller_angle(std::uint32_t y) {
  return std::fma(static_cast<float>(y), bits_float(0x30C90FDBu), bits_float(0x30490FDBu));
}

std::array<float, 2> box_muller(std::uint32_t x, std::uint32_t y) {
  const float s = box_muller_radius(x);
  const float v = box_muller_angle(y);
  return {s * sin_approx(v), s * cos_approx(v)};
}

}  // namespace cuda_math

namespace {

constexpr std::uint32_t kBlockSize = 256;  // ATen's block_size_bound
constexpr int kUnroll = 4;                 // curand_normal4 yields four floats per call

}  // namespace

TorchCudaGenerator::TorchCudaGenerator(int sm_count, int max_threads_per_sm, std::uint64_t seed)
    : sm_count_(sm_count), max_threads_per_sm_(max_threads_per_sm) {
  WMA_CHECK(sm_count > 0 && max_threads_per_sm >= static_cast<int>(kBlockSize),
            "[rng] TorchCudaGenerator: bad device geometry sm_count=", sm_count,
            " max_threads_per_sm=", max_threads_per_sm);
  manual_seed(seed);
}

void TorchCudaGenerator::manual_seed(std::uint64_t seed) {
  seed_ = seed;
  offset_ = 0;
}

void TorchCudaGenerator::set_philox_offset(std::uint64_t offset) {
  WMA_CHECK(offset % 4 == 0, "[rng] Philox offset must be a multiple of 4, got ", offset);
  offset_ = offset;
}

// calc_execution_policy: one thread per element up to a full wave of resident blocks, then a
// grid-stride loop; the offset advances by 4 (curand calls' worth) per loop trip.
CudaLaunch TorchCudaGenerator::launch_for(std::int64_t numel) const {
  WMA_CHECK(numel > 0, "[rng] launch_for: numel must be positive, got ", numel);
  const std::uint64_t n = static_cast<std::uint64_t>(numel);
  const std::uint64_t blocks_per_sm = static_cast<std::uint64_t>(max_threads_per_sm_) / kBlockSize;
  const std::uint64_t grid =
      std::min(static_cast<std::uint64_t>(sm_count_) * blocks_per_sm, (n + kBlockSize - 1) / kBlockSize);
  CudaLaunch launch;
  launch.blocks = static_cast<std::uint32_t>(grid);
  launch.threads_per_block = kBlockSize;
  launch.offset_increment = ((n - 1) / (kBlockSize * grid * kUnroll) + 1) * 4;
  return launch;
}

Tensor TorchCudaGenerator::randn(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32, Device::CPU);
  fill_randn(t.data<float>(), t.numel());
  return t;
}

// distribution_elementwise_grid_stride_kernel: thread `idx` runs curand_init(seed, idx, offset)
// and calls curand_normal4 once per trip; component ii of trip `trip` lands on element
// idx + stride * (4 * trip + ii). Each call consumes one Philox block at counter
// (offset / 4 + trip, subsequence idx).
void TorchCudaGenerator::fill_randn(float* out, std::int64_t n) {
  if (n <= 0) return;
  const CudaLaunch launch = launch_for(n);
  const std::uint64_t stride = std::uint64_t{launch.blocks} * launch.threads_per_block;
  const std::uint64_t numel = static_cast<std::uint64_t>(n);
  const std::uint64_t trips = (numel - 1) / (stride * kUnroll) + 1;
  const std::uint64_t base = offset_ / 4;
  for (std::uint64_t idx = 0; idx < stride && idx < numel; ++idx) {
    for (std::uint64_t trip = 0; trip < trips; ++trip) {
      const std::uint64_t first = idx + trip * stride * kUnroll;
      if (first >= numel) break;
      // 128-bit counter: low half offset/4 + trip, high half the subsequence, with carry.
      const std::uint64_t lo = base + trip;
      const std::uint64_t hi = idx + (lo < base ? 1u : 0u);
      const auto r = cuda_math::philox4x32_10({static_cast<std::uint32_t>(lo), static_cast<std::uint32_t>(lo >> 32),
                                               static_cast<std::uint32_t>(hi), static_cast<std::uint32_t>(hi >> 32)},
                                              seed_);
      // Only the components that land inside the tensor are computed (most draws use just the
      // first sine); the device computes all four, which changes nothing in the output.
      std::array<float, 4> normals{};
      for (int half = 0; half < 2; ++half) {
        const std::uint64_t sin_index = first + stride * static_cast<std::uint64_t>(2 * half);
        if (sin_index >= numel) break;
        const float s = cuda_math::box_muller_radius(r[2 * half]);
        const float v = cuda_math::box_muller_angle(r[2 * half + 1]);
        normals[2 * half] = s * cuda_math::sin_approx(v);
        if (sin_index + stride < numel) normals[2 * half + 1] = s * cuda_math::cos_approx(v);
      }
      for (int ii = 0; ii < kUnroll; ++ii) {
        const std::uint64_t li = first + stride * static_cast<std::uint64_t>(ii);
        // transformation::normal: rand * std + mean, which turns -0.0 into +0.0.
        if (li < numel) out[li] = normals[ii] * 1.0f + 0.0f;
      }
    }
  }
  offset_ += launch.offset_increment;
}

SeededGenerators seed_everything(std::int64_t seed, int sm_count, int max_threads_per_sm) {
  WMA_CHECK(seed >= 0 && seed <= 0xffffffffLL, "[rng] seed_everything: seed ", seed,
            " is outside [0, 4294967295] (lightning would pick a random seed instead)");
  const auto s = static_cast<std::uint64_t>(seed);
  return SeededGenerators{TorchCpuGenerator(s), TorchCudaGenerator(sm_count, max_threads_per_sm, s)};
}

}  // namespace wma
