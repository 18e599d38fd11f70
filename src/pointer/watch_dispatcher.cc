#include "pointer/watch_dispatcher.h"

#include <algorithm>

#include "cutover/common/guard.h"

namespace cutover {
namespace {

class DispatcherWatchHandle final : public WatchHandle {
 public:
  DispatcherWatchHandle(std::shared_ptr<WatchDispatcher> dispatcher, std::uint64_t id)
      : dispatcher_(std::move(dispatcher)), id_(id) {}
  ~DispatcherWatchHandle() override { dispatcher_->remove(id_); }
  DispatcherWatchHandle(const DispatcherWatchHandle&) = delete;
  DispatcherWatchHandle& operator=(const DispatcherWatchHandle&) = delete;

 private:
  // Shared, so a handle that outlives its store is still safe to destroy.
  std::shared_ptr<WatchDispatcher> dispatcher_;
  std::uint64_t id_;
};

}  // namespace

std::shared_ptr<WatchDispatcher> WatchDispatcher::start() {
  auto dispatcher = std::shared_ptr<WatchDispatcher>(new WatchDispatcher());
  dispatcher->startThread();
  return dispatcher;
}

void WatchDispatcher::startThread() {
  thread_ = std::thread([self = shared_from_this()] {
    self->thread_id_ = std::this_thread::get_id();
    self->run();
  });
}

WatchHandlePtr WatchDispatcher::watch(std::string prefix, Callback callback) {
  return handle(add(std::move(prefix), std::move(callback)));
}

std::uint64_t WatchDispatcher::add(std::string prefix, Callback callback) {
  std::lock_guard lock(mutex_);
  std::uint64_t id = next_id_++;
  watchers_.emplace(id,
                    Watcher{std::move(prefix), std::make_shared<Callback>(std::move(callback))});
  addedLocked(id);
  return id;
}

WatchHandlePtr WatchDispatcher::handle(std::uint64_t id) {
  return std::make_unique<DispatcherWatchHandle>(shared_from_this(), id);
}

void WatchDispatcher::remove(std::uint64_t id) {
  std::unique_lock lock(mutex_);
  watchers_.erase(id);
  removedLocked(id);
  // Wait out a running callback of this watcher, unless it is the one removing itself.
  if (std::this_thread::get_id() != thread_id_.load()) {
    cv_.wait(lock, [&] { return calling_ != id; });
  }
}

void WatchDispatcher::post(PointerEvent event) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back(std::move(event));
  }
  cv_.notify_all();
}

void WatchDispatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    wakeLocked();
  }
  cv_.notify_all();
  if (std::this_thread::get_id() == thread_id_.load()) {
    thread_.detach();  // the store was destroyed by a callback; the thread ends after it
  } else if (thread_.joinable()) {
    thread_.join();
  }
}

void WatchDispatcher::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    PointerEvent event = std::move(queue_.front());
    queue_.pop_front();
    for (auto id : matchingLocked(event.key)) {
      if (!callLocked(lock, id, event)) return;
    }
  }
}

bool WatchDispatcher::deliver(const PointerEvent& event) {
  std::unique_lock lock(mutex_);
  for (auto id : matchingLocked(event.key)) {
    if (!callLocked(lock, id, event)) return false;
  }
  return !stopping_;
}

std::vector<std::uint64_t> WatchDispatcher::matchingLocked(const std::string& key) const {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, watcher] : watchers_) {
    if (key.starts_with(watcher.prefix)) ids.push_back(id);
  }
  return ids;
}

bool WatchDispatcher::callLocked(std::unique_lock<std::mutex>& lock, std::uint64_t id,
                                 const PointerEvent& event) {
  if (stopping_) return false;
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return true;  // removed by an earlier callback
  auto callback = it->second.callback;
  calling_ = id;
  lock.unlock();
  // A watcher that throws fails its own update, never the dispatcher.
  (void)guarded("a pointer watch callback", [&] { (*callback)(event); });
  lock.lock();
  calling_ = 0;
  cv_.notify_all();
  return true;
}

bool WatchDispatcher::wants(const std::string& key) {
  std::lock_guard lock(mutex_);
  return std::any_of(watchers_.begin(), watchers_.end(),
                     [&](const auto& entry) { return key.starts_with(entry.second.prefix); });
}

std::vector<std::pair<std::uint64_t, std::string>> WatchDispatcher::watchers() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (const auto& [id, watcher] : watchers_) out.emplace_back(id, watcher.prefix);
  return out;
}

bool WatchDispatcher::isStopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

}  // namespace cutover
