#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "cli/data_dir.h"
#include "pipeline/store_lock.h"

namespace cutover::cli {

// Says once, after `delay`, what a command waits for, unless done() comes first: a wait that
// would otherwise look like a hang gets a word.
class WaitNotice {
 public:
  WaitNotice(std::chrono::milliseconds delay, std::function<void()> say);
  ~WaitNotice() { done(); }
  WaitNotice(const WaitNotice&) = delete;
  WaitNotice& operator=(const WaitNotice&) = delete;
  void done();

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// Prints to stderr who holds the data folder's store lock: the deploys the history shows
// running (remote deploys waiting for their blobs or finalize among them), with what ends each.
void explainStoreLockWait(const DataDir& data);

}  // namespace cutover::cli
