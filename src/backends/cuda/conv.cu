// Convolutions on channels-last tensors (conv2d, the (k,1,1) temporal conv, conv1d and the
// transposed conv1d), all mapped onto one tiled implicit-GEMM kernel with fp32 FMA
// accumulation; f16/bf16 conv2d and conv_temporal go to cuDNN's tensor cores first, and the
// 1-D convs to a tap gather plus one cuBLASLt GEMM.
#include "backends/cuda/common.cuh"
#include "backends/cuda/implicit_gemm.h"

namespace wma::cuda {
namespace {

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kGemmThreads = 256;
constexpr int kRowsPerThread = kTileM * kTileK / kGemmThreads;  // 4 A rows loaded per thread
constexpr int kPad = 1;  // the A and B tiles are stored k-major; odd rows avoid bank conflicts
static_assert(kGemmThreads % kTileK == 0 && kRowsPerThread * kGemmThreads == kTileM * kTileK,
              "the loaders cover the A tile exactly, kGemmThreads / kTileK rows per pass");
static_assert(kTileN == kTileM, "the B tile is loaded with the A tile's row indices");
static_assert((kTileM / 4) * (kTileN / 4) == kGemmThreads, "one 4x4 block of outputs per thread");
static_assert(sizeof(float) * kTileK * (kTileM + kPad + kTileN + kPad) <= kDefaultSharedMemory,
              "the static shared memory needs no opt-in");

struct GemmArgs {
  ConvGeometry g;
  std::int64_t m;  // n * ho * wo
  std::int64_t k;  // kh * kw * cin
};

// Where output pixel m's patch starts in the input, or where a transposed conv's output
// position sits before dividing by the stride.
struct RowBase {
  std::int64_t n;
  int y, x;
  bool valid;
};

__device__ __forceinline__ RowBase row_base(const GemmArgs& a, std::int64_t m) {
  RowBase rb{0, 0, 0, m < a.m};
  if (!rb.valid) return rb;
  const int ow = static_cast<int>(m % a.g.wo);
  const std::int64_t t = m / a.g.wo;
  const int oh = static_cast<int>(t % a.g.ho);
  rb.n = t / a.g.ho;
  if (a.g.transposed) {
    rb.y = oh + a.g.pad_h;
    rb.x = ow + a.g.pad_w;
  } else {
    rb.y = oh * a.g.stride_h - a.g.pad_h;
    rb.x = ow * a.g.stride_w - a.g.pad_w;
  }
  return rb;
}

template <typename T>
__device__ __forceinline__ float gather(const T* x, const GemmArgs& a, const RowBase& rb, int r, int s, int ci) {
  int iy, ix;
  if (a.g.transposed) {
    const int ny = rb.y - r, nx = rb.x - s;
    if (ny < 0 || nx < 0 || ny % a.g.stride_h != 0 || nx % a.g.stride_w != 0) return 0.0f;
    iy = ny / a.g.stride_h;
    ix = nx / a.g.stride_w;
  } else {
    iy = rb.y + r;
    ix = rb.x + s;
  }
  if (iy < 0 || iy >= a.g.h || ix < 0 || ix >= a.g.w) return 0.0f;
  return to_float(x[((rb.n * a.g.h + iy) * a.g.w + ix) * a.g.cin + ci]);
}

template <typename T>
__global__ void __launch_bounds__(kGemmThreads)
    implicit_gemm_kernel(T* out, const T* x, const T* weight, const T* bias, const T* residual, GemmArgs a) {
  __shared__ float as[kTileK][kTileM + kPad];
  __shared__ float bs[kTileK][kTileN + kPad];
  const int tid = threadIdx.x;
  const std::int64_t m0 = static_cast<std::int64_t>(blockIdx.x) * kTileM;
  const int n0 = blockIdx.y * kTileN;
  // Loader role: consecutive threads take consecutive k, i.e. consecutive input channels,
  // so a warp reads contiguous runs of the NHWC input and of the weight rows.
  const int lk = tid % kTileK;
  const int lrow = tid / kTileK;
  RowBase rows[kRowsPerThread];
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) rows[i] = row_base(a, m0 + lrow + i * (kGemmThreads / kTileK));
  // Compute role: a 4x4 block of outputs per thread.
  const int ty = tid / (kTileN / 4), tx = tid % (kTileN / 4);
  float acc[4][4] = {};
  const int cin = a.g.cin, kw = a.g.kw;
  for (std::int64_t k0 = 0; k0 < a.k; k0 += kTileK) {
    const std::int64_t kk = k0 + lk;
    const bool kvalid = kk < a.k;
    const int ci = static_cast<int>(kk % cin);
    const int rs = static_cast<int>(kk / cin);
    const int r = rs / kw, s = rs % kw;
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const int row = lrow + i * (kGemmThreads / kTileK);
      as[lk][row] = (kvalid && rows[i].valid) ? gather(x, a, rows[i], r, s, ci) : 0.0f;
      const int co = n0 + row;
      bs[lk][row] = (kvalid && co < a.g.cout) ? to_float(weight[static_cast<std::int64_t>(co) * a.k + kk]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTileK; ++k) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = as[k][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = bs[k][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const std::int64_t m = m0 + ty * 4 + i;
    if (m >= a.m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int co = n0 + tx * 4 + j;
      if (co >= a.g.cout) continue;
      float v = acc[i][j];
      if (bias != nullptr) v += to_float(bias[co]);
      const std::int64_t o = m * a.g.cout + co;
      if (residual != nullptr) v += to_float(residual[o]);
      out[o] = from_float<T>(v);
    }
  }
}

GemmArgs check_conv(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
                    const Tensor* residual, const ConvGeometry& g) {
  check_float_same("conv", {&out, &x, &weight, bias, residual});
  check_contiguous("conv", {&out, &x, &weight, bias, residual});
  GemmArgs a{g, g.n * g.ho * g.wo, static_cast<std::int64_t>(g.kh) * g.kw * g.cin};
  WMA_CHECK(out.numel() == a.m * g.cout && x.numel() == g.n * g.h * g.w * g.cin && weight.numel() == a.k * g.cout,
            "[conv] tensor sizes do not match the geometry: x ", x.describe(), ", weight ", weight.describe(), ", out ",
            out.describe());
  if (residual != nullptr)
    WMA_CHECK(residual->numel() == out.numel(), "[conv] residual ", residual->describe(), " vs out ", out.describe());
  return a;
}

// conv2d and conv_temporal: cuDNN where it applies, else the general kernel.
void convolve(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor* residual,
              const ConvGeometry& g) {
  const GemmArgs a = check_conv(out, x, weight, bias, residual, g);
  if (a.m == 0 || g.cout == 0) return;
  if (!context().general_kernels_only_ && cudnn_conv(out, x, weight, bias, residual, g)) return;
  implicit_gemm(out, x, weight, bias, residual, g);
}

}  // namespace

void implicit_gemm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor* residual,
                   const ConvGeometry& g) {
  const GemmArgs a = check_conv(out, x, weight, bias, residual, g);
  if (a.m == 0 || g.cout == 0) return;
  const dim3 grid(static_cast<unsigned>((a.m + kTileM - 1) / kTileM),
                  static_cast<unsigned>((g.cout + kTileN - 1) / kTileN));
  WMA_CHECK(grid.y <= kMaxGridY, "[conv] too many output channels: ", g.cout);
  dispatch_float(out.dtype(), "conv", [&]<typename T>() {
    implicit_gemm_kernel<T><<<grid, kGemmThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), weight.data<T>(),
                                                                 bias ? bias->data<T>() : nullptr,
                                                                 residual ? residual->data<T>() : nullptr, a);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

namespace {

// x [N, H, W, Cin] -> out [N, Ho, Wo, cout] under a kh x kw kernel; stride 1 and no padding until the caller
// sets them.
ConvGeometry nhwc_geometry(const Tensor& out, const Tensor& x, std::int64_t cout, std::int64_t kh, std::int64_t kw) {
  ConvGeometry g;
  g.n = x.size(0);
  g.h = static_cast<int>(x.size(1));
  g.w = static_cast<int>(x.size(2));
  g.cin = static_cast<int>(x.size(3));
  g.cout = static_cast<int>(cout);
  g.kh = static_cast<int>(kh);
  g.kw = static_cast<int>(kw);
  g.ho = static_cast<int>(out.size(1));
  g.wo = static_cast<int>(out.size(2));
  return g;
}

}  // namespace

void conv2d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
            const ops::Conv2dParams& params, const Tensor* residual) {
  WMA_CHECK(x.dim() == 4 && weight.dim() == 4 && out.dim() == 4, "[conv2d] x ", x.describe(), ", weight ",
            weight.describe(), ", out ", out.describe());
  ConvGeometry g = nhwc_geometry(out, x, weight.size(0), weight.size(1), weight.size(2));
  g.stride_h = g.stride_w = params.stride;
  g.pad_h = g.pad_w = params.padding;
  convolve(out, x, weight, bias, residual, g);
}

void conv_temporal(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias, int padding,
                   const Tensor* residual) {
  WMA_CHECK(x.dim() == 4 && weight.dim() == 3 && out.dim() == 4, "[conv_temporal] x ", x.describe(), ", weight ",
            weight.describe(), ", out ", out.describe());
  // Frames play the role of image rows and the spatial positions that of columns, with a
  // k x 1 kernel: [B, T, S, C] is already an NHWC image.
  ConvGeometry g = nhwc_geometry(out, x, weight.size(0), weight.size(1), 1);
  g.pad_h = padding;
  convolve(out, x, weight, bias, residual, g);
}

namespace {

ConvGeometry conv1d_geometry(const Tensor& out, const Tensor& x, const Tensor& weight, const ops::Conv1dParams& params,
                             const char* op) {
  WMA_CHECK(x.dim() == 3 && weight.dim() == 3 && out.dim() == 3, "[", op, "] x ", x.describe(), ", weight ",
            weight.describe(), ", out ", out.describe());
  ConvGeometry g;
  g.n = x.size(0);
  g.w = static_cast<int>(x.size(1));
  g.cin = static_cast<int>(x.size(2));
  g.cout = static_cast<int>(weight.size(0));
  g.kw = static_cast<int>(weight.size(1));
  g.wo = static_cast<int>(out.size(1));
  g.stride_w = params.stride;
  g.pad_w = params.padding;
  return g;
}

}  // namespace

namespace {

// cols[n, o, j, ci] = the input element that kernel tap j sees at output position o (zero where it falls in
// the padding or, for the transposed conv, between the stride's samples). Each thread moves kVec consecutive
// channels (16 bytes where cin allows), so the index arithmetic is paid once per vector.
template <typename T, int kVec>
__global__ void conv1d_im2col_kernel(T* __restrict__ cols, const T* __restrict__ x, std::int64_t total, int length,
                                     int cin, int out_length, int taps, int stride, int padding, bool transposed) {
  struct alignas(kVec * sizeof(T)) Vec {
    T e[kVec];
  };
  const int vecs = cin / kVec;
  grid_stride_loop(total, [&](const std::int64_t i) {
    const int cv = static_cast<int>(i % vecs);
    std::int64_t r = i / vecs;
    const int j = static_cast<int>(r % taps);
    r /= taps;
    const int o = static_cast<int>(r % out_length);
    const std::int64_t b = r / out_length;
    int src = -1;
    if (!transposed) {
      src = o * stride - padding + j;
    } else {
      const int t = o + padding - j;
      if (t >= 0 && t % stride == 0) src = t / stride;
    }
    Vec v{};
    if (src >= 0 && src < length) v = reinterpret_cast<const Vec*>(x + (b * length + src) * cin)[cv];
    reinterpret_cast<Vec*>(cols)[i] = v;
  });
}

// The heads' 1-D convs see 16 positions or fewer: as one GEMM over gathered taps they read each weight once
// through cuBLASLt, where the implicit-GEMM kernel's tiles were nearly empty.
void conv1d_by_gemm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
                    const ops::Conv1dParams& params, bool transposed, const char* op) {
  const ConvGeometry g = conv1d_geometry(out, x, weight, params, op);
  const std::int64_t taps_cin = static_cast<std::int64_t>(g.kw) * g.cin;
  const Tensor cols = Tensor::empty({g.n, g.wo, taps_cin}, x.dtype(), Device::CUDA);
  const std::int64_t total = cols.numel();
  if (total == 0) return;
  dispatch_float(x.dtype(), op, [&]<typename T>() {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    const bool vectorised = g.cin % kVec == 0 && (reinterpret_cast<std::uintptr_t>(x.data_ptr()) & 15u) == 0;
    auto launch = [&]<int kWidth>() {
      const std::int64_t vectors = total / kWidth;
      conv1d_im2col_kernel<T, kWidth>
          <<<grid_for(vectors), kThreads, 0, stream()>>>(static_cast<T*>(cols.data_ptr()),
                                                         static_cast<const T*>(x.data_ptr()), vectors, g.w, g.cin, g.wo,
                                                         g.kw, params.stride, params.padding, transposed);
    };
    if (vectorised) launch.template operator()<kVec>();
    else launch.template operator()<1>();
  });
  WMA_CUDA_CHECK(cudaGetLastError());
  linear(out, cols, weight.reshape({g.cout, taps_cin}), bias, {});
}

}  // namespace

void conv1d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
            const ops::Conv1dParams& params) {
  if (!context().general_kernels_only_) return conv1d_by_gemm(out, x, weight, bias, params, false, "conv1d");
  implicit_gemm(out, x, weight, bias, nullptr, conv1d_geometry(out, x, weight, params, "conv1d"));
}

void conv_transpose1d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
                      const ops::Conv1dParams& params) {
  if (!context().general_kernels_only_) return conv1d_by_gemm(out, x, weight, bias, params, true, "conv_transpose1d");
  ConvGeometry g = conv1d_geometry(out, x, weight, params, "conv_transpose1d");
  g.transposed = true;
  implicit_gemm(out, x, weight, bias, nullptr, g);
}

}  // namespace wma::cuda
