// Temporaries of outputs (io/temp_file.h): gone when a write fails before commit() and when SIGINT/SIGTERM stop
// the process while they exist; the final file appears only on commit().
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "io/temp_file.h"

namespace wma::io {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

TEST(TempFile, CommitRenamesAndAFailedWriteLeavesNothing) {
  const fs::path dir = fresh_dir("wma_tempfile");
  const std::string out = (dir / "out.json").string();
  {
    TempFile tmp(out);
    EXPECT_EQ(tmp.path(), out + ".tmp");
    write(tmp.path(), "{}");
    EXPECT_FALSE(fs::exists(out));
    tmp.commit();
  }
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  const std::string failed = (dir / "failed.png").string();
  try {
    TempFile tmp(failed);
    write(tmp.path(), "half");
    throw std::runtime_error("disk full");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(failed));
  EXPECT_FALSE(fs::exists(failed + ".tmp"));
  fs::remove_all(dir);
}

// A child process writes two temporaries, commits one, and is stopped by the signal: the live temporary is
// removed, the committed file stays, and the child ends by that signal.
TEST(TempFile, SignalsRemoveLiveTemporaries) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    const fs::path dir = fresh_dir("wma_tempfile_signal");
    const std::string done = (dir / "done.csv").string(), live = (dir / "itr-0.mp4").string();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      install_temp_file_cleanup();
      TempFile committed(done);
      write(committed.path(), "step\n");
      committed.commit();
      TempFile writing(live);
      write(writing.path(), "half a video");
      ::raise(signal_number);
      ::_exit(0);  // not reached: the handler ends the process by the signal
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal_number) << "status " << status;
    EXPECT_TRUE(fs::exists(done));
    EXPECT_FALSE(fs::exists(live + ".tmp")) << "signal " << signal_number;
    EXPECT_FALSE(fs::exists(live));
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace wma::io
