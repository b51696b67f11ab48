// Bit-exact replay of torch.randn streams (CPU: ATen mt19937 + normal_kernel; CUDA: curand Philox
// + ATen distribution_nullary_kernel layout) recorded by tools/rng/make_rng_fixtures.py, plus
// known-answer and layout checks that need no recording.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"

namespace wma {
namespace {

namespace fs = std::filesystem;

fs::path rng_data_dir() {
  const char* src = std::getenv("WMA_SOURCE_DIR");
  return fs::path(src ? src : ".") / "tests" / "data" / "rng";
}

// One line of a fixture file: its keyword and key=value tokens.
struct Record {
  std::string kind;
  std::map<std::string, std::string> fields;
  const std::string& at(const std::string& key) const {
    auto it = fields.find(key);
    if (it == fields.end()) fail("[test_rng] fixture record '", kind, "' has no field '", key, "'");
    return it->second;
  }
  bool has(const std::string& key) const { return fields.count(key) != 0; }
};

std::vector<Record> read_records(const fs::path& path) {
  std::ifstream in(path);
  WMA_CHECK(in, "[test_rng] cannot open ", path.string());
  std::vector<Record> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    Record r;
    ss >> r.kind;
    std::string tok;
    while (ss >> tok) {
      const auto eq = tok.find('=');
      WMA_CHECK(eq != std::string::npos, "[test_rng] bad token '", tok, "' in ", path.string());
      r.fields[tok.substr(0, eq)] = tok.substr(eq + 1);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::uint32_t> parse_hex_list(const std::string& s) {
  std::vector<std::uint32_t> v;
  std::istringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(static_cast<std::uint32_t>(std::stoul(item, nullptr, 16)));
  return v;
}

Shape parse_shape(const std::string& s) {
  Shape shape;
  std::istringstream ss(s);
  std::string item;
  while (std::getline(ss, item, 'x')) shape.push_back(std::stoll(item));
  return shape;
}

// sum_i bits_i * (2i + 1) mod 2^64, as the fixture script computes it.
std::uint64_t digest(const std::vector<float>& v) {
  std::uint64_t h = 0;
  for (std::size_t i = 0; i < v.size(); ++i) h += std::uint64_t{float_bits(v[i])} * (2 * i + 1);
  return h;
}

double ulp_distance(std::uint32_t a, std::uint32_t b) {
  auto key = [](std::uint32_t u) -> std::int64_t {
    return (u & 0x80000000u) ? -static_cast<std::int64_t>(u & 0x7fffffffu) : static_cast<std::int64_t>(u);
  };
  return std::fabs(static_cast<double>(key(a) - key(b)));
}

// Compares one draw with its record; returns an empty string when bit-identical.
std::string compare_draw(const std::vector<float>& got, const Record& rec) {
  std::ostringstream err;
  const auto numel = std::stoll(rec.at("numel"));
  if (static_cast<std::int64_t>(got.size()) != numel) {
    err << "numel " << got.size() << " vs " << numel;
    return err.str();
  }
  std::size_t bad = 0;
  double worst = 0;
  std::int64_t first_bad = -1;
  auto check = [&](std::int64_t index, std::uint32_t want) {
    const std::uint32_t have = float_bits(got[static_cast<std::size_t>(index)]);
    if (have == want) return;
    if (first_bad < 0) first_bad = index;
    ++bad;
    worst = std::max(worst, ulp_distance(have, want));
  };
  const auto head = parse_hex_list(rec.at("head"));
  for (std::size_t i = 0; i < head.size(); ++i) check(static_cast<std::int64_t>(i), head[i]);
  const auto tail = parse_hex_list(rec.at("tail"));
  for (std::size_t i = 0; i < tail.size(); ++i) check(numel - static_cast<std::int64_t>(tail.size() - i), tail[i]);
  std::size_t checked = head.size() + tail.size();
  if (rec.has("all")) {
    const auto all = parse_hex_list(rec.at("all"));
    for (std::size_t i = 0; i < all.size(); ++i) check(static_cast<std::int64_t>(i), all[i]);
    checked += all.size();
  }
  if (rec.has("sample")) {
    const auto stride = std::stoll(rec.at("stride"));
    const auto sample = parse_hex_list(rec.at("sample"));
    for (std::size_t i = 0; i < sample.size(); ++i) check(static_cast<std::int64_t>(i) * stride, sample[i]);
    checked += sample.size();
  }
  const std::uint64_t want_digest = std::stoull(rec.at("digest"), nullptr, 16);
  if (bad == 0 && digest(got) == want_digest) return "";
  err << "shape " << rec.at("shape") << ": " << bad << " of " << checked << " recorded values differ";
  if (bad) err << " (first at " << first_bad << ", worst " << worst << " ulp)";
  if (digest(got) != want_digest) err << "; whole-tensor digest differs";
  return err.str();
}

template <typename Generator, typename Make>
void replay(const std::vector<Record>& records, Make make, bool check_offsets) {
  std::string case_name;
  int draws = 0;
  Generator gen = make(0);
  for (const Record& r : records) {
    if (r.kind == "meta") continue;
    if (r.kind == "case") {
      case_name = r.at("name");
      gen = make(std::stoull(r.at("seed")));
    } else if (r.kind == "reseed") {
      gen.manual_seed(std::stoull(r.at("seed")));
    } else if (r.kind == "draw") {
      Tensor t = gen.randn(parse_shape(r.at("shape")));
      const std::string err = compare_draw(t.to_floats(), r);
      EXPECT_TRUE(err.empty()) << "case " << case_name << ", draw " << draws << ": " << err;
      if constexpr (std::is_same_v<Generator, TorchCudaGenerator>) {
        const auto offset = std::stoll(r.at("offset"));
        if (check_offsets && offset >= 0) {
          EXPECT_EQ(gen.philox_offset(), static_cast<std::uint64_t>(offset))
              << "case " << case_name << ", draw " << draws;
        }
      }
      ++draws;
    } else {
      FAIL() << "unknown fixture record '" << r.kind << "'";
    }
  }
  EXPECT_GT(draws, 0);
}

// ---------------------------------------------------------------------------------------------
// CPU generator
// ---------------------------------------------------------------------------------------------

TEST(TorchCpuGenerator, MatchesRecordedTorchStreams) {
  const auto records = read_records(rng_data_dir() / "cpu_streams.txt");
  replay<TorchCpuGenerator>(
      records, [](std::uint64_t seed) { return TorchCpuGenerator(seed); }, false);
}

TEST(TorchCpuGenerator, RawStreamIsMt19937) {
  TorchCpuGenerator g(123);
  std::mt19937 ref(123);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(g.random(), ref()) << i;
  const std::uint64_t hi = ref();
  const std::uint64_t lo = ref();
  EXPECT_EQ(g.random64(), (hi << 32) | lo);
  // Seeds keep their low 32 bits for the engine, as in at::mt19937_engine.
  TorchCpuGenerator wide((std::uint64_t{5} << 32) | 77u);
  std::mt19937 ref77(77);
  EXPECT_EQ(wide.random(), ref77());
}

TEST(TorchCpuGenerator, DiscardEqualsThatManyOutputs) {
  // Counts around the twist boundaries (624 outputs per twist), from several starting points.
  for (const int start : {0, 1, 622, 623, 624, 625, 1000}) {
    for (const std::uint64_t n : {0ull, 1ull, 2ull, 623ull, 624ull, 625ull, 1247ull, 1248ull, 1249ull, 5000ull}) {
      TorchCpuGenerator jumped(123);
      TorchCpuGenerator stepped(123);
      for (int i = 0; i < start; ++i) {
        jumped.random();
        stepped.random();
      }
      jumped.discard(n);
      for (std::uint64_t i = 0; i < n; ++i) stepped.random();
      for (int i = 0; i < 1300; ++i) ASSERT_EQ(jumped.random(), stepped.random()) << start << " + " << n << ", " << i;
    }
  }
  // Large counts: std::mt19937::discard is the same engine.
  TorchCpuGenerator g(7);
  std::mt19937 ref(7);
  g.discard(10'000'019);
  ref.discard(10'000'019);
  EXPECT_EQ(g.random(), ref());
}

TEST(TorchCpuGenerator, DiscardKeepsTheCachedNormalSample) {
  TorchCpuGenerator a(3);
  TorchCpuGenerator b(3);
  a.randn({1});
  b.randn({1});
  a.discard(100);
  for (int i = 0; i < 100; ++i) b.random();
  EXPECT_EQ(float_bits(a.randn({1}).item()), float_bits(b.randn({1}).item()));
}

// The generator as upstream's model construction leaves it (tools/rng/construction_draws.py recorded the
// two posterior draws that follow; the tiny fixture config and the released config, 5.35 G outputs).
TEST(TorchCpuGenerator, PosteriorDrawsAfterUpstreamConstruction) {
  for (const char* config : {"tiny", "full"}) {
    const auto records = read_records(rng_data_dir() / (std::string("construction_") + config + ".txt"));
    std::optional<TorchCpuGenerator> gen;
    int draws = 0;
    for (const Record& r : records) {
      if (r.kind == "meta") gen.emplace(std::stoull(r.at("seed")));
      if (r.kind == "result") {
        ASSERT_TRUE(gen) << config << ": result before meta";
        ASSERT_EQ(r.at("scalar_cache"), "none") << config;
        gen->discard(std::stoull(r.at("outputs")));
      }
      if (r.kind == "draw") {
        const std::string err = compare_draw(gen->randn(parse_shape(r.at("shape"))).to_floats(), r);
        EXPECT_TRUE(err.empty()) << config << ", posterior draw " << draws << ": " << err;
        ++draws;
      }
    }
    EXPECT_EQ(draws, 2) << config;
  }
}

TEST(TorchCpuGenerator, ScalarPathCachesSecondSampleUntilReseeded) {
  // Two 1-element draws use both halves of one Box-Muller pair: the 2nd draw consumes no bits.
  TorchCpuGenerator a(9);
  a.randn({1});
  a.randn({1});
  TorchCpuGenerator b(9);
  b.random64();
  b.random64();
  EXPECT_EQ(a.random(), b.random());
  // manual_seed drops the cached half.
  TorchCpuGenerator c(9);
  const float first = c.randn({1}).item();
  c.manual_seed(9);
  EXPECT_EQ(float_bits(c.randn({1}).item()), float_bits(first));
}

// ---------------------------------------------------------------------------------------------
// CUDA generator (CPU emulation)
// ---------------------------------------------------------------------------------------------

TEST(TorchCudaGenerator, MatchesRecordedTorchStreams) {
  const fs::path path = rng_data_dir() / "cuda" / "cuda_streams.txt";
  if (!fs::exists(path)) {
    GTEST_SKIP() << "no CUDA recording at " << path.string()
                 << ": run `python3 tools/rng/make_rng_fixtures.py --cuda --out DIR` on a GPU machine and copy "
                    "DIR/cuda_streams.txt there (CPU-side tests still run)";
  }
  const auto records = read_records(path);
  ASSERT_FALSE(records.empty());
  ASSERT_EQ(records.front().kind, "meta");
  const int sm_count = std::stoi(records.front().at("sm_count"));
  const int max_threads = std::stoi(records.front().at("max_threads_per_sm"));
  replay<TorchCudaGenerator>(
      records, [&](std::uint64_t seed) { return TorchCudaGenerator(sm_count, max_threads, seed); }, true);
}

// Known-answer vectors of Random123's Philox4x32-10 (kat_vectors), the block curand uses.
TEST(TorchCudaGenerator, PhiloxKnownAnswers) {
  using A = std::array<std::uint32_t, 4>;
  EXPECT_EQ(cuda_math::philox4x32_10({0, 0, 0, 0}, 0), (A{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(cuda_math::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffffffffffffULL),
            (A{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(cuda_math::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0x299f31d0a4093822ULL),
            (A{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(TorchCudaGenerator, LaunchAndOffsetBookkeeping) {
  TorchCudaGenerator h100(132, 2048, 123);
  // Pipeline shapes fit in one wave: one element per thread, one curand_normal4 call each.
  CudaLaunch latent = h100.launch_for(1 * 4 * 16 * 40 * 64);
  EXPECT_EQ(latent.blocks, 640u);
  EXPECT_EQ(latent.threads_per_block, 256u);
  EXPECT_EQ(latent.offset_increment, 4u);
  EXPECT_EQ(h100.launch_for(256).blocks, 1u);
  EXPECT_EQ(h100.launch_for(256).offset_increment, 4u);
  // Above 132 * 8 blocks of 256 threads the grid saturates and threads loop.
  EXPECT_EQ(h100.launch_for(270336).blocks, 1056u);
  EXPECT_EQ(h100.launch_for(4 * 270336).offset_increment, 4u);
  EXPECT_EQ(h100.launch_for(4 * 270336 + 1).offset_increment, 8u);
  TorchCudaGenerator pcie(114, 2048, 123);
  EXPECT_EQ(pcie.launch_for(4 * 270336).offset_increment, 8u);

  // One sampling call (spec 7.6): latent, action, state, 50 noise draws, 4 offsets each.
  h100.randn({1, 4, 16, 40, 64});
  h100.randn({1, 16, 16});
  h100.randn({1, 16, 16});
  for (int i = 0; i < 50; ++i) h100.randn({1, 4, 16, 40, 64});
  EXPECT_EQ(h100.philox_offset(), 53u * 4u);
  h100.manual_seed(7);
  EXPECT_EQ(h100.philox_offset(), 0u);
  EXPECT_THROW(h100.set_philox_offset(6), Error);
}

TEST(TorchCudaGenerator, SmCountMattersOnlyAboveOneWave) {
  TorchCudaGenerator a(132, 2048, 123);
  TorchCudaGenerator b(114, 2048, 123);
  EXPECT_EQ(a.randn({1, 4, 16, 40, 64}).to_floats(), b.randn({1, 4, 16, 40, 64}).to_floats());
  EXPECT_EQ(a.randn({1, 16, 16}).to_floats(), b.randn({1, 16, 16}).to_floats());
  EXPECT_NE(a.randn({300000}).to_floats(), b.randn({300000}).to_floats());
}

// The first element of a draw is thread 0's first Box-Muller sine at counter (offset / 4, 0).
TEST(TorchCudaGenerator, ElementLayoutFollowsThreadsAndCounters) {
  TorchCudaGenerator g(132, 2048, 123);
  g.set_philox_offset(8);
  const auto v = g.randn({300000}).to_floats();
  const auto r0 = cuda_math::philox4x32_10({2, 0, 0, 0}, 123);
  EXPECT_EQ(float_bits(v[0]), float_bits(cuda_math::box_muller(r0[0], r0[1])[0] * 1.0f + 0.0f));
  // Element 270336 + 5 is thread 5's second value (cosine) of the same call.
  const auto r5 = cuda_math::philox4x32_10({2, 0, 5, 0}, 123);
  EXPECT_EQ(float_bits(v[270336 + 5]), float_bits(cuda_math::box_muller(r5[0], r5[1])[1] * 1.0f + 0.0f));
}

TEST(TorchCudaGenerator, DeviceMathStaysCloseToExactFunctions) {
  for (float u = 0x1p-33f; u < 1.0f; u *= 1.0009765625f) {
    const double exact = std::log(static_cast<double>(u));
    const float rounded = static_cast<float>(exact);
    const double ulp = std::fabs(std::nextafter(rounded, 0.0f) - rounded);
    EXPECT_LE(std::fabs(cuda_math::logf(u) - exact), 1.5 * ulp) << u;
  }
  for (float x = 7e-10f; x < 6.2831855f; x = x * 1.001f + 1e-4f) {
    EXPECT_NEAR(cuda_math::sin_approx(x), std::sin(static_cast<double>(x)), 1e-6) << x;
    EXPECT_NEAR(cuda_math::cos_approx(x), std::cos(static_cast<double>(x)), 1e-6) << x;
  }
}

// ---------------------------------------------------------------------------------------------
// seed_everything
// ---------------------------------------------------------------------------------------------

TEST(SeedEverything, SeedsBothGeneratorsAndRejectsWhatLightningWouldReplace) {
  SeededGenerators s = seed_everything(123);
  EXPECT_EQ(s.cpu.initial_seed(), 123u);
  EXPECT_EQ(s.cuda.initial_seed(), 123u);
  EXPECT_EQ(s.cuda.philox_offset(), 0u);
  TorchCpuGenerator cpu(123);
  EXPECT_EQ(s.cpu.randn({1, 4, 40, 64}).to_floats(), cpu.randn({1, 4, 40, 64}).to_floats());
  EXPECT_EQ(seed_everything(4294967295LL).cpu.initial_seed(), 4294967295u);
  EXPECT_THROW(seed_everything(-1), Error);
  EXPECT_THROW(seed_everything(4294967296LL), Error);
}

}  // namespace
}  // namespace wma
