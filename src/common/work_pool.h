#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cutover/common/result.h"

namespace cutover {

// Runs jobs on a fixed number of threads and bounds the bytes that queued jobs hold in memory:
// submit() waits while the queue holds more than `max_queued_bytes` (0: no bound). The first
// failure stops the rest: later jobs are dropped, and finish() returns that error.
//
// A job is told which worker (0 .. threads-1) runs it, so that a caller can keep one resource
// per thread (a connection, a buffer) without locking it.
class WorkPool {
 public:
  using Job = std::function<Result<void>(unsigned worker)>;

  WorkPool(unsigned threads, std::uint64_t max_queued_bytes);
  ~WorkPool() { (void)finish(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues a job holding `bytes` of memory, waiting while the queue holds too much.
  // Returns false (and drops the job) once a job has failed.
  bool submit(std::uint64_t bytes, Job job);

  // Waits for every queued job and stops the threads; the first error, if any.
  Result<void> finish();

  [[nodiscard]] bool failed();

 private:
  struct Queued {
    std::uint64_t bytes = 0;
    Job run;
  };

  void work(unsigned worker);

  std::uint64_t max_queued_bytes_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<Queued> jobs_;
  std::uint64_t queued_bytes_ = 0;
  std::optional<Error> error_;
  bool closed_ = false;
  std::vector<std::jthread> threads_;
};

}  // namespace cutover
