#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "cutover/pointer/pointer_store.h"
#include "pointer/etcd/etcd_client.h"

namespace cutover::etcd {

// Cuts a byte stream of concatenated JSON objects (what the gateway's streaming /v3/watch sends,
// in chunks that split objects anywhere) into whole objects.
class JsonObjectSplitter {
 public:
  // Appends `data`; calls `on_object` with each object completed by it, in order. False (and
  // stops) when on_object returns false or an object grows past kMaxObject bytes.
  bool feed(std::string_view data, const std::function<bool(std::string_view)>& on_object);
  void clear();

  static constexpr std::size_t kMaxObject = 64 * 1024 * 1024;

 private:
  std::string object_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

// Where a watch starts: the revision its keys were read at, and those keys with their
// mod_revision (the keys under the prefix, so a re-list can tell which ones were deleted).
struct WatchStart {
  std::int64_t revision = 0;
  std::map<std::string, std::int64_t> known;
};

// The watch of one store: a thread holding etcd's streaming /v3/watch open for every key under
// `prefix` (the store's), on one member after another. It remembers the revision it has seen
// everything up to, and resumes from the next one after a disconnect, so no change is missed. When
// etcd has compacted that revision away, it re-lists the prefix and posts the differences from what
// it delivered.
class WatchStream {
 public:
  using Sink = std::function<void(PointerEvent)>;

  // `prefix` is the full etcd key prefix; `strip` bytes (the store's namespace) come off every
  // key before it reaches `sink`.
  WatchStream(std::shared_ptr<Client> client, std::string prefix, std::size_t strip,
              WatchStart start, Sink sink);
  ~WatchStream();  // stops the thread and waits for it
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

 private:
  enum class End { stopped, compacted, dropped, not_established };

  void run();
  End streamOnce(std::size_t endpoint);
  bool onMessage(std::string_view text);
  bool relist();
  void pause(std::chrono::milliseconds duration);

  std::shared_ptr<Client> client_;
  std::string prefix_;
  std::size_t strip_;
  Sink sink_;
  void* multi_;  // CURLM*: its wakeup is how the destructor interrupts a stream waiting for data

  // The stream thread's own state.
  std::int64_t last_revision_;                 // every change up to this one was delivered
  std::map<std::string, std::int64_t> known_;  // key → mod_revision, as delivered
  std::int64_t resume_from_ = 0;               // start_revision of the open stream
  JsonObjectSplitter splitter_;
  bool created_ = false;
  // The watch thread's own: a stream was established once; an outage was reported (logged once
  // per outage, and its end too).
  bool ever_created_ = false;
  bool outage_reported_ = false;
  std::optional<End> end_;  // set by onMessage() to end the stream

  std::atomic<bool> stopping_ = false;
  std::mutex pause_mutex_;
  std::condition_variable pause_cv_;
  std::thread thread_;
};

}  // namespace cutover::etcd
