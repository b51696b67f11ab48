// bench_ops: times conv2d, conv_temporal, attention, attention_sum, linear, group_norm, layer_norm and
// spatial_softmax at the UNet's real shapes (docs/performance.md, shared/perf/flops.md) in f32/f16/bf16, each with
// the general kernels (cuda::ScopedGeneralKernels) and with the fast paths, side by side. Median of CUDA-event
// timings after warm-up, L2 flushed before every run; prints a table and writes JSON.
//
// Usage: bench_ops [--json out.json] [--reps N] [--filter substring]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/context.h"
#include "core/allocator.h"
#include "ops/ops.h"

namespace {

using wma::DType;
using wma::Shape;
using wma::Tensor;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "bench_ops: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Uniform values in [-scale, scale) from a counter hash: fast for 10^7 elements, and never zeros.
Tensor random_on_gpu(const Shape& shape, DType dtype, std::uint64_t seed, float scale = 1.0f) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(static_cast<std::size_t>(n));
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x = scale * (static_cast<float>(s >> 40) / static_cast<float>(1ull << 24) * 2.0f - 1.0f);
  }
  const Tensor host = Tensor::from_floats(shape, v);
  return wma::ops::cast(wma::ops::to_device(host, wma::Device::CUDA), dtype);
}

struct Case {
  std::string op, shape;
  double flops = 0;           // 0: report bandwidth instead
  double bytes_per_elem = 0;  // bytes moved per element of one dtype byte, times dtype size
  std::function<std::vector<Tensor>(DType)> make;
  std::function<Tensor(const std::vector<Tensor>&)> run;
};

std::string dims(std::initializer_list<std::int64_t> d) {
  std::ostringstream o;
  bool first = true;
  for (auto v : d) {
    o << (first ? "" : "x") << v;
    first = false;
  }
  return o.str();
}

