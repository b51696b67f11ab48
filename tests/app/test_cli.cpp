// The command line (app/cli.h, app/main.cpp) behaves like upstream's argparse: unambiguous prefixes of long
// flags, ambiguous ones refused with the candidates, aliases, -h/--help on every command with each flag's
// meaning and default, and `wma --version`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "app/cli.h"
#include "app/device_choice.h"
#include "core/error.h"
#include "io/weight_store.h"
#include "pipeline/world_model.h"
#include "sampling/sampler.h"
#include "util/model_test_util.h"

namespace wma::app {
namespace {

FlagSpec spec() {
  return {"test",
          "[options]",
          {{"ckpt_path", "<file>", "the checkpoint"},
           {"noise", "torch|fast", "random draws", "torch"},
           {"noise_file", "<file>", "recorded draws"},
           {"frame_stride", "N", "strides", "4", true},
           {"height", "N", "video height", "320"},
           {"quiet", "", "no progress bars"},
           clip_vocab_flag()}};
}

Flags parse(std::vector<std::string> args) {
  args.insert(args.begin(), "test");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return Flags(static_cast<int>(argv.size()), argv.data(), spec());
}

std::string error_of(const std::vector<std::string>& args) {
  try {
    parse(args);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Flags, UnambiguousPrefixesNameTheirFlag) {
  const Flags f = parse({"--ckpt", "model.ckpt", "--frame", "2", "3", "--qui", "--hei=64"});
  EXPECT_EQ(f.str("ckpt_path"), "model.ckpt");
  EXPECT_EQ(f.integers("frame_stride", 4), (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(f.has("quiet"));
  EXPECT_EQ(f.integer("height", 320), 64);
  EXPECT_FALSE(f.help());
}

TEST(Flags, AnExactNameWinsOverLongerOnes) {
  const Flags f = parse({"--noise", "fast"});
  EXPECT_EQ(f.str("noise"), "fast");
  EXPECT_FALSE(f.has("noise_file"));
  EXPECT_EQ(parse({"--noise_f", "draws.safetensors"}).str("noise_file"), "draws.safetensors");
}

TEST(Flags, AnAmbiguousPrefixListsTheCandidates) {
  const std::string e = error_of({"--noi", "fast"});
  EXPECT_NE(e.find("ambiguous flag --noi could match --noise, --noise_file"), std::string::npos) << e;
  const std::string h = error_of({"--h"});
  EXPECT_NE(h.find("could match --help, --height"), std::string::npos) << h;
}

TEST(Flags, AliasesAndTheirPrefixesNameOneFlag) {
  EXPECT_EQ(parse({"--clip_vocab", "a"}).str("clip_vocab"), "a");
  EXPECT_EQ(parse({"--clip-vocab", "b"}).str("clip_vocab"), "b");
  EXPECT_EQ(parse({"--bpe_path=c"}).str("clip_vocab"), "c");
  EXPECT_EQ(parse({"--clip", "d"}).str("clip_vocab"), "d");
}

TEST(Flags, UnknownFlagsStrayArgumentsAndMisusedSwitchesAreErrors) {
  EXPECT_NE(error_of({"--nope", "1"}).find("unknown flag --nope (wma test -h lists the flags)"), std::string::npos);
  EXPECT_NE(error_of({"stray"}).find("unexpected argument 'stray'"), std::string::npos);
  EXPECT_NE(error_of({"-x"}).find("unexpected argument '-x'"), std::string::npos);
  EXPECT_NE(error_of({"--quiet=1"}).find("--quiet takes no value"), std::string::npos);
  EXPECT_NE(error_of({"--height"}).find("--height needs a value"), std::string::npos);
}

TEST(Flags, HelpListsEveryFlagWithItsMeaningAndDefault) {
  EXPECT_TRUE(parse({"-h"}).help());
  EXPECT_TRUE(parse({"--hel"}).help());
  const Flags f = parse({"--help"});
  ASSERT_TRUE(f.help());
  const std::string text = f.help_text();
  EXPECT_EQ(text.rfind("usage: wma test [options]\n", 0), 0u) << text;
  for (const char* line : {"-h, --help", "--ckpt_path <file>", "--noise torch|fast", "random draws (default: torch)",
                           "--frame_stride N [N ...]", "strides (default: 4)", "--quiet ", "no progress bars",
                           "--clip_vocab, --clip-vocab, --bpe_path <file>"})
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in\n" << text;
}

struct Outcome {
  int rc;
  std::string out;
};

Outcome run_wma(const std::string& args) {
  const char* bin = std::getenv("WMA_BINARY");
  FILE* p = popen((std::string(bin ? bin : "wma") + " " + args + " 2>&1").c_str(), "r");
  Outcome r{-1, ""};
  if (p == nullptr) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) r.out += buf;
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(WmaProgram, EveryCommandAnswersHelpWithItsFlags) {
  for (const char* command : {"interact", "serve", "generate", "bench", "demo", "inspect", "convert"}) {
    for (const char* flag : {"-h", "--help"}) {
      const Outcome r = run_wma(std::string(command) + " " + flag);
      EXPECT_EQ(r.rc, 0) << command << " " << flag << ": " << r.out;
      EXPECT_EQ(r.out.rfind(std::string("usage: wma ") + command, 0), 0u) << r.out;
      EXPECT_NE(r.out.find("(default: "), std::string::npos) << command << ":\n" << r.out;
    }
  }
  const Outcome interact = run_wma("interact -h");
  for (const char* line : {"--ckpt_path", "--ddim_steps N", "model evaluations) per sampling pass, for every sampler",
                           "--frame_stride N [N ...]", "--clip_vocab, --clip-vocab, --bpe_path"})
    EXPECT_NE(interact.out.find(line), std::string::npos) << line;
  EXPECT_NE(run_wma("serve -h").out.find("--timestep_spacing uniform|uniform_trailing"), std::string::npos);
  for (const char* command : {"interact", "serve", "generate", "bench"})
    EXPECT_NE(run_wma(std::string(command) + " -h").out.find("--sampler ddim|dpmpp_2m|unipc"), std::string::npos)
        << command;
}

// --sampler on every sampling command: an unknown name is refused with the accepted ones, before any model loads.
TEST(WmaProgram, EveryCommandRefusesAnUnknownSampler) {
  const char* src = std::getenv("WMA_SOURCE_DIR");
  const std::string configs = std::string(src ? src : ".") + "/tests/fixtures/configs/";
  const std::string tiny = "--config " + configs + "tiny.yaml --height 64 --width 64";
  for (const std::string& args :
       {"interact " + tiny, "serve " + tiny, "generate --config " + configs + "tiny_base.yaml --height 64 --width 64",
        "bench --config " + configs + "tiny.yaml --device cpu --precision fp32"}) {
    const Outcome r = run_wma(args + " --sampler euler");
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_NE(r.out.find("unknown sampler 'euler' (expected ddim, dpmpp_2m or unipc)"), std::string::npos)
        << args << ":\n"
        << r.out;
  }
}

// The names reach PassOptions (what interact, serve and generate sample with), by prefix too; ddim by default.
TEST(PassOptions, SamplerFlagNamesTheSolver) {
  const char* src = std::getenv("WMA_SOURCE_DIR");
  const pipeline::WorldModelConfig config =
      pipeline::WorldModelConfig::load(std::string(src ? src : ".") + "/tests/fixtures/configs/tiny.yaml");
  const auto options = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "test");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    const Flags f(static_cast<int>(argv.size()), argv.data(),
                  FlagSpec{"test", "[options]", sampling_flags(50, "uniform", 0.0)});
    return pass_options(f, config, 50, "uniform", 0.0);
  };
  EXPECT_EQ(options({}).sampler, sampling::SamplerKind::Ddim);
  EXPECT_EQ(options({"--sampler", "ddim"}).sampler, sampling::SamplerKind::Ddim);
  EXPECT_EQ(options({"--sampler", "dpmpp_2m"}).sampler, sampling::SamplerKind::DpmSolverPP2M);
  EXPECT_EQ(options({"--sampler=unipc"}).sampler, sampling::SamplerKind::UniPC);
  EXPECT_EQ(options({"--samp", "unipc", "--ddim_steps", "8"}).ddim_steps, 8);
  EXPECT_THROW(options({"--sampler", "unipc2"}), Error);
}

TEST(WmaProgram, TopLevelHelpAndVersion) {
  for (const char* flag : {"-h", "--help"}) {
    const Outcome r = run_wma(flag);
    EXPECT_EQ(r.rc, 0) << r.out;
    for (const char* command : {"interact", "serve", "generate", "bench", "demo", "inspect", "convert", "--version"})
      EXPECT_NE(r.out.find(command), std::string::npos) << command << " not in\n" << r.out;
  }
  const Outcome v = run_wma("--version");
  EXPECT_EQ(v.rc, 0);
  // "wma 0.1.0 (commit b0c9073)", the build's features, and on a CUDA build the code it holds.
  const std::string first = std::string("wma ") + WMA_VERSION + " (commit ";
  EXPECT_EQ(v.out.rfind(first, 0), 0u) << v.out;
  EXPECT_NE(v.out.find(")\nbuild: " + build_features() + "\n"), std::string::npos) << v.out;
  EXPECT_EQ(v.out.find("\nCUDA code: ") != std::string::npos, static_cast<bool>(WMA_WITH_CUDA)) << v.out;
  EXPECT_NE(run_wma("").rc, 0);
}

TEST(WmaProgram, PrefixesReachTheCommands) {
  const char* src = std::getenv("WMA_SOURCE_DIR");
  const std::string config = std::string(src ? src : ".") + "/tests/fixtures/configs/tiny.yaml";
  const Outcome r = run_wma("bench --conf " + config + " --dev cpu --prec fp32 --ckpt /nonexistent/model.ckpt");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("checkpoint /nonexistent/model.ckpt not found"), std::string::npos) << r.out;
  const Outcome ambiguous = run_wma("interact --d x");
  EXPECT_NE(ambiguous.rc, 0);
  EXPECT_NE(ambiguous.out.find("ambiguous flag --d could match"), std::string::npos) << ambiguous.out;
}

// `wma convert --demo_weights` writes exactly the deterministic store the engine builds for a config: same keys,
// shapes and (in fp32) values; misuse is refused.
TEST(WmaProgram, ConvertWritesTheDemoWeightsOfAConfig) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("wma_convert_demo_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string config = models::test::fixture_path("configs/tiny.yaml").string();
  const std::string out = (dir / "tiny_demo.safetensors").string();
  const Outcome r = run_wma("convert --demo_weights --config '" + config + "' --dtype fp32 '" + out + "'");
  ASSERT_EQ(r.rc, 0) << r.out;
  const io::WeightStore written = io::WeightStore::open(out);
  const io::WeightStore expected = pipeline::deterministic_world_model_store(pipeline::WorldModelConfig::load(config));
  ASSERT_EQ(written.keys(), expected.keys());
  for (const auto& key : expected.keys()) {
    SCOPED_TRACE(key);
    const Tensor a = expected.load(key);
    const Tensor b = written.load(key);
    ASSERT_EQ(b.shape(), a.shape());
    ASSERT_EQ(b.dtype(), a.dtype());
    if (dtype_is_float(a.dtype())) EXPECT_EQ(b.to_floats(), a.to_floats());
    else EXPECT_EQ(b.to_ints(), a.to_ints());
  }
  EXPECT_NE(run_wma("convert --demo_weights in.ckpt '" + out + "'").rc, 0);
  const Outcome stray = run_wma("convert --config '" + config + "' in.ckpt '" + out + "'");
  EXPECT_NE(stray.rc, 0);
  EXPECT_NE(stray.out.find("--config goes with --demo_weights"), std::string::npos) << stray.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace wma::app
