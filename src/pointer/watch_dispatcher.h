#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cutover/pointer/pointer_store.h"

namespace cutover {

// The watchers of one PointerStore, and the thread that calls them: every watcher whose prefix
// matches a change, one callback at a time, without the lock held. Shared by the store and its
// watch handles, so either may go first.
//
// As it is, start() makes one that delivers, in order, what post() queues (the memory and etcd
// stores). A store that reads its changes on a thread of its own (the embedded and Redis stores)
// derives from it, runs that reading in run(), and delivers from there.
class WatchDispatcher : public std::enable_shared_from_this<WatchDispatcher> {
 public:
  using Callback = std::function<void(const PointerEvent&)>;

  // A dispatcher whose thread delivers what post() queues.
  static std::shared_ptr<WatchDispatcher> start();

  virtual ~WatchDispatcher() = default;
  WatchDispatcher(const WatchDispatcher&) = delete;
  WatchDispatcher& operator=(const WatchDispatcher&) = delete;

  // Calls `callback` for every change to a key starting with `prefix` delivered from now on,
  // until the handle is destroyed.
  [[nodiscard]] WatchHandlePtr watch(std::string prefix, Callback callback);
  // The same in two steps, for a store that needs the id: add() registers, handle() owns it.
  std::uint64_t add(std::string prefix, Callback callback);
  [[nodiscard]] WatchHandlePtr handle(std::uint64_t id);
  // No callback of `id` runs once this returns (except the one calling it).
  void remove(std::uint64_t id);

  // Queues `event` for the thread start() made.
  void post(PointerEvent event);

  // Ends the thread; no callback starts once this returns. Called from a callback (the store
  // destroyed by its own watcher), the thread ends after that callback.
  void stop();

 protected:
  WatchDispatcher() = default;

  // Starts the thread, which runs run() (and keeps this alive until it returns).
  void startThread();
  // The thread's work: by default, delivering what post() queued until stop().
  virtual void run();
  // Called by stop() with the lock held: ends whatever wait run() is in.
  virtual void wakeLocked() {}
  // Called with the lock held by add(), once watcher `id` is registered, and by remove(), once
  // it is gone: for what a derived dispatcher keeps per watcher.
  virtual void addedLocked(std::uint64_t /*id*/) {}
  virtual void removedLocked(std::uint64_t /*id*/) {}

  // Calls every watcher whose prefix matches `event.key`; false once stopping.
  bool deliver(const PointerEvent& event);
  // The watchers whose prefix matches `key`. Needs mutex_.
  [[nodiscard]] std::vector<std::uint64_t> matchingLocked(const std::string& key) const;
  // Calls watcher `id` (if it is still there) with the lock released meanwhile; false once
  // stopping.
  bool callLocked(std::unique_lock<std::mutex>& lock, std::uint64_t id, const PointerEvent& event);
  // Whether any watcher wants `key`; every watcher's id and prefix.
  [[nodiscard]] bool wants(const std::string& key);
  [[nodiscard]] std::vector<std::pair<std::uint64_t, std::string>> watchers();
  [[nodiscard]] bool isStopping();

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;

 private:
  struct Watcher {
    std::string prefix;
    std::shared_ptr<Callback> callback;
  };

  std::map<std::uint64_t, Watcher> watchers_;
  std::deque<PointerEvent> queue_;
  std::uint64_t next_id_ = 1;
  std::uint64_t calling_ = 0;  // the watcher whose callback is running now
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_;  // still known once thread_ is detached
};

}  // namespace cutover