std::vector<Case> build_cases() {
  std::vector<Case> cs;
  // conv2d: x [n, h, w, cin] -> cout with a k x k kernel.
  auto conv = [&](std::string level, std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t cin,
                  std::int64_t cout, int k, int stride) {
    const int pad = k / 2;
    const std::int64_t ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
    Case c;
    c.op = "conv2d";
    c.shape = level + " " + dims({n, h, w, cin}) + "->" + std::to_string(cout) + " k" + std::to_string(k) + "s" +
              std::to_string(stride);
    c.flops = 2.0 * n * ho * wo * cout * static_cast<double>(k * k * cin);
    c.make = [=](DType t) {
      return std::vector<Tensor>{random_on_gpu({n, h, w, cin}, t, 1),
                                 random_on_gpu({cout, k, k, cin}, t, 2, 1.0f / std::sqrt(float(k * k * cin))),
                                 random_on_gpu({cout}, t, 3)};
    };
    c.run = [=](const std::vector<Tensor>& x) {
      return wma::ops::conv2d(x[0], x[1], &x[2], wma::ops::Conv2dParams{stride, pad});
    };
    cs.push_back(c);
  };
  conv("L0", 16, 40, 64, 320, 320, 3, 1);
  conv("L1", 16, 20, 32, 640, 640, 3, 1);
  conv("L2", 16, 10, 16, 1280, 1280, 3, 1);
  conv("L3", 16, 5, 8, 1280, 1280, 3, 1);
  conv("L0-down", 16, 40, 64, 320, 320, 3, 2);
  conv("L0-skip", 16, 40, 64, 640, 320, 1, 1);

  auto temporal = [&](std::string level, std::int64_t s, std::int64_t c_) {
    Case c;
    c.op = "conv_temporal";
    c.shape = level + " " + dims({1, 16, s, c_}) + " k3";
    c.flops = 2.0 * 16 * s * c_ * static_cast<double>(3 * c_);
    c.make = [=](DType t) {
      return std::vector<Tensor>{random_on_gpu({1, 16, s, c_}, t, 4),
                                 random_on_gpu({c_, 3, c_}, t, 5, 1.0f / std::sqrt(float(3 * c_))),
                                 random_on_gpu({c_}, t, 6)};
    };
    c.run = [](const std::vector<Tensor>& x) { return wma::ops::conv_temporal(x[0], x[1], &x[2], 1); };
    cs.push_back(c);
  };
  temporal("L0", 2560, 320);
  temporal("L1", 640, 640);
  temporal("L2", 160, 1280);

  // Self-attention reads q, k, v as views of one fused projection [b, l, 3, h, 64].
  auto attention = [&](std::string what, std::int64_t b, std::int64_t lq, std::int64_t lk, std::int64_t h) {
    Case c;
    c.op = "attention";
    c.shape = what + " b" + std::to_string(b) + " lq" + std::to_string(lq) + " lk" + std::to_string(lk) + " h" +
              std::to_string(h) + " d64";
    c.flops = 4.0 * b * h * static_cast<double>(lq) * lk * 64;
    const bool self = lq == lk;
    c.make = [=](DType t) {
      if (self) return std::vector<Tensor>{random_on_gpu({b, lq, 3, h, 64}, t, 7)};
      return std::vector<Tensor>{random_on_gpu({b, lq, h, 64}, t, 7), random_on_gpu({b, lk, h, 64}, t, 8),
                                 random_on_gpu({b, lk, h, 64}, t, 9)};
    };
    c.run = [=](const std::vector<Tensor>& x) {
      if (self) return wma::ops::attention(x[0].select(2, 0), x[0].select(2, 1), x[0].select(2, 2), nullptr, 0.125f);
      return wma::ops::attention(x[0], x[1], x[2], nullptr, 0.125f);
    };
    cs.push_back(c);
  };
  attention("L0-self", 16, 2560, 2560, 5);
  attention("L1-self", 16, 640, 640, 10);
  attention("L2-self", 16, 160, 160, 20);
  attention("L0-cross256", 16, 2560, 256, 5);
  attention("L0-temporal", 2560, 16, 16, 5);
  {
    // The temporal transformer's own layout: q/k/v are frame-strided views of the fused projection
    // [1, 16, 2560, 3, 5, 64] and the output the frames of each pixel of [1, 16, 2560, 5, 64]. Reported as
    // bandwidth: q, k, v and out each move once.
    const std::int64_t t = 16, p = 2560, h = 5;
    Case c;
    c.op = "attention_into";
    c.shape = "L0-temporal frames " + dims({1, t, p, 3, h, 64});
    c.bytes_per_elem = 4.0 * t * p * h * 64;
    c.make = [=](DType dt) { return std::vector<Tensor>{random_on_gpu({t, p, 3, h, 64}, dt, 13)}; };
    c.run = [=](const std::vector<Tensor>& x) {
      const Tensor o = Tensor::empty({t, p, h, 64}, x[0].dtype(), x[0].device());
      const Tensor s = x[0].permute({1, 0, 2, 3, 4});  // [P, T, 3, H, 64]
      wma::ops::attention_into(o.permute({1, 0, 2, 3}), s.select(2, 0), s.select(2, 1), s.select(2, 2), nullptr,
                               0.125f);
      return o;
    };
    cs.push_back(c);
  }

  // The cross-attention of a SpatialTransformer at L0: one q against upstream's four branches (text 77, image
  // 16, state 2, action 256 keys under the block-causal mask, frame f seeing 16 (f + 1) of them), summed. Rated
  // by the FLOPs of the keys each row can see.
  {
    const std::int64_t b = 16, lq = 2560, h = 5, action = 256;
    Case c;
    c.op = "attention_sum";
    c.shape = "L0-cross " + dims({b, lq, h, 64}) + " keys 77+16+2+256";
    c.flops = 4.0 * b * h * static_cast<double>(lq) * 64 * (77 + 16 + 2 + 136);
    c.make = [=](DType t) {
      std::vector<Tensor> in{random_on_gpu({b, lq, h, 64}, t, 14)};
      std::uint64_t seed = 15;
      for (const std::int64_t lk : {std::int64_t{77}, std::int64_t{16}, std::int64_t{2}, action}) {
        in.push_back(random_on_gpu({b, lk, h, 64}, t, seed++));
        in.push_back(random_on_gpu({b, lk, h, 64}, t, seed++));
      }
      std::vector<float> mask(static_cast<std::size_t>(b * action), 0.0f);
      for (std::int64_t f = 0; f < b; ++f)
        for (std::int64_t j = (f + 1) * (action / 16); j < action; ++j)
          mask[static_cast<std::size_t>(f * action + j)] = -INFINITY;
      in.push_back(
          wma::ops::cast(wma::ops::to_device(Tensor::from_floats({b, 1, action}, mask), wma::Device::CUDA), t));
      return in;
    };
    c.run = [=](const std::vector<Tensor>& x) {
      const Tensor mask = x[9].expand({b, lq, action});
      std::vector<wma::ops::KeyValueBranch> branches;
      for (int i = 0; i < 4; ++i) branches.push_back({x[1 + 2 * i], x[2 + 2 * i], i == 3 ? &mask : nullptr});
      return wma::ops::attention_sum(x[0], branches, 0.125f);
    };
    cs.push_back(c);
  }

  // The UNet's linear layers (cuBLASLt): fused q/k/v, the feed-forward's GEGLU projection and its output, at
  // L0-L2 per-frame token counts.
  auto linear = [&](std::string what, std::int64_t m, std::int64_t k, std::int64_t n) {
    Case c;
    c.op = "linear";
    c.shape = what + " " + dims({m, k}) + "->" + std::to_string(n);
    c.flops = 2.0 * m * k * static_cast<double>(n);
    c.make = [=](DType t) {
      return std::vector<Tensor>{random_on_gpu({m, k}, t, 20), random_on_gpu({n, k}, t, 21, 1.0f / std::sqrt(float(k))),
                                 random_on_gpu({n}, t, 22)};
    };
    c.run = [](const std::vector<Tensor>& x) { return wma::ops::linear(x[0], x[1], &x[2]); };
    cs.push_back(c);
  };
  linear("L0-qkv", 40960, 320, 960);
  linear("L0-ff-in", 40960, 320, 2560);
  linear("L0-ff-out", 40960, 1280, 320);
  linear("L1-ff-in", 10240, 640, 5120);
  linear("L1-ff-out", 10240, 2560, 640);
  linear("L2-ff-in", 2560, 1280, 10240);
  linear("L2-proj", 2560, 1280, 1280);

  auto group_norm = [&](std::string what, std::int64_t n, std::int64_t l, std::int64_t ch) {
    Case c;
    c.op = "group_norm";
    c.shape = what + " " + dims({n, l, ch}) + " g32 silu";
    c.bytes_per_elem = 2.0 * n * l * ch;  // one read, one write
    c.make = [=](DType t) {
      return std::vector<Tensor>{random_on_gpu({n, l, ch}, t, 10, 3.0f), random_on_gpu({ch}, DType::F32, 11),
                                 random_on_gpu({ch}, DType::F32, 12)};
    };
    c.run = [](const std::vector<Tensor>& x) {
      return wma::ops::group_norm(x[0], 32, &x[1], &x[2], 1e-6f, wma::ops::Activation::SiLU);
    };
    cs.push_back(c);
  };
  group_norm("L0-frames", 16, 2560, 320);
  group_norm("L0-video", 1, 16 * 2560, 320);
  group_norm("L2-frames", 16, 160, 1280);
  group_norm("L1-frames", 16, 640, 640);
  group_norm("VAE-dec-top", 1, 320 * 512, 128);
  group_norm("L1-video", 1, 16 * 640, 640);
  group_norm("L2-concat", 16, 160, 2560);
  group_norm("L3-concat", 16, 40, 2560);
  group_norm("L2-video", 1, 16 * 160, 1280);
  group_norm("L3-video", 1, 16 * 40, 1280);
  group_norm("heads", 16, 32, 1024);

  // The transformers' LayerNorms (weight and bias in the activations' dtype, as the model loads them).
  auto layer_norm = [&](std::string what, std::int64_t rows, std::int64_t ch) {
    Case c;
    c.op = "layer_norm";
    c.shape = what + " " + dims({rows, ch});
    c.bytes_per_elem = 2.0 * rows * ch;  // one read, one write
    c.make = [=](DType t) {
      return std::vector<Tensor>{random_on_gpu({rows, ch}, t, 16, 3.0f), random_on_gpu({ch}, t, 17),
                                 random_on_gpu({ch}, t, 18)};
    };
    c.run = [](const std::vector<Tensor>& x) { return wma::ops::layer_norm(x[0], &x[1], &x[2], 1e-5f); };
    cs.push_back(c);
  };
  layer_norm("L0", 16 * 2560, 320);
  layer_norm("L1", 16 * 640, 640);
  layer_norm("L2", 16 * 160, 1280);
  layer_norm("L0-temporal-ff", 16 * 2560, 512);

  // The action heads' keypoints over the UNet's features: 16 frames, one map per channel.
  auto spatial_softmax = [&](std::string what, std::int64_t positions, std::int64_t maps) {
    Case c;
    c.op = "spatial_softmax";
    c.shape = what + " " + dims({16, positions, maps});
    c.bytes_per_elem = 16.0 * positions * maps;  // one read of the logits
    c.make = [=](DType t) {
      return std::vector<Tensor>{random_on_gpu({16, positions, maps}, t, 19, 3.0f),
                                 random_on_gpu({positions, 2}, t, 20)};
    };
    c.run = [](const std::vector<Tensor>& x) { return wma::ops::spatial_softmax(x[0], x[1]); };
    cs.push_back(c);
  };
  spatial_softmax("L0", 2560, 320);
  spatial_softmax("L1", 640, 640);
  spatial_softmax("L3", 40, 1280);
  return cs;
}

