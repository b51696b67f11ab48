// One model, one request at a time: a bounded FIFO of jobs that one thread (the one that loaded the
// model) runs in arrival order. A full queue refuses at once, which the server answers with 503.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace wma::app::serve {

class JobQueue {
 public:
  // `run(true)` computes; `run(false)` tells a job that the queue closed before its turn.
  using Job = std::function<void(bool run)>;
  enum class Admission { Accepted, Full, Closed };

  // `max_waiting`: jobs that may wait while one runs (0: a job is taken only when none runs).
  explicit JobQueue(std::size_t max_waiting) : max_waiting_(max_waiting) {}

  Admission submit(Job job);
  // Whether submit() would answer Full now.
  bool full() const;
  // Runs jobs on the calling thread until close(); then tells every job still waiting.
  void run();
  void close();

  std::size_t waiting() const;
  bool busy() const;
  std::size_t max_waiting() const { return max_waiting_; }

 private:
  const std::size_t max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  bool running_job_ = false;
  bool closed_ = false;

  // The running job and the waiting ones (a job submitted to an idle worker waits in jobs_ for a moment).
  bool full_locked() const { return jobs_.size() + (running_job_ ? 1 : 0) > max_waiting_; }
};

}  // namespace wma::app::serve
