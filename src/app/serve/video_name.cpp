// Saved-video names of `wma serve`.
#include "app/serve/video_name.h"

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace wma::app::serve {

namespace fs = std::filesystem;

std::string video_stem(std::time_t when, std::uint64_t request) {
  std::tm local{};
  localtime_r(&when, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &local);
  return str_cat(buf, "_", request);
}

std::string move_to_free_name(const std::string& written, const std::string& temp_stem, const std::string& stem) {
  const fs::path from(written);
  const std::string name = from.filename().string();
  WMA_CHECK(name.compare(0, temp_stem.size(), temp_stem) == 0, "[serve] ", written, " is not named after ", temp_stem);
  const std::string rest = name.substr(temp_stem.size());
  for (int k = 1;; ++k) {
    const fs::path to = from.parent_path() / str_cat(stem, k == 1 ? "" : str_cat("-", k), rest);
    // RENAME_NOREPLACE makes "is the name free" and the move one step, so a concurrent writer cannot be
    // overwritten.
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return to.string();
    if (errno == EEXIST) continue;
    // Some filesystems (older NFS, some FUSE ones) lack RENAME_NOREPLACE: check first, racing only with
    // another program writing the same name in the same instant.
    if (errno == EINVAL || errno == ENOSYS) {
      std::error_code ec;
      if (fs::exists(fs::symlink_status(to, ec))) continue;
      fs::rename(from, to);
      return to.string();
    }
    fail("[serve] cannot move ", written, " to ", to.string(), ": ", std::strerror(errno));
  }
}

}  // namespace wma::app::serve