struct Timing {
  double median_ms = 0, min_ms = 0;
};

Timing time_op(const Case& c, const std::vector<Tensor>& in, wma::Arena& arena, void* flush, std::size_t flush_bytes,
               int reps) {
  cudaStream_t s = wma::cuda::stream();
  for (int i = 0; i < 2; ++i) {
    arena.reset();
    c.run(in);
  }
  std::vector<cudaEvent_t> ev(2 * reps);
  for (auto& e : ev) check(cudaEventCreate(&e), "event");
  for (int i = 0; i < reps; ++i) {
    arena.reset();
    check(cudaMemsetAsync(flush, i & 0xff, flush_bytes, s), "flush");
    check(cudaEventRecord(ev[2 * i], s), "record");
    c.run(in);
    check(cudaEventRecord(ev[2 * i + 1], s), "record");
  }
  check(cudaStreamSynchronize(s), "sync");
  check(cudaGetLastError(), "kernels");
  std::vector<double> ms(reps);
  for (int i = 0; i < reps; ++i) {
    float t = 0;
    check(cudaEventElapsedTime(&t, ev[2 * i], ev[2 * i + 1]), "elapsed");
    ms[i] = t;
  }
  for (auto& e : ev) cudaEventDestroy(e);
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path = "bench_ops.json", filter;
  int reps = 15;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_ops [--json out.json] [--reps N] [--filter substring]\n");
      return 2;
    }
  }
  wma::cuda::init();
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, wma::cuda::context().device_), "properties");
  // Larger than any L2 (50 MB on H100, 60 MB on H200).
  const std::size_t flush_bytes = 256u << 20;
  void* flush = nullptr;
  check(cudaMalloc(&flush, flush_bytes), "flush buffer");
  wma::Arena arena(wma::current_allocator(wma::Device::CUDA), std::size_t{4} << 30);

  std::ofstream json(json_path);
  json << "{\"device\": \"" << prop.name << "\", \"reps\": " << reps << ", \"results\": [\n";
  bool first = true;
  std::printf("%-14s %-38s %-5s %10s %10s %8s %12s %12s\n", "op", "shape", "dtype", "old ms", "new ms", "speedup",
              "old rate", "new rate");
  for (const Case& c : build_cases()) {
    if (!filter.empty() && (c.op + " " + c.shape).find(filter) == std::string::npos) continue;
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
      const std::vector<Tensor> in = c.make(t);
      Timing old_t, new_t;
      {
        wma::ScopedAllocator scope(arena);
        {
          wma::cuda::ScopedGeneralKernels general;
          old_t = time_op(c, in, arena, flush, flush_bytes, reps);
        }
        new_t = time_op(c, in, arena, flush, flush_bytes, reps);
        arena.reset();
      }
      const double elem = static_cast<double>(wma::dtype_size(t));
      auto rate = [&](double ms) {
        char buf[32];
        if (c.flops > 0) std::snprintf(buf, sizeof buf, "%.1f TF/s", c.flops / (ms * 1e-3) / 1e12);
        else std::snprintf(buf, sizeof buf, "%.0f GB/s", c.bytes_per_elem * elem / (ms * 1e-3) / 1e9);
        return std::string(buf);
      };
      std::printf("%-14s %-38s %-5s %10.3f %10.3f %7.2fx %12s %12s\n", c.op.c_str(), c.shape.c_str(),
                  std::string(wma::dtype_name(t)).c_str(), old_t.median_ms, new_t.median_ms,
                  old_t.median_ms / new_t.median_ms, rate(old_t.median_ms).c_str(), rate(new_t.median_ms).c_str());
      std::fflush(stdout);
      json << (first ? "" : ",\n") << "  {\"op\": \"" << c.op << "\", \"shape\": \"" << c.shape << "\", \"dtype\": \""
           << wma::dtype_name(t) << "\", \"old_ms\": " << old_t.median_ms << ", \"new_ms\": " << new_t.median_ms
           << ", \"old_min_ms\": " << old_t.min_ms << ", \"new_min_ms\": " << new_t.min_ms
           << ", \"gflop\": " << c.flops / 1e9 << ", \"gbytes\": " << c.bytes_per_elem * elem / 1e9 << "}";
      first = false;
    }
  }
  json << "\n]}\n";
  cudaFree(flush);
  return 0;
}
