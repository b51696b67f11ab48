#include "app/serve/job_queue.h"

namespace wma::app::serve {

JobQueue::Admission JobQueue::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return Admission::Closed;
    if (full_locked()) return Admission::Full;
    jobs_.push_back(std::move(job));
  }
  ready_.notify_one();
  return Admission::Accepted;
}

void JobQueue::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
      if (closed_) break;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      running_job_ = true;
    }
    job(true);
    std::lock_guard<std::mutex> lock(mutex_);
    running_job_ = false;
  }
  std::deque<Job> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left.swap(jobs_);
  }
  for (Job& job : left) job(false);
}

void JobQueue::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
}

bool JobQueue::full() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return full_locked();
}

std::size_t JobQueue::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return jobs_.size();
}

bool JobQueue::busy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_job_;
}

}  // namespace wma::app::serve
