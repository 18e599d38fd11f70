#include "pointer/memory/memory_pointer_store.h"

#include "cutover/common/guard.h"

namespace cutover {
namespace {

class MemoryWatchHandle final : public WatchHandle {
 public:
  MemoryWatchHandle(MemoryPointerStore& store, std::uint64_t id) : store_(store), id_(id) {}
  ~MemoryWatchHandle() override { store_.unwatch(id_); }

 private:
  MemoryPointerStore& store_;
  std::uint64_t id_;
};

}  // namespace

MemoryPointerStore::MemoryPointerStore() : dispatcher_([this] { dispatchLoop(); }) {}

MemoryPointerStore::~MemoryPointerStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  dispatcher_.join();
}

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
  {
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
    queue_.push_back(PointerEvent{key, desired});
  }
  cv_.notify_all();
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
  std::lock_guard lock(mutex_);
  std::uint64_t id = next_id_++;
  watchers_.emplace(id, Watcher{prefix, std::move(callback)});
  return std::make_unique<MemoryWatchHandle>(*this, id);
}

void MemoryPointerStore::unwatch(std::uint64_t id) {
  std::unique_lock lock(mutex_);
  watchers_.erase(id);
  // Wait out a running callback of this watcher, unless it is the one unwatching itself.
  if (std::this_thread::get_id() != dispatcher_.get_id()) {
    cv_.wait(lock, [&] { return calling_ != id; });
  }
}

void MemoryPointerStore::dispatchLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    PointerEvent event = std::move(queue_.front());
    queue_.pop_front();
    std::vector<std::uint64_t> ids;
    for (const auto& [id, w] : watchers_) {
      if (event.key.starts_with(w.prefix)) ids.push_back(id);
    }
    for (auto id : ids) {
      auto it = watchers_.find(id);
      if (it == watchers_.end()) continue;
      auto callback = it->second.callback;
      calling_ = id;
      lock.unlock();
      // A watcher that throws fails its own update, never the dispatcher.
      (void)guarded("a pointer watch callback", [&] { callback(event); });
      lock.lock();
      calling_ = 0;
      cv_.notify_all();
    }
  }
}

}  // namespace cutover
