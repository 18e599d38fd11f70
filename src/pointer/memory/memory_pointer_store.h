#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "cutover/pointer/pointer_store.h"
#include "pointer/watch_dispatcher.h"

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

 private:
  std::mutex mutex_;
  std::map<std::string, std::string> values_;
  std::shared_ptr<WatchDispatcher> dispatcher_;
};

}  // namespace cutover
