#include "pipeline/background_writer.h"

#include <cstdlib>
#include <cstring>

namespace wma::pipeline {

BackgroundWriter::BackgroundWriter(bool threaded) {
  if (threaded) thread_ = std::thread([this] { run(); });
}

BackgroundWriter::~BackgroundWriter() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool BackgroundWriter::enabled_by_environment() {
  const char* env = std::getenv("WMA_BACKGROUND_WRITES");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

void BackgroundWriter::rethrow_failure() {
  if (failure_) std::rethrow_exception(failure_);
}

void BackgroundWriter::post(std::function<void()> job) {
  if (!thread_.joinable()) {
    job();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rethrow_failure();
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void BackgroundWriter::wait() {
  if (!thread_.joinable()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return (jobs_.empty() && !busy_) || failure_ != nullptr; });
  rethrow_failure();
}

void BackgroundWriter::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    // Stopping drains the queue first: the destructor of a run that did not fail still writes every file.
    if (jobs_.empty()) return;
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    std::exception_ptr error;
    try {
      job();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    busy_ = false;
    if (error) {
      failure_ = error;
      jobs_.clear();  // later outputs build on the failed one (the episode's files need every iteration)
    }
    idle_.notify_all();
  }
}

}  // namespace wma::pipeline
