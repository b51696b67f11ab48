#include "core/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace wma {
namespace {

LogLevel level_from_env() {
  const char* env = std::getenv("WMA_LOG");
  if (env == nullptr) return LogLevel::Info;
  if (std::strcmp(env, "debug") == 0) return LogLevel::Debug;
  if (std::strcmp(env, "warn") == 0) return LogLevel::Warn;
  if (std::strcmp(env, "error") == 0) return LogLevel::Error;
  return LogLevel::Info;
}

}  // namespace

LogLevel log_threshold() {
  static const LogLevel level = level_from_env();
  return level;
}

void log_line(LogLevel level, const std::string& line) {
  static std::mutex mutex;
  static const char* const tags[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "[wma %s] %s\n", tags[static_cast<int>(level)], line.c_str());
}

}  // namespace wma
