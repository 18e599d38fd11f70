#include "pointer/memory/memory_pointer_store.h"

namespace cutover {

MemoryPointerStore::MemoryPointerStore() : dispatcher_(WatchDispatcher::start()) {}

MemoryPointerStore::~MemoryPointerStore() { dispatcher_->stop(); }

Result<std::optional<std::string>> MemoryPointerStore::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = values_.find(key);
  if (it == values_.end()) return std::optional<std::string>{};
  return std::optional<std::string>{it->second};
}

Result<void> MemoryPointerStore::compareAndSet(const std::string& key,
                                               const std::optional<std::string>& expected,
                                               const std::optional<std::string>& desired) {
  if (auto valid = validatePointerWrite(key, desired); !valid) return valid;
  std::lock_guard lock(mutex_);
  auto it = values_.find(key);
  std::optional<std::string> current;
  if (it != values_.end()) current = it->second;
  if (current != expected)
    return fail(Errc::conflict, "key " + key + " was changed by another writer");
  if (desired) {
    values_[key] = *desired;
  } else if (it != values_.end()) {
    values_.erase(it);
  }
  // Queued under the lock, so watchers see the writes in the order they were made.
  dispatcher_->post(PointerEvent{key, desired});
  return {};
}

Result<std::map<std::string, std::string>> MemoryPointerStore::list(const std::string& prefix) {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::string> out;
  for (auto it = values_.lower_bound(prefix); it != values_.end() && it->first.starts_with(prefix);
       ++it) {
    out.insert(*it);
  }
  return out;
}

Result<WatchHandlePtr> MemoryPointerStore::watch(
    const std::string& prefix, std::function<void(const PointerEvent&)> callback) {
  return dispatcher_->watch(prefix, std::move(callback));
}

}  // namespace cutover
