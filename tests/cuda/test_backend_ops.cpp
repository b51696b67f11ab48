// Cross-backend op table (after ggml's test-backend-ops): every case builds awkward f32
// inputs on the CPU, rounds them to the dtype under test, runs the same ops:: call on the
// CPU (reference, f32) and on the GPU (f32, f16, bf16), and compares with a normalised
// error max|gpu - cpu| / max|cpu|. GPU buffers carry guard bytes and NaN-poisoned bodies.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/allocator.h"
#include "cuda_test_util.h"
#include "ops/ops.h"

namespace wma::test {
namespace {

using Inputs = std::vector<Tensor>;
using ops::Activation;

struct Tolerance {
  double f32 = 1e-5;
  double f16 = 2e-3;
  double bf16 = 1.6e-2;
  double for_dtype(DType t) const { return t == DType::F32 ? f32 : t == DType::F16 ? f16 : bf16; }
};

// Tolerances for long fp32 reductions and for ops whose GPU path rounds an intermediate to
// the storage dtype (e.g. a 16-bit GEMM result before a separate activation pass).
constexpr Tolerance kDefault{};
constexpr Tolerance kReduction{3e-5, 3e-3, 2e-2};
constexpr Tolerance kTwoRoundings{1e-5, 4e-3, 3e-2};
constexpr Tolerance kExact{0, 0, 0};

struct OpCase {
  std::string op;                            // the ops:: function under test (for the coverage line)
  std::string name;                          // what makes this case awkward
  std::function<Inputs(Rng&)> inputs;        // f32 (or integer) CPU tensors
  std::function<Tensor(const Inputs&)> run;  // device- and dtype-agnostic ops:: calls
  Tolerance tol = kDefault;
  bool float_dtypes = true;  // false: run once, in f32 (the op has no dtype to vary)
};

Tensor zeros_like_on(const Tensor& like, const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype, like.device());
  ops::fill(t, 0.0f);
  return t;
}

std::vector<OpCase> build_cases() {
  std::vector<OpCase> c;
  auto add = [&](std::string op, std::string name, std::function<Inputs(Rng&)> in,
                 std::function<Tensor(const Inputs&)> run, Tolerance tol = kDefault, bool float_dtypes = true) {
    c.push_back({std::move(op), std::move(name), std::move(in), std::move(run), tol, float_dtypes});
  };

  // One case per call, as written: clang-format 14 would spread every lambda of the table over several lines.
  // clang-format off
  // ---- data movement ---------------------------------------------------------------------
  add("copy_into", "transposed_5d_src", [](Rng& r) { return Inputs{r.normal({2, 3, 1, 5, 7})}; },
      [](const Inputs& x) {
        const Tensor src = x[0].permute({4, 1, 2, 0, 3});
        Tensor dst = Tensor::empty(src.shape(), x[0].dtype(), x[0].device());
        ops::copy_into(dst, src);
        return dst;
      });
  add("copy_into", "permuted_src_into_f32_slice", [](Rng& r) { return Inputs{r.normal({5, 9, 3})}; },
      [](const Inputs& x) {
        Tensor dst = zeros_like_on(x[0], {9, 11, 5}, DType::F32);
        ops::copy_into(dst.slice(1, 2, 5), x[0].permute({1, 2, 0}));
        return dst;
      });
  add("copy_into", "float_to_i32_and_back", [](Rng& r) { return Inputs{r.normal({4, 13}, 50.0f)}; },
      [](const Inputs& x) {
        Tensor i = Tensor::empty({13, 4}, DType::I32, x[0].device());
        ops::copy_into(i, x[0].transpose(0, 1));
        return ops::cast(i, DType::F32);
      }, kExact);
  add("copy_into", "broadcast_src_to_i64", [](Rng& r) { return Inputs{r.normal({1, 6}, 30.0f)}; },
      [](const Inputs& x) {
        Tensor i = Tensor::empty({5, 6}, DType::I64, x[0].device());
        ops::copy_into(i, x[0].expand({5, 6}));
        Tensor back = Tensor::empty({5, 6}, x[0].dtype(), x[0].device());
        ops::copy_into(back, i);
        return back;
      }, kExact);
  add("contiguous", "permuted_4d", [](Rng& r) { return Inputs{r.normal({3, 1, 4, 5})}; },
      [](const Inputs& x) { return ops::contiguous(x[0].permute({2, 0, 3, 1})); }, kExact);
  add("cast", "to_other_float_dtypes_and_back", [](Rng& r) { return Inputs{r.normal({7, 3}, 3.0f)}; },
      [](const Inputs& x) {
        // f32 -> bf16 -> f16 -> f32 and back rounds identically on both backends.
        return ops::cast(ops::cast(ops::cast(ops::cast(x[0], DType::F32), DType::BF16), DType::F16), DType::F32);
      }, kExact);
  add("concat", "three_odd_parts_dim1", [](Rng& r) { return Inputs{r.normal({2, 3, 5}), r.normal({2, 1, 5}), r.normal({2, 4, 5})}; },
      [](const Inputs& x) { return ops::concat({x[0], x[1], x[2].slice(1, 0, 4)}, 1); }, kExact);
  // Skip concatenation along channels: 16-byte rows copied by the row kernel, and rows that are not.
  add("concat", "channels_16_byte_rows", [](Rng& r) { return Inputs{r.normal({3, 5, 7, 24}), r.normal({3, 5, 7, 40})}; },
      [](const Inputs& x) { return ops::concat({x[0], x[1]}, 3); }, kExact);
  add("concat", "channels_ragged_rows", [](Rng& r) { return Inputs{r.normal({3, 5, 7}), r.normal({3, 5, 9})}; },
      [](const Inputs& x) { return ops::concat({x[0], x[1]}, 2); }, kExact);
  add("copy_into", "slice_rows_into_wider", [](Rng& r) { return Inputs{r.normal({37, 64})}; },
      [](const Inputs& x) {
        Tensor dst = zeros_like_on(x[0], {37, 96}, x[0].dtype());
        ops::copy_into(dst.slice(1, 16, 80), x[0]);
        return dst;
      }, kExact);
  add("repeat", "dim0_x3", [](Rng& r) { return Inputs{r.normal({2, 3, 5})}; },
      [](const Inputs& x) { return ops::repeat(x[0], 0, 3); }, kExact);
  add("repeat_interleave", "dim1_x2", [](Rng& r) { return Inputs{r.normal({2, 3, 5})}; },
      [](const Inputs& x) { return ops::repeat_interleave(x[0], 1, 2); }, kExact);
  add("fill", "strided_slice", [](Rng& r) { return Inputs{r.normal({6, 7})}; },
      [](const Inputs& x) {
        Tensor t = ops::contiguous(x[0].transpose(0, 1));
        Tensor copy = Tensor::empty(t.shape(), t.dtype(), t.device());
        ops::copy_into(copy, t);
        ops::fill(copy.slice(0, 1, 6).slice(1, 2, 5).transpose(0, 1), -1.25f);
        return copy;
      }, kExact);

  // ---- elementwise ---------------------------------------------------------------------
  add("add", "broadcast_3d_with_2d", [](Rng& r) { return Inputs{r.normal({3, 1, 5}), r.normal({4, 1})}; },
      [](const Inputs& x) { return ops::add(x[0], x[1]); });
  add("add", "same_shape_16_byte_path", [](Rng& r) { return Inputs{r.normal({3, 37, 64}), r.normal({3, 37, 64})}; },
      [](const Inputs& x) { return ops::add(x[0], x[1]); });
  add("mul", "same_shape_odd_count", [](Rng& r) { return Inputs{r.normal({5, 13}), r.normal({5, 13})}; },
      [](const Inputs& x) { return ops::mul(x[0], x[1]); });
  add("sub", "transposed_minus_row", [](Rng& r) { return Inputs{r.normal({9, 4}), r.normal({1, 9})}; },
      [](const Inputs& x) { return ops::sub(x[0].transpose(0, 1), x[1]); });
  add("mul", "4d_broadcast_both", [](Rng& r) { return Inputs{r.normal({2, 7, 1, 3}), r.normal({7, 5, 1})}; },
      [](const Inputs& x) { return ops::mul(x[0], x[1]); });
  add("mul", "scalar_like_tensor", [](Rng& r) { return Inputs{r.normal({3, 17}), r.normal({1})}; },
      [](const Inputs& x) { return ops::mul(x[0], x[1]); });
  add("axpby", "odd_length", [](Rng& r) { return Inputs{r.normal({1031}), r.normal({1031})}; },
      [](const Inputs& x) { return ops::axpby(0.3f, x[0], -1.7f, x[1]); });
  add("scale", "3d", [](Rng& r) { return Inputs{r.normal({2, 3, 7})}; },
      [](const Inputs& x) { return ops::scale(x[0], 0.125f); });
  for (auto [act, name] : {std::pair{Activation::SiLU, "silu"}, std::pair{Activation::GELU, "gelu"},
                           std::pair{Activation::GELUTanh, "gelu_tanh"}, std::pair{Activation::Mish, "mish"},
                           std::pair{Activation::ReLU, "relu"}}) {
    const Activation a = act;
    // Wide range: Mish's softplus threshold (20) and the tails of every function.
    add("activation", name, [](Rng& r) { return Inputs{r.normal({5, 333}, 6.0f)}; },
        [a](const Inputs& x) { return ops::activation(x[0], a); });
  }
  add("geglu", "rows_of_2x7", [](Rng& r) { return Inputs{r.normal({3, 5, 14}, 2.0f)}; },
      [](const Inputs& x) { return ops::geglu(x[0]); });
  // 16-byte path: halves of 40 and 1280 (the UNet's 4C at L2) channels.
  add("geglu", "vector_rows_of_2x40", [](Rng& r) { return Inputs{r.normal({7, 13, 80}, 2.0f)}; },
      [](const Inputs& x) { return ops::geglu(x[0]); });
  add("geglu", "unet_L2_rows", [](Rng& r) { return Inputs{r.normal({3, 160, 2560}, 1.5f)}; },
      [](const Inputs& x) { return ops::geglu(x[0]); });

  // ---- linear algebra --------------------------------------------------------------------
  auto linear_case = [&](std::string name, Shape xs, std::int64_t n, bool bias, Activation act, bool residual,
                         Tolerance tol = kDefault) {
    const std::int64_t k = xs.back();
    Shape os = xs;
    os.back() = n;
    add("linear", std::move(name),
        [=](Rng& r) {
          Inputs in{r.normal(xs), r.normal({n, k}, 1.0f / std::sqrt(static_cast<float>(k)))};
          in.push_back(bias ? r.normal({n}) : Tensor());
          in.push_back(residual ? r.normal(os) : Tensor());
          return in;
        },
        [=](const Inputs& x) {
          ops::LinearEpilogue ep{act, residual ? &x[3] : nullptr};
          return ops::linear(x[0], x[1], bias ? &x[2] : nullptr, ep);
        },
        tol);
  };
  linear_case("plain_3d", {2, 3, 37}, 19, false, Activation::None, false);
  linear_case("bias", {5, 64}, 96, true, Activation::None, false);
  linear_case("bias_relu", {7, 33}, 17, true, Activation::ReLU, false);
  linear_case("bias_gelu_tanh", {7, 64}, 40, true, Activation::GELUTanh, false);
  linear_case("bias_gelu_exact", {9, 48}, 31, true, Activation::GELU, false, kTwoRoundings);
  linear_case("silu_no_bias", {4, 40}, 24, false, Activation::SiLU, false, kTwoRoundings);
  linear_case("mish", {3, 16}, 8, true, Activation::Mish, false, kTwoRoundings);
  linear_case("bias_residual", {2, 11, 80}, 72, true, Activation::None, true, kTwoRoundings);
  linear_case("act_and_residual", {6, 24}, 10, true, Activation::GELU, true, kTwoRoundings);
  linear_case("single_row", {1, 320}, 1280, true, Activation::None, false);
  linear_case("k_is_1", {13, 1}, 7, true, Activation::None, false);
  linear_case("odd_everything", {3, 5, 7}, 3, true, Activation::SiLU, false, kTwoRoundings);
  linear_case("unet_like", {2, 256, 320}, 320, true, Activation::None, false, kReduction);

  add("matmul", "batched_odd", [](Rng& r) { return Inputs{r.normal({3, 17, 9}), r.normal({3, 9, 13})}; },
      [](const Inputs& x) { return ops::matmul(x[0], x[1]); });
  add("matmul", "broadcast_b", [](Rng& r) { return Inputs{r.normal({4, 5, 33}), r.normal({1, 33, 6})}; },
      [](const Inputs& x) { return ops::matmul(x[0], x[1]); });
  add("matmul", "transposed_views", [](Rng& r) { return Inputs{r.normal({2, 12, 7}), r.normal({2, 5, 12})}; },
      [](const Inputs& x) { return ops::matmul(x[0].transpose(1, 2), x[1].transpose(1, 2)); });
  add("matmul", "long_k", [](Rng& r) { return Inputs{r.normal({2, 8, 2000}), r.normal({2, 2000, 3})}; },
      [](const Inputs& x) { return ops::matmul(x[0], x[1]); }, kReduction);

  // ---- convolutions ----------------------------------------------------------------------
  auto conv2d_case = [&](std::string name, Shape xs, std::int64_t cout, int k, int stride, int pad, bool bias,
                         bool residual) {
    add("conv2d", std::move(name),
        [=](Rng& r) {
          const std::int64_t cin = xs[3];
          const std::int64_t ho = (xs[1] + 2 * pad - k) / stride + 1, wo = (xs[2] + 2 * pad - k) / stride + 1;
          Inputs in{r.normal(xs), r.normal({cout, k, k, cin}, 1.0f / std::sqrt(static_cast<float>(k * k * cin)))};
          in.push_back(bias ? r.normal({cout}) : Tensor());
          in.push_back(residual ? r.normal({xs[0], ho, wo, cout}) : Tensor());
          return in;
        },
        [=](const Inputs& x) {
          return ops::conv2d(x[0], x[1], bias ? &x[2] : nullptr, ops::Conv2dParams{stride, pad},
                             residual ? &x[3] : nullptr);
        });
  };
  conv2d_case("3x3_pad1", {2, 7, 9, 3}, 5, 3, 1, 1, true, false);
  conv2d_case("3x3_stride2_pad1", {1, 9, 8, 6}, 4, 3, 2, 1, true, false);
  conv2d_case("1x1_no_bias", {2, 3, 5, 17}, 11, 1, 1, 0, false, false);
  conv2d_case("3x3_residual", {1, 6, 5, 8}, 8, 3, 1, 1, true, true);
  conv2d_case("cin1_k5_pad2", {3, 5, 6, 1}, 2, 5, 1, 2, true, false);
  conv2d_case("wide_channels", {1, 8, 8, 96}, 130, 3, 1, 1, true, false);
  // UNet shapes: the tensor-core (cuDNN) path for f16/bf16.
  conv2d_case("unet_L0_3x3_cin320", {1, 40, 64, 320}, 320, 3, 1, 1, true, false);
  conv2d_case("unet_L0_3x3_stride2", {1, 40, 64, 320}, 320, 3, 2, 1, true, false);
  conv2d_case("unet_L0_1x1_skip_residual", {2, 40, 64, 640}, 320, 1, 1, 0, true, true);
  conv2d_case("unet_L2_3x3_cin1280", {1, 10, 16, 1280}, 640, 3, 1, 1, true, true);

  add("conv_temporal", "k3_pad1", [](Rng& r) { return Inputs{r.normal({2, 5, 6, 4}), r.normal({7, 3, 4}, 0.3f), r.normal({7})}; },
      [](const Inputs& x) { return ops::conv_temporal(x[0], x[1], &x[2], 1); });
  add("conv_temporal", "k3_pad0_no_bias", [](Rng& r) { return Inputs{r.normal({1, 4, 3, 9}), r.normal({5, 3, 9}, 0.3f)}; },
      [](const Inputs& x) { return ops::conv_temporal(x[0], x[1], nullptr, 0); });
  add("conv_temporal", "k3_pad1_residual", [](Rng& r) { return Inputs{r.normal({2, 16, 40, 64}), r.normal({64, 3, 64}, 0.1f), r.normal({64}), r.normal({2, 16, 40, 64})}; },
      [](const Inputs& x) { return ops::conv_temporal(x[0], x[1], &x[2], 1, &x[3]); });
  add("conv_temporal", "unet_L1_16_frames_c640",
      [](Rng& r) { return Inputs{r.normal({1, 16, 96, 640}), r.normal({640, 3, 640}, 0.02f), r.normal({640})}; },
      [](const Inputs& x) { return ops::conv_temporal(x[0], x[1], &x[2], 1); });
  add("conv1d", "k3_pad1", [](Rng& r) { return Inputs{r.normal({2, 11, 5}), r.normal({6, 3, 5}, 0.4f), r.normal({6})}; },
      [](const Inputs& x) { return ops::conv1d(x[0], x[1], &x[2], ops::Conv1dParams{1, 1}); });
  add("conv1d", "k4_stride2_pad1", [](Rng& r) { return Inputs{r.normal({3, 16, 7}), r.normal({4, 4, 7}, 0.4f), r.normal({4})}; },
      [](const Inputs& x) { return ops::conv1d(x[0], x[1], &x[2], ops::Conv1dParams{2, 1}); });
  add("conv_transpose1d", "k4_stride2_pad1", [](Rng& r) { return Inputs{r.normal({2, 8, 5}), r.normal({3, 4, 5}, 0.4f), r.normal({3})}; },
      [](const Inputs& x) { return ops::conv_transpose1d(x[0], x[1], &x[2], ops::Conv1dParams{2, 1}); });
  // Channel counts of whole 16-byte vectors take the vectorised tap gather (the heads' 1-D convs).
  add("conv1d", "k5_pad2_vector_channels", [](Rng& r) { return Inputs{r.normal({3, 8, 32}), r.normal({24, 5, 32}, 0.2f), r.normal({24})}; },
      [](const Inputs& x) { return ops::conv1d(x[0], x[1], &x[2], ops::Conv1dParams{1, 2}); });
  add("conv_transpose1d", "k4_stride2_vector_channels", [](Rng& r) { return Inputs{r.normal({2, 4, 16}), r.normal({8, 4, 16}, 0.3f), r.normal({8})}; },
      [](const Inputs& x) { return ops::conv_transpose1d(x[0], x[1], &x[2], ops::Conv1dParams{2, 1}); });
  add("conv_transpose1d", "k3_stride1_no_bias", [](Rng& r) { return Inputs{r.normal({1, 5, 6}), r.normal({4, 3, 6}, 0.4f)}; },
      [](const Inputs& x) { return ops::conv_transpose1d(x[0], x[1], nullptr, ops::Conv1dParams{1, 0}); });

  // ---- normalisation -------------------------------------------------------------------
  add("group_norm", "affine_silu_offset_mean", [](Rng& r) { return Inputs{r.normal({2, 37, 12}, 2.0f, 5.0f), r.normal({12}), r.normal({12})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 3, &x[1], &x[2], 1e-5f, Activation::SiLU); });
  add("group_norm", "one_group_no_affine", [](Rng& r) { return Inputs{r.normal({3, 5, 7})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 1, nullptr, nullptr, 1e-6f); });
  add("group_norm", "group_per_channel_large_l", [](Rng& r) { return Inputs{r.normal({1, 4099, 6}), r.normal({6}), r.normal({6})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 6, &x[1], &x[2], 1e-5f); }, kReduction);
  // UNet shapes: per-frame GroupNorm at L0 and the across-frames one (one sample, 40960 rows).
  add("group_norm", "unet_L0_frames_silu", [](Rng& r) { return Inputs{r.normal({4, 2560, 320}, 2.0f, 1.0f), r.normal({320}), r.normal({320})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f, Activation::SiLU); }, kReduction);
  add("group_norm", "unet_L0_video_one_sample", [](Rng& r) { return Inputs{r.normal({1, 40960, 320}, 1.5f, -3.0f), r.normal({320}), r.normal({320})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f); }, kReduction);
  add("group_norm", "odd_channels_split", [](Rng& r) { return Inputs{r.normal({1, 3001, 21}, 1.0f, 2.0f), r.normal({21}), r.normal({21})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 7, &x[1], &x[2], 1e-5f, Activation::SiLU); }, kReduction);
  add("layer_norm", "affine_odd_width", [](Rng& r) { return Inputs{r.normal({3, 5, 33}, 3.0f, -2.0f), r.normal({33}), r.normal({33})}; },
      [](const Inputs& x) { return ops::layer_norm(x[0], &x[1], &x[2], 1e-5f); });
  add("layer_norm", "no_affine_wide", [](Rng& r) { return Inputs{r.normal({4, 1280})}; },
      [](const Inputs& x) { return ops::layer_norm(x[0], nullptr, nullptr, 1e-6f); });
  // Channel-statistics path (tensors of 65536 elements or more): an offset 50 standard deviations away
  // (single-pass E[x^2] - mean^2 would lose ~1e-4; the f32 CPU reference's own mean rounding bounds how far
  // this can go), groups of 4 channels over many rows (the VAE decoder at full size has [1, 163840, 128]),
  // channels split across 16-byte loads of two groups (cg 10 with 8 halves per load), and the heads'
  // [1, 16, 2048] on the one-launch kernel.
  add("group_norm", "offset_50_sigma", [](Rng& r) { return Inputs{r.normal({2, 777, 64}, 1.0f, 50.0f), r.normal({64}), r.normal({64})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 16, &x[1], &x[2], 1e-6f); }, kReduction);
  add("group_norm", "vae_groups_of_4_many_rows", [](Rng& r) { return Inputs{r.normal({1, 20000, 128}), r.normal({128}), r.normal({128})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f, Activation::SiLU); }, kReduction);
  add("group_norm", "groups_straddle_loads", [](Rng& r) { return Inputs{r.normal({3, 323, 80}, 1.0f, 0.5f), r.normal({80}), r.normal({80})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 8, &x[1], &x[2], 1e-5f, Activation::SiLU); }, kReduction);
  // x_bias: a ResBlock's per-video bias ([batch, C] over batch * frames samples) on both paths, and a conv
  // bias row ([1, C]) across frames, with an offset large against the spread.
  add("group_norm", "x_bias_per_video_split", [](Rng& r) { return Inputs{r.normal({4, 2560, 320}), r.normal({320}), r.normal({320}), r.normal({2, 320}, 3.0f)}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-5f, Activation::SiLU, &x[3]); }, kReduction);
  add("group_norm", "x_bias_conv_row_video", [](Rng& r) { return Inputs{r.normal({1, 9001, 64}, 1.0f, 4.0f), r.normal({64}), r.normal({64}), r.normal({1, 64}, 1.0f, 20.0f)}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 16, &x[1], &x[2], 1e-6f, Activation::SiLU, &x[3]); }, kReduction);
  add("group_norm", "x_bias_small_general", [](Rng& r) { return Inputs{r.normal({6, 7, 24}), r.normal({24}), r.normal({24}), r.normal({3, 24}, 2.0f)}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 8, &x[1], &x[2], 1e-5f, Activation::None, &x[3]); }, kReduction);
  // The 1-D heads' Conv1dBlock: GroupNorm -> Mish -> FiLM, on the one-block kernel and on the split path.
  add("group_norm", "mish_film_heads", [](Rng& r) { return Inputs{r.normal({16, 32, 256}), r.normal({256}), r.normal({256}), r.normal({16, 2, 256})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 8, &x[1], &x[2], 1e-5f, Activation::Mish, nullptr, &x[3]); }, kReduction);
  add("group_norm", "mish_film_small", [](Rng& r) { return Inputs{r.normal({3, 5, 24}), r.normal({24}), r.normal({24}), r.normal({3, 2, 24})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 8, &x[1], &x[2], 1e-5f, Activation::Mish, nullptr, &x[3]); }, kReduction);
  // The resident path's capacity edge: 4096 16-byte loads per group in f16/bf16 at 512 rows (513 rows and f32
  // take the split path), x_bias on both.
  for (const std::int64_t rows : {512, 513})
    add("group_norm", "resident_edge_rows_" + std::to_string(rows), [rows](Rng& r) { return Inputs{r.normal({2, rows, 2048}, 1.0f, 2.0f), r.normal({2048}), r.normal({2048}), r.normal({2, 2048}, 2.0f)}; },
        [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f, Activation::SiLU, &x[3]); }, kReduction);
  // Groups of 10 channels (no 16-byte loads): the resident path one element at a time, x_bias and film.
  add("group_norm", "resident_scalar_film_x_bias", [](Rng& r) { return Inputs{r.normal({5, 30, 60}, 1.0f, -1.0f), r.normal({60}), r.normal({60}), r.normal({5, 60}, 2.0f), r.normal({5, 2, 60})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 6, &x[1], &x[2], 1e-5f, Activation::Mish, &x[3], &x[4]); }, kReduction);
  // Groups of 20 channels (L1 per frame, [16, 640, 640]): the resident path on 8-byte loads.
  add("group_norm", "resident_8_byte_loads_l1_frames", [](Rng& r) { return Inputs{r.normal({4, 640, 640}, 1.0f, 1.5f), r.normal({640}), r.normal({640}), r.normal({1, 640}, 2.0f)}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f, Activation::SiLU, &x[3]); }, kReduction);
  // The UNet's deep levels per frame with the timestep bias: [16, 40, 1280] and the concatenated [16, 160, 2560].
  add("group_norm", "unet_L3_frames_x_bias", [](Rng& r) { return Inputs{r.normal({16, 40, 1280}), r.normal({1280}), r.normal({1280}), r.normal({1, 1280}, 3.0f)}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f, Activation::SiLU, &x[3]); }, kReduction);
  add("group_norm", "unet_L2_concat", [](Rng& r) { return Inputs{r.normal({16, 160, 2560}, 1.0f, 0.5f), r.normal({2560}), r.normal({2560})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f, Activation::SiLU); }, kReduction);
  // The UNet's other per-frame widths (C = 640, 1280, 1920): split or resident path depending on the dtype.
  for (const std::int64_t ch : {640, 1280, 1920})
    add("group_norm", "split_width_" + std::to_string(ch), [ch](Rng& r) { return Inputs{r.normal({3, 333, ch}, 1.0f, 1.0f), r.normal({ch}), r.normal({ch})}; },
        [](const Inputs& x) { return ops::group_norm(x[0], 32, &x[1], &x[2], 1e-5f, Activation::SiLU); }, kReduction);
  add("group_norm", "heads_wide_short", [](Rng& r) { return Inputs{r.normal({1, 16, 2048}), r.normal({2048}), r.normal({2048})}; },
      [](const Inputs& x) { return ops::group_norm(x[0], 8, &x[1], &x[2], 1e-5f); }, kReduction);
  // Lane-group path: 8, 16 or 32 lanes per row (96 to 2048 columns, two to eight 16-byte loads per lane, some
  // lanes idle at 96 and 1536), rows not a multiple of the rows per block.
  for (const std::int64_t cols : {96, 320, 512, 640, 1024, 1280, 1536, 2048})
    add("layer_norm", "lane_rows_" + std::to_string(cols), [cols](Rng& r) { return Inputs{r.normal({37, cols}, 2.0f, 3.0f), r.normal({cols}), r.normal({cols})}; },
        [](const Inputs& x) { return ops::layer_norm(x[0], &x[1], &x[2], 1e-5f); }, kReduction);
  add("layer_norm", "single_column", [](Rng& r) { return Inputs{r.normal({6, 1}), r.normal({1}), r.normal({1})}; },
      [](const Inputs& x) { return ops::layer_norm(x[0], &x[1], &x[2], 1e-5f); });
  add("softmax", "large_logits", [](Rng& r) { return Inputs{r.normal({4, 7, 129}, 8.0f)}; },
      [](const Inputs& x) { return ops::softmax(x[0]); });
  // The heads' spatial softmax at L0 (2560 positions, 320 maps) and with maps not a multiple of 32.
  add("spatial_softmax", "unet_L0_maps", [](Rng& r) { return Inputs{r.normal({2, 2560, 320}, 3.0f), r.normal({2560, 2})}; },
      [](const Inputs& x) { return ops::spatial_softmax(x[0], x[1]); }, kReduction);
  // 2-D keypoints take the position-split kernel where 16-byte loads cover the maps: the deepest level's few
  // positions over 1280 maps (one slot per block in f16/bf16; f32 on the general kernel), and 64 maps with
  // positions split over several chunks.
  add("spatial_softmax", "split_1280_maps_40_positions", [](Rng& r) { return Inputs{r.normal({3, 40, 1280}, 3.0f), r.normal({40, 2})}; },
      [](const Inputs& x) { return ops::spatial_softmax(x[0], x[1]); }, kReduction);
  add("spatial_softmax", "split_64_maps_700_positions", [](Rng& r) { return Inputs{r.normal({5, 700, 64}, 3.0f), r.normal({700, 2})}; },
      [](const Inputs& x) { return ops::spatial_softmax(x[0], x[1]); }, kReduction);
  add("spatial_softmax", "ragged_maps_three_dims", [](Rng& r) { return Inputs{r.normal({3, 37, 45}, 2.0f), r.normal({37, 3})}; },
      [](const Inputs& x) { return ops::spatial_softmax(x[0], x[1]); }, kReduction);
  add("softmax", "single_column", [](Rng& r) { return Inputs{r.normal({5, 1})}; },
      [](const Inputs& x) { return ops::softmax(x[0]); });

  // ---- attention -----------------------------------------------------------------------
  auto attention_case = [&](std::string name, std::int64_t b, std::int64_t lq, std::int64_t lk, std::int64_t h,
                            std::int64_t d, std::int64_t dv, int mask_batch, bool fused_qkv) {
    add("attention", std::move(name),
        [=](Rng& r) {
          Inputs in;
          if (fused_qkv) {
            in.push_back(r.normal({b, lq, 3, h, d}));
          } else {
            in.push_back(r.normal({b, lq, h, d}));
            in.push_back(r.normal({b, lk, h, d}));
            in.push_back(r.normal({b, lk, h, dv}));
          }
          if (mask_batch > 0) {
            Tensor m = r.normal({mask_batch, lq, lk}, 2.0f);
            std::vector<float> mv = m.to_floats();
            // Mask some keys with -inf, never all keys of a row.
            for (std::size_t i = 0; i < mv.size(); ++i)
              if (i % static_cast<std::size_t>(lk) != 0 && (i * 7919) % 5 == 0) mv[i] = -INFINITY;
            in.push_back(Tensor::from_floats(m.shape(), mv));
          }
          return in;
        },
        [=](const Inputs& x) {
          const float scale = 1.0f / std::sqrt(static_cast<float>(d));
          const Tensor* mask = mask_batch > 0 ? &x.back() : nullptr;
          if (fused_qkv)
            return ops::attention(x[0].select(2, 0), x[0].select(2, 1), x[0].select(2, 2), mask, scale);
          return ops::attention(x[0], x[1], x[2], mask, scale);
        });
  };
  // Upstream's four cross-attention branches over one q: text (77 keys), image (16 x 16), state (1) and the
  // action branch (16 keys, block-causal mask, each batch row seeing the first visible[row] keys); d 64 runs the
  // fused flash kernel, d 40 the per-branch fallback. broadcast_mask: the action mask as upstream's model passes
  // it here, one [2, 1, keys] row per batch row expanded over the queries (query stride 0), which lets the flash
  // kernel skip the keys no row sees (with 256 action keys, whole 64-key tiles and part of the last one).
  auto branches_case = [&](std::string name, std::int64_t lq, std::int64_t d, bool with_action,
                           bool broadcast_mask = false, std::int64_t action_keys = 16,
                           std::array<std::int64_t, 2> visible = {4, 8}) {
    add("attention_sum", std::move(name),
        [=](Rng& r) {
          Inputs in{r.normal({2, lq, 3, d})};
          for (const std::int64_t lk : {std::int64_t{77}, std::int64_t{256}, std::int64_t{1}, action_keys}) {
            in.push_back(r.normal({2, lk, 3, d}));
            in.push_back(r.normal({2, lk, 3, d}));
          }
          const std::int64_t mask_rows = broadcast_mask ? 1 : lq;
          std::vector<float> mask(static_cast<std::size_t>(2 * mask_rows * action_keys), 0.0f);
          for (std::int64_t row = 0; row < 2; ++row)
            for (std::int64_t i = 0; i < mask_rows; ++i)
              for (std::int64_t j = visible[row]; j < action_keys; ++j)
                mask[(row * mask_rows + i) * action_keys + j] = -INFINITY;
          in.push_back(Tensor::from_floats({2, mask_rows, action_keys}, mask));
          return in;
        },
        [=](const Inputs& x) {
          const Tensor mask = x[9].expand({2, lq, action_keys});
          std::vector<ops::KeyValueBranch> b;
          for (int i = 0; i < (with_action ? 4 : 3); ++i) b.push_back({x[1 + 2 * i], x[2 + 2 * i], i == 3 ? &mask : nullptr});
          return ops::attention_sum(x[0], b, 1.0f / std::sqrt(static_cast<float>(d)));
        });
  };
  branches_case("four_branches_d64", 150, 64, true);
  branches_case("three_branches_d64", 67, 64, false);
  branches_case("four_branches_d40_fallback", 33, 40, true);
  branches_case("four_branches_d64_broadcast_mask", 150, 64, true, true);
  branches_case("four_branches_d40_broadcast_mask", 33, 40, true, true);
  branches_case("four_branches_d64_256_action_keys", 150, 64, true, true, 256, {67, 131});
  branches_case("four_branches_d64_256_action_keys_dense_mask", 70, 64, true, false, 256, {64, 200});
  // On Hopper the broadcast-mask cases run the branched wgmma kernel (128-query blocks): here one batch row sees a
  // single action key, the other 200 (a partial tile after three whole ones), over ragged query blocks.
  branches_case("four_branches_d64_wgmma_ragged_queries", 300, 64, true, true, 256, {1, 200});
  // One masked branch alone (attention with a key mask broadcast over the queries): the branched kernel's single-
  // branch form; a key masked inside a tile, not only a masked tail.
  add("attention", "d64_key_mask_broadcast",
      [](Rng& r) {
        Inputs in{r.normal({2, 133, 3, 64}), r.normal({2, 90, 3, 64}), r.normal({2, 90, 3, 64})};
        std::vector<float> mask(2 * 90, 0.0f);
        for (int j = 0; j < 90; ++j) {
          if (j % 7 == 3) mask[static_cast<std::size_t>(j)] = -INFINITY;
          if (j >= 70) mask[static_cast<std::size_t>(90 + j)] = -INFINITY;
          else mask[static_cast<std::size_t>(90 + j)] = 0.5f * static_cast<float>(j % 3);
        }
        in.push_back(Tensor::from_floats({2, 1, 90}, mask));
        return in;
      },
      [](const Inputs& x) {
        const Tensor mask = x[3].expand({2, 133, 90});
        return ops::attention(x[0], x[1], x[2], &mask, 0.125f);
      });
  attention_case("odd_sizes_dv_differs", 2, 13, 37, 3, 16, 24, 0, false);
  attention_case("fused_qkv_views", 2, 19, 19, 2, 64, 64, 0, true);
  attention_case("shared_mask_with_inf", 2, 9, 45, 3, 32, 32, 1, false);
  attention_case("per_batch_mask", 3, 16, 16, 2, 40, 40, 3, false);
  attention_case("single_key", 2, 7, 1, 2, 8, 8, 0, false);
  attention_case("head_dim_128_long", 1, 70, 333, 2, 128, 128, 0, false);
  attention_case("head_dim_256", 1, 5, 40, 1, 256, 256, 0, false);
  // Wider heads (the VAE's mid-block attention, d = 512) take the two-GEMM path on the GPU.
  attention_case("vae_mid_d512", 2, 70, 70, 1, 512, 512, 0, false);
  attention_case("d320_two_heads_masked", 2, 9, 33, 2, 320, 320, 1, false);
  // Head dim 64 runs the flash kernel in f16/bf16: the UNet's L0 self-attention length, and
  // ragged tails (queries and keys not multiples of the 64-row tiles) with a mask.
  attention_case("unet_self_2560_d64", 1, 2560, 2560, 2, 64, 64, 0, true);
  attention_case("d64_ragged_masked", 2, 131, 77, 3, 64, 64, 2, false);
  // Unmasked head dim 64 takes the wgmma kernel on Hopper (128-query blocks, 64-key tiles): ragged queries and
  // keys, a single partial key tile, exactly one whole tile, and the L1 length over fused q/k/v views.
  attention_case("d64_wgmma_ragged_300x200", 2, 300, 200, 3, 64, 64, 0, false);
  attention_case("d64_wgmma_one_partial_tile", 1, 150, 40, 2, 64, 64, 0, false);
  attention_case("d64_wgmma_one_whole_tile", 2, 129, 64, 1, 64, 64, 0, false);
  attention_case("d64_wgmma_640_fused", 2, 640, 640, 2, 64, 64, 0, true);
  attention_case("d64_temporal_16_frames", 40, 16, 16, 5, 64, 64, 0, true);
  // Up to 32 queries and keys run the short-sequence kernel in f16/bf16.
  attention_case("d64_short_lq5_lk29", 3, 5, 29, 4, 64, 64, 0, false);
  // The temporal transformer's layout: q/k/v are frame-strided views of a fused [B, T, P, 3, H, 64]
  // projection and the output goes to the frames of each pixel of a [B, T, P, H, 64] tensor, one call
  // per batch element. T <= 32 takes the short-sequence kernel (16 frames; odd 7 and 23 with partial
  // tiles; 32, its limit), T = 40 the flash kernel.
  auto temporal_case = [&](std::string name, std::int64_t b, std::int64_t t, std::int64_t p, std::int64_t h) {
    add("attention_into", std::move(name), [=](Rng& r) { return Inputs{r.normal({b, t, p, 3, h, 64})}; },
        [=](const Inputs& x) {
          const Tensor o = Tensor::empty({b, t, p, h, 64}, x[0].dtype(), x[0].device());
          for (std::int64_t i = 0; i < b; ++i) {
            const Tensor s = x[0].select(0, i).permute({1, 0, 2, 3, 4});  // [P, T, 3, H, 64]
            ops::attention_into(o.select(0, i).permute({1, 0, 2, 3}), s.select(2, 0), s.select(2, 1), s.select(2, 2),
                                nullptr, 0.125f);
          }
          return o;
        });
  };
  temporal_case("temporal_T16_P37_H3_two_videos", 2, 16, 37, 3);
  temporal_case("temporal_T7_P37_H3", 1, 7, 37, 3);
  temporal_case("temporal_T23_P9_H5", 1, 23, 9, 5);
  temporal_case("temporal_T32_P11_H2", 1, 32, 11, 2);
  temporal_case("temporal_T40_P6_H2_flash", 1, 40, 6, 2);
  // Output rows that start 4 bytes (16-bit: flash kernel) or 2 bytes (general kernel) past a 16-byte
  // boundary, inside padded rows that must stay zero.
  for (const std::int64_t offset : {2, 1})
    add("attention_into", "out_rows_offset_" + std::to_string(offset),
        [](Rng& r) { return Inputs{r.normal({2, 19, 3, 2, 64})}; },
        [offset](const Inputs& x) {
          const Tensor storage = zeros_like_on(x[0], {2, 19, 2, 70}, x[0].dtype());
          ops::attention_into(storage.slice(-1, offset, offset + 64), x[0].select(2, 0), x[0].select(2, 1),
                              x[0].select(2, 2), nullptr, 0.125f);
          return storage;
        });

  // ---- resampling and embeddings -------------------------------------------------------
  add("upsample_nearest2x", "odd_sizes", [](Rng& r) { return Inputs{r.normal({2, 3, 5, 7})}; },
      [](const Inputs& x) { return ops::upsample_nearest2x(x[0]); }, kExact);
  add("timestep_embedding", "cos_sin_320_i64",
      [](Rng& r) {
        std::vector<std::int64_t> t;
        for (int i = 0; i < 5; ++i) t.push_back(r.integer(0, 999));
        t.push_back(999);
        return Inputs{Tensor::from_ints({6}, t)};
      },
      [](const Inputs& x) { return ops::timestep_embedding(x[0], 320, ops::TimestepStyle::CosSin); }, kDefault, false);
  add("timestep_embedding", "cos_sin_odd_dim_i32",
      [](Rng&) { return Inputs{Tensor::from_ints({3}, {0, 1, 500}, DType::I32)}; },
      [](const Inputs& x) { return ops::timestep_embedding(x[0], 33, ops::TimestepStyle::CosSin); }, kDefault, false);
  add("timestep_embedding", "sin_cos_half_m1_f32",
      [](Rng& r) { return Inputs{r.uniform({4}, 0.0f, 100.0f)}; },
      [](const Inputs& x) { return ops::timestep_embedding(x[0], 64, ops::TimestepStyle::SinCosHalfM1); }, kDefault,
      false);
  // The heads' scheduler step, bit-exact: both backends round every operation to float32 the same way. Samples
  // beyond the clip range on purpose (x0 clamps), as in the first steps of a pass.
  for (const bool reciprocal : {false, true})
    add("eps_ddim_step", reciprocal ? "clipped_multiply_by_reciprocal" : "clipped_divide",
        [](Rng& r) { return Inputs{r.normal({1, 16, 16}), r.normal({1, 16, 16}, 3.0f)}; },
        [reciprocal](const Inputs& x) {
          ops::EpsDdimStep s;
          s.sqrt_beta_prod = 0.9987f, s.sqrt_alpha_prod = 0.0512f, s.inv_sqrt_alpha_prod = 1.0f / 0.0512f;
          s.sqrt_alpha_prod_prev = 0.1203f, s.dir_coefficient = 0.9927f, s.multiply_by_reciprocal = reciprocal;
          return ops::eps_ddim_step(x[0], x[1], s);
        },
        kExact, false);
  // clang-format on
  return c;
}

