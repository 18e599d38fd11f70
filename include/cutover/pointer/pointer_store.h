#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover {

// One change seen by a watch: `key` now holds `value`, or was removed (nullopt).
struct PointerEvent {
  std::string key;
  std::optional<std::string> value;
};

// Stops its watch when destroyed; after the destructor returns the callback is never called again.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};
using WatchHandlePtr = std::unique_ptr<WatchHandle>;

// A small key → value store with compare-and-set and watch: where the live version of each site,
// and each site's settings, are kept. Keys are 1–512 bytes of printable ASCII; values at most
// 64 KiB. Thread-safe; several processes may share one store.
class PointerStore {
 public:
  virtual ~PointerStore() = default;

  // The value of `key`, or nullopt if it has none.
  [[nodiscard]] virtual Result<std::optional<std::string>> get(const std::string& key) = 0;

  // Atomically: if `key` holds `expected` (nullopt: has no value), set it to `desired`
  // (nullopt: remove it) and return success; otherwise change nothing and fail with conflict.
  // Durable on success: a crash afterwards keeps the new value, a crash during keeps the old
  // one, never a torn mix.
  [[nodiscard]] virtual Result<void> compareAndSet(const std::string& key,
                                                   const std::optional<std::string>& expected,
                                                   const std::optional<std::string>& desired) = 0;

  // Every key starting with `prefix`, with its value, sorted by key.
  [[nodiscard]] virtual Result<std::map<std::string, std::string>> list(
      const std::string& prefix) = 0;

  // Calls `callback` for changes to keys starting with `prefix`, made by this or any other
  // process, within milliseconds. Rapid changes to one key may be coalesced, but the last value
  // written is always delivered. Callbacks run on a thread of the store, one at a time.
  // A watcher that needs a starting point calls list() after watch() returns.
  [[nodiscard]] virtual Result<WatchHandlePtr> watch(
      const std::string& prefix, std::function<void(const PointerEvent&)> callback) = 0;
};

using PointerStorePtr = std::shared_ptr<PointerStore>;

// The limits every PointerStore holds its keys and values to (see the class comment).
inline constexpr std::size_t kMaxPointerKeyBytes = 512;
inline constexpr std::size_t kMaxPointerValueBytes = 64 * 1024;

// invalid_argument, saying why, unless `key` is 1-512 bytes of printable ASCII.
[[nodiscard]] Result<void> validatePointerKey(std::string_view key);
// validatePointerKey, and a `desired` value of at most 64 KiB: what compareAndSet checks first.
[[nodiscard]] Result<void> validatePointerWrite(std::string_view key,
                                                const std::optional<std::string>& desired);

// Builds a store from a URI: "file:///abs/path" or a plain path (EmbeddedPointerStore),
// "etcd://host1:2379,host2:2379[/prefix]" (EtcdPointerStore: the members of one cluster, keys
// under "prefix/", "cutover/" if none; it connects at its first call, so the cluster may be down
// at start-up), "redis://[[user]:password@]host[:port][/db][?prefix=P]" (RedisPointerStore: keys
// under P, "cutover:" if none; the password from the URI, else $REDIS_PASSWORD, never from a flag;
// it connects at its first call), "memory:" (MemoryPointerStore, for tests). Throws ConfigError
// on a URI it cannot serve.
PointerStorePtr makePointerStore(const std::string& uri);

}  // namespace cutover
