// Output files written off the critical path: while the next pass runs on the device, a writer thread encodes
// the previous iteration's videos, records and plots (issue 15). Jobs run one at a time in the order posted, so
// the files are the same as when written in line; the first failure stops the writer and is rethrown to the
// run, at its next post() or at wait().
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace wma::pipeline {

class BackgroundWriter {
 public:
  // `threaded` false runs each job inside post() (WMA_BACKGROUND_WRITES=0, for bisecting and comparison).
  explicit BackgroundWriter(bool threaded);
  // Waits for the queued jobs; a failure not yet reported is dropped here (the run is already failing).
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Queues `job`; throws the error of an earlier job that failed, so the run stops at its next output.
  void post(std::function<void()> job);
  // Returns when every posted job has run; throws the first job's error if one failed.
  void wait();

  // Whether outputs go to a writer thread: yes unless WMA_BACKGROUND_WRITES=0.
  static bool enabled_by_environment();

 private:
  void run();
  void rethrow_failure();

  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<std::function<void()>> jobs_;
  bool busy_ = false, stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;  // last: starts after the state it reads exists
};

}  // namespace wma::pipeline