const std::vector<OpCase>& cases() {
  static const std::vector<OpCase> all = build_cases();
  return all;
}

struct Param {
  std::size_t index;
  DType dtype;
};

std::vector<Param> all_params() {
  std::vector<Param> p;
  for (std::size_t i = 0; i < cases().size(); ++i)
    for (DType t : {DType::F32, DType::F16, DType::BF16})
      if (t == DType::F32 || cases()[i].float_dtypes) p.push_back({i, t});
  return p;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const OpCase& c = cases()[info.param.index];
  std::string s = c.op + "_" + c.name + "_" + std::string(dtype_name(info.param.dtype));
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

std::uint64_t seed_for(const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;
  for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  if (const char* s = std::getenv("WMA_TEST_SEED")) h ^= std::stoull(s);
  return h;
}

class BackendOps : public CudaTest, public ::testing::WithParamInterface<Param> {};

TEST_P(BackendOps, MatchesCpuReference) {
  const OpCase& c = cases()[GetParam().index];
  const DType dtype = GetParam().dtype;
  Rng rng(seed_for(c.op + c.name));
  const Inputs raw = c.inputs(rng);

  // Inputs rounded to the dtype first, so the comparison measures compute error only.
  Inputs cpu_in, gpu_in;
  for (const Tensor& t : raw) {
    if (!t.defined()) {
      cpu_in.emplace_back();
      gpu_in.emplace_back();
      continue;
    }
    const Tensor typed = dtype_is_float(t.dtype()) ? ops::cast(t, dtype) : t;
    cpu_in.push_back(ops::cast(typed, dtype_is_float(t.dtype()) ? DType::F32 : t.dtype()));
    gpu_in.push_back(ops::to_device(typed, Device::CUDA));
  }
  const Tensor ref = c.run(cpu_in);

  GuardedAllocator guarded(current_allocator(Device::CUDA));
  Tensor got_gpu;
  {
    ScopedAllocator scope(guarded);
    ASSERT_NO_THROW(got_gpu = c.run(gpu_in)) << c.op << "/" << c.name;
    cuda::synchronize();
  }
  const std::vector<std::string> damaged = guarded.damaged();
  EXPECT_TRUE(damaged.empty()) << "out-of-bounds writes: " << damaged.front();
  ASSERT_EQ(got_gpu.device(), Device::CUDA);
  const Tensor got = ops::to_device(got_gpu, Device::CPU);

  const Comparison cmp = compare(got, ref);
  ASSERT_TRUE(cmp.mismatch.empty()) << cmp.mismatch;
  const double tol = c.tol.for_dtype(dtype);
  EXPECT_LE(cmp.normalized, tol) << c.op << "/" << c.name << " " << dtype_name(dtype)
                                 << ": max|gpu-cpu| = " << cmp.max_abs_err << " at element " << cmp.worst_index
                                 << ", max|cpu| = " << cmp.max_abs_ref;
  RecordProperty("normalized_error", std::to_string(cmp.normalized));
  std::cout << "[error] " << c.op << "/" << c.name << " " << dtype_name(dtype) << ": " << cmp.normalized
            << " (tolerance " << tol << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Table, BackendOps, ::testing::ValuesIn(all_params()), param_name);

// Every op of ops.h should have a case; the line lists the ones that do not.
// The names of the functions backends/kernels.inc declares (lines `void name(`), read from the source tree.
std::vector<std::string> declared_kernels() {
  const char* root = std::getenv("WMA_SOURCE_DIR");
  std::ifstream in(std::string(root ? root : ".") + "/src/backends/kernels.inc");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("void ", 0) == 0) names.push_back(line.substr(5, line.find('(') - 5));
  return names;
}

