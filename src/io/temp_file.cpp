#include "io/temp_file.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace wma::io {
namespace {

// The signal handler may only read memory that is never reallocated and flags that are lock-free: a fixed table of
// path buffers, each owned by at most one TempFile.
constexpr int kSlots = 256;
constexpr std::size_t kMaxPath = 4096;
enum SlotState : int { kFree = 0, kFilling = 1, kLive = 2 };
struct Slot {
  std::atomic<int> state{kFree};
  char path[kMaxPath];
};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads the slot states");
Slot g_slots[kSlots];

int claim_slot(const std::string& path) {
  if (path.size() >= kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (g_slots[i].state.compare_exchange_strong(expected, kFilling, std::memory_order_acquire)) {
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      g_slots[i].state.store(kLive, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void release_slot(int slot) {
  if (slot >= 0) g_slots[slot].state.store(kFree, std::memory_order_release);
}

extern "C" void remove_temporaries_and_reraise(int signal_number) {
  for (Slot& slot : g_slots)
    if (slot.state.load(std::memory_order_acquire) == kLive) ::unlink(slot.path);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

}  // namespace

TempFile::TempFile(std::string final_path, const std::string& suffix)
    : final_(std::move(final_path)), tmp_(final_ + suffix), slot_(claim_slot(tmp_)) {}

TempFile::~TempFile() {
  if (!committed_) std::remove(tmp_.c_str());
  release_slot(slot_);
}

void TempFile::commit() {
  std::error_code ec;
  std::filesystem::rename(tmp_, final_, ec);
  WMA_CHECK(!ec, "[output] cannot rename ", tmp_, " to ", final_, ": ", ec.message());
  committed_ = true;
  release_slot(slot_);
  slot_ = -1;
}

void install_temp_file_cleanup() {
  struct sigaction action {};
  action.sa_handler = remove_temporaries_and_reraise;
  sigemptyset(&action.sa_mask);
  for (const int signal_number : {SIGINT, SIGTERM}) sigaction(signal_number, &action, nullptr);
}

}  // namespace wma::io
