// Outputs are written to a temporary beside the final file (same folder, so the last step is an atomic rename).
// A TempFile removes its temporary when it dies without commit() (a write that threw on the way) and, once
// install_temp_file_cleanup() has run, when SIGINT or SIGTERM stops the process while it exists: neither a failed
// write nor Ctrl-C leaves `*.tmp` files behind (issue 20).
#pragma once

#include <string>

namespace wma::io {

class TempFile {
 public:
  // `final_path` + `suffix` is the temporary; nothing is created on disk here.
  explicit TempFile(std::string final_path, const std::string& suffix = ".tmp");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return tmp_; }
  // Renames the temporary onto the final path; throws wma::Error naming both when that fails.
  void commit();

 private:
  std::string final_, tmp_;
  int slot_ = -1;  // in the signal handler's table; -1 when the table was full (then only the destructor cleans)
  bool committed_ = false;
};

// SIGINT/SIGTERM handlers that remove every live TempFile's temporary and then end the process by the same signal
// (its default action, so the exit status says which). Commands that handle these signals themselves (`serve`
// waits for them on a thread with the signals blocked) are unaffected: a blocked signal never runs the handler.
void install_temp_file_cleanup();

}  // namespace wma::io
