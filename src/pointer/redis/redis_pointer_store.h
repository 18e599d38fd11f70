#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/backoff.h"
#include "cutover/pointer/pointer_store.h"
#include "pointer/redis/redis_config.h"
#include "pointer/redis/redis_connection.h"

namespace cutover {

// A PointerStore in Redis, shared by every process and machine that reaches it.
//
// In Redis: key K is the string "<prefix>K" (prefix "cutover:" unless configured) in the
// configured database. compareAndSet is one Lua script (EVALSHA) that compares, then SETs or
// DELs, then PUBLISHes K on "<prefix>changes@<db>": atomic, and no change goes unannounced.
// Watches subscribe to that channel on a connection of their own; on a notice the store GETs the
// key and delivers its value then, so a burst of changes coalesces but the last value always
// arrives. Pub/sub drops what is published while a subscriber is cut off, so after every
// reconnect each watch re-lists its prefix and delivers what changed or disappeared since it last
// delivered.
//
// Durability is Redis's: compareAndSet's promise holds with `appendonly yes` and
// `appendfsync always`. A Redis that restarts without its data is an empty store, and watches
// report every key as removed.
//
// Connections are opened when first needed and replaced when lost, after a wait that grows
// (with jitter) while Redis stays unreachable; meanwhile calls fail at once with unavailable,
// naming the address. No call waits longer than the connect plus the command timeout.
class RedisPointerStore final : public PointerStore {
 public:
  // Connects on first use, so this never fails; a Redis that cannot be reached shows in the
  // first call's error.
  [[nodiscard]] static std::shared_ptr<RedisPointerStore> open(RedisConfig config);

  ~RedisPointerStore() override;
  RedisPointerStore(const RedisPointerStore&) = delete;
  RedisPointerStore& operator=(const RedisPointerStore&) = delete;

  Result<std::optional<std::string>> get(const std::string& key) override;
  Result<void> compareAndSet(const std::string& key, const std::optional<std::string>& expected,
                             const std::optional<std::string>& desired) override;
  Result<std::map<std::string, std::string>> list(const std::string& prefix) override;
  Result<WatchHandlePtr> watch(const std::string& prefix,
                               std::function<void(const PointerEvent&)> callback) override;

  [[nodiscard]] const RedisConfig& config() const { return config_; }

  class Dispatcher;  // the subscriber thread and watch registry, shared with the watch handles

 private:
  explicit RedisPointerStore(RedisConfig config);

  // The command connection, connected if it is not, or why it cannot be. Needs mutex_.
  Result<RedisConnection*> connectionLocked();
  // Drops the command connection if `result` broke it. Needs mutex_.
  template <class T>
  Result<T> settleLocked(Result<T> result);

  RedisConfig config_;

  std::mutex mutex_;  // one command at a time on connection_
  std::optional<RedisConnection> connection_;
  Backoff backoff_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::string last_failure_;  // why the last connect failed, repeated until the next attempt
  std::string script_sha_;    // of the compare-and-set script, once loaded

  std::mutex dispatcher_mutex_;
  std::shared_ptr<Dispatcher> dispatcher_;  // started by the first watch()
};

}  // namespace cutover
