#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "cutover/pointer/pointer_store.h"

namespace cutover {

// A PointerStore in process memory, for unit tests. Watch callbacks run on one dispatcher thread.
class MemoryPointerStore final : public PointerStore {
 public:
  MemoryPointerStore();
  ~MemoryPointerStore() override;

  Result<std::optional<std::string>> get(const std::string& key) override;
  Result<void> compareAndSet(const std::string& key, const std::optional<std::string>& expected,
                             const std::optional<std::string>& desired) override;
  Result<std::map<std::string, std::string>> list(const std::string& prefix) override;
  Result<WatchHandlePtr> watch(const std::string& prefix,
                               std::function<void(const PointerEvent&)> callback) override;

  void unwatch(std::uint64_t id);

 private:
  struct Watcher {
    std::string prefix;
    std::function<void(const PointerEvent&)> callback;
  };
  void dispatchLoop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::string> values_;
  std::map<std::uint64_t, Watcher> watchers_;
  std::deque<PointerEvent> queue_;
  std::uint64_t next_id_ = 1;
  std::uint64_t calling_ = 0;  // watcher whose callback is running now
  bool stopping_ = false;
  std::thread dispatcher_;
};

}  // namespace cutover
