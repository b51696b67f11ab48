// Minimal leveled logging to stderr; WMA_LOG=debug|info|warn|error sets the threshold.
#pragma once

#include <string>

#include "core/error.h"

namespace wma {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

LogLevel log_threshold();
void log_line(LogLevel level, const std::string& line);

template <typename... Args>
void log_debug(Args&&... args) {
  if (log_threshold() <= LogLevel::Debug) log_line(LogLevel::Debug, str_cat(std::forward<Args>(args)...));
}
template <typename... Args>
void log_info(Args&&... args) {
  if (log_threshold() <= LogLevel::Info) log_line(LogLevel::Info, str_cat(std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(Args&&... args) {
  if (log_threshold() <= LogLevel::Warn) log_line(LogLevel::Warn, str_cat(std::forward<Args>(args)...));
}

}  // namespace wma
