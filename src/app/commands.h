// Subcommands of the `wma` program. Each parses its own flags and returns the process
// exit code; they throw wma::Error for failures, which main() reports on one line.
#pragma once

namespace wma::app {

int cmd_inspect(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_interact(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_demo(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_serve(int argc, char** argv);

}  // namespace wma::app
