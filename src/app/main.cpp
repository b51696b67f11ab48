// `wma` entry point: dispatches to a subcommand and turns errors into one-line messages.
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string_view>

#include "app/cli.h"
#include "app/commands.h"
#include "app/device_choice.h"
#include "core/error.h"
#include "io/temp_file.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"inspect", wma::app::cmd_inspect, "list the tensors of a .ckpt or .safetensors file"},
    {"convert", wma::app::cmd_convert, "convert a checkpoint to .safetensors (--dtype fp32|fp16|bf16)"},
    {"interact", wma::app::cmd_interact, "world-model interaction loop on upstream's example data (upstream's flags)"},
    {"generate", wma::app::cmd_generate,
     "base-model videos from pictures and prompts (base_model_inference.py's flags)"},
    {"demo", wma::app::cmd_demo, "the interaction loop on a built-in small model and a synthetic scene"},
    {"bench", wma::app::cmd_bench, "time one interaction iteration at a config's full size (profile table, JSON)"},
    {"serve", wma::app::cmd_serve, "HTTP policy server, POST /predict_action (upstream's real_eval_server.py)"},
};

void print_usage(FILE* out) {
  std::fprintf(out, "usage: wma <command> [args]   (wma <command> -h: its flags and defaults)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
  std::fprintf(out, "\noptions:\n  -h, --help  show this help and exit\n"
                    "  --version   print the version, commit and build features and exit\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage(stdout);
    return 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("wma %s (commit %s)\nbuild: %s\n", WMA_VERSION, WMA_GIT_COMMIT, wma::app::build_features().c_str());
    if (WMA_WITH_CUDA) std::printf("CUDA code: %s\n", WMA_CUDA_CODE);
    return 0;
  }
  const std::string_view name = argv[1];
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    wma::io::install_temp_file_cleanup();
    wma::app::set_build_identity(WMA_VERSION, WMA_GIT_COMMIT);
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const wma::Error& e) {
      std::fprintf(stderr, "wma %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::filesystem::filesystem_error& e) {
      // A full disk, a missing folder or a permission: the user's to fix, and what() names the paths.
      std::fprintf(stderr, "wma %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "wma %s: internal error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "wma: unknown command '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}
