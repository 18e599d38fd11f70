#include "common/work_pool.h"

namespace cutover {

WorkPool::WorkPool(unsigned threads, std::uint64_t max_queued_bytes)
    : max_queued_bytes_(max_queued_bytes) {
  for (unsigned t = 0; t < threads; ++t) threads_.emplace_back([this, t] { work(t); });
}

bool WorkPool::submit(std::uint64_t bytes, Job job) {
  std::unique_lock lock(mutex_);
  space_.wait(lock, [&] {
    return error_ || max_queued_bytes_ == 0 || queued_bytes_ == 0 ||
           queued_bytes_ + bytes <= max_queued_bytes_;
  });
  if (error_) return false;
  queued_bytes_ += bytes;
  jobs_.push_back({bytes, std::move(job)});
  ready_.notify_one();
  return true;
}

Result<void> WorkPool::finish() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
  threads_.clear();  // joins
  if (error_) return tl::unexpected(*error_);
  return {};
}

bool WorkPool::failed() {
  std::lock_guard lock(mutex_);
  return error_.has_value();
}

void WorkPool::work(unsigned worker) {
  while (true) {
    Queued job;
    bool skip = false;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      skip = error_.has_value();  // after a failure the rest is dropped
    }
    auto done = skip ? Result<void>{} : job.run(worker);
    std::lock_guard lock(mutex_);
    queued_bytes_ -= job.bytes;
    if (!done && !error_) error_ = done.error();
    space_.notify_all();
  }
}

}  // namespace cutover
