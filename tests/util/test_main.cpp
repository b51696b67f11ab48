// GoogleTest entry point for every test binary. Tests find the repository, the shared data
// and the `wma` program through environment variables; defaults baked in at build time make
// the binaries runnable directly, and a variable already set wins.
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  setenv("WMA_SOURCE_DIR", WMA_TEST_SOURCE_DIR, 0);
  setenv("WMA_SHARED_DIR", WMA_TEST_SHARED_DIR, 0);
  setenv("WMA_BINARY", WMA_TEST_BINARY, 0);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