TEST(BackendOpsCoverage, EveryKernelHasACase) {
  const std::vector<std::string> all_ops = {"copy_into",
                                            "contiguous",
                                            "cast",
                                            "to_device",
                                            "concat",
                                            "repeat",
                                            "repeat_interleave",
                                            "fill",
                                            "add",
                                            "sub",
                                            "mul",
                                            "axpby",
                                            "scale",
                                            "activation",
                                            "geglu",
                                            "linear",
                                            "matmul",
                                            "conv2d",
                                            "conv_temporal",
                                            "conv1d",
                                            "conv_transpose1d",
                                            "group_norm",
                                            "layer_norm",
                                            "softmax",
                                            "spatial_softmax",
                                            "attention",
                                            "attention_into",
                                            "attention_sum",
                                            "upsample_nearest2x",
                                            "timestep_embedding",
                                            "eps_ddim_step"};
  std::set<std::string> covered;
  for (const OpCase& c : cases()) covered.insert(c.op);
  covered.insert("to_device");  // every case moves its inputs with it
  std::string missing;
  for (const auto& op : all_ops)
    if (!covered.count(op)) missing += (missing.empty() ? "" : ", ") + op;
  std::cout << "[coverage] " << cases().size() << " cases over " << covered.size()
            << " ops; ops with no case: " << (missing.empty() ? "none" : missing) << "\n";
  // Every backend kernel, as backends/kernels.inc declares it, must be reached by some case; `binary` is
  // reached through add, sub and mul.
  const std::vector<std::string> kernels = declared_kernels();
  ASSERT_GE(kernels.size(), 20u) << "could not read the kernel list";
  for (const std::string& kernel : kernels) {
    const bool reached = kernel == "binary" ? covered.count("add") && covered.count("sub") && covered.count("mul")
                                            : covered.count(kernel) > 0;
    EXPECT_TRUE(reached) << "backend kernel " << kernel << " (kernels.inc) has no test case";
  }
}

}  // namespace
}  // namespace wma::test
