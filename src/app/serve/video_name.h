// Names of the imagined videos `wma serve --savedir` keeps: sortable local times with the request number,
// and a move into place that never replaces an existing file (a restarted server counts requests from 1 again).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

namespace wma::app::serve {

// "2025-06-01_14-03-09_7" for request 7 at that local time (no colons, which Windows and some tools refuse).
std::string video_stem(std::time_t when, std::uint64_t request);

// Moves `written`, a file or folder whose name is `temp_stem` followed by a rest (".mp4", or "_frames" without
// libav), to `<stem><rest>` in the same folder, or `<stem>-2<rest>`, `<stem>-3<rest>`, ... when that name is
// taken. Returns the new path; throws when the move fails for another reason.
std::string move_to_free_name(const std::string& written, const std::string& temp_stem, const std::string& stem);

}  // namespace wma::app::serve
