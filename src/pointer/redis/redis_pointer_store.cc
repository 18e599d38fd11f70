#include "pointer/redis/redis_pointer_store.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "cutover/common/fd.h"
#include "cutover/common/guard.h"
#include "pointer/redis/redis_commands.h"

namespace cutover {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kNever = Clock::time_point::max();

template <class T>
tl::unexpected<Error> withContext(const Result<T>& result, std::string_view doing) {
  return fail(result.error().code, std::string(doing) + ": " + result.error().message);
}

}  // namespace

// One subscriber thread per store: holds the subscription to the change channel, GETs the keys
// that notices name on a connection of its own, re-lists after every reconnect, and calls the
// watchers, one callback at a time.
class RedisPointerStore::Dispatcher {
 public:
  using Callback = std::function<void(const PointerEvent&)>;

  static Result<std::shared_ptr<Dispatcher>> start(const RedisConfig& config) {
    UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake.valid()) return failErrno("eventfd", errno);
    auto dispatcher = std::shared_ptr<Dispatcher>(new Dispatcher(config, std::move(wake)));
    dispatcher->thread_ = std::thread([self = dispatcher] { self->run(); });
    return dispatcher;
  }

  ~Dispatcher() = default;
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Returns once the subscription stands; if it does not, asks for an attempt now and waits for
  // its outcome. unavailable (with the reason) if Redis cannot be reached.
  Result<void> waitSubscribed() {
    std::unique_lock lock(mutex_);
    if (subscribed_) return {};
    std::uint64_t target = attempts_ + 1;
    attempt_now_ = true;
    wakeLocked();
    auto limit = config_.connect_timeout + 3 * config_.command_timeout;
    cv_.wait_for(lock, limit, [&] { return subscribed_ || attempts_ >= target || stopping_; });
    if (subscribed_) return {};
    if (last_failure_.empty()) {
      return fail(Errc::unavailable, "no subscription to Redis at " + config_.address() +
                                         " within " + std::to_string(limit.count()) + " ms");
    }
    return fail(Errc::unavailable, last_failure_);
  }

  // A new watcher. It gets every notice from now on; seeded() then tells it what its prefix held
  // when it started, the base against which a re-list after a reconnect finds the changes.
  std::uint64_t add(std::string prefix, Callback callback) {
    std::lock_guard lock(mutex_);
    std::uint64_t id = next_id_++;
    Watcher watcher;
    watcher.prefix = std::move(prefix);
    watcher.callback = std::make_shared<Callback>(std::move(callback));
    watchers_.emplace(id, std::move(watcher));
    return id;
  }

  void seeded(std::uint64_t id, std::map<std::string, std::string> values) {
    std::lock_guard lock(mutex_);
    auto it = watchers_.find(id);
    if (it == watchers_.end()) return;
    Watcher& watcher = it->second;
    // What was delivered meanwhile is what the watcher was told: it stays.
    for (auto& [key, value] : values) {
      if (!watcher.touched.contains(key)) watcher.known.insert_or_assign(key, std::move(value));
    }
    watcher.seeding = false;
    watcher.touched.clear();
  }

  void remove(std::uint64_t id) {
    std::unique_lock lock(mutex_);
    watchers_.erase(id);
    // Wait out a running callback of this watcher, unless it is the one removing itself.
    if (std::this_thread::get_id() != thread_id_) {
      cv_.wait(lock, [&] { return calling_ != id; });
    }
  }

  // Stops the thread: no callback runs once this returns (except the one calling it).
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      wakeLocked();
    }
    cv_.notify_all();
    if (std::this_thread::get_id() == thread_.get_id()) {
      thread_.detach();  // the store was destroyed by a callback; the thread ends after it
    } else if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  struct Watcher {
    std::string prefix;
    std::shared_ptr<Callback> callback;
    std::map<std::string, std::string> known;  // what the watcher was last told, key by key
    std::set<std::string> touched;             // keys delivered before seeded()
    bool seeding = true;
  };

  Dispatcher(const RedisConfig& config, UniqueFd wake) : config_(config), wake_(std::move(wake)) {}

  void wakeLocked() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  }

  bool isStopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void run() {
    thread_id_ = std::this_thread::get_id();
    Backoff connect_backoff(config_.reconnect_min, config_.reconnect_max);
    auto next_connect = Clock::now();
    auto next_ping = kNever;
    auto pong_deadline = kNever;
    bool connected_before = false;

    bool outage_reported = false;
    auto lose = [&](const std::string& why) {
      subscriber_.reset();
      if (connected_before && !outage_reported) {
        // Said once per outage: until it ends, watchers keep what they last saw.
        log::warn(
            "cutover: Redis at {} is unreachable ({}); watching again as soon as it answers "
            "(the last pointers seen stay in use)",
            config_.address(), why);
        outage_reported = true;
      }
      {
        std::lock_guard lock(mutex_);
        subscribed_ = false;
        last_failure_ = why;
      }
      next_connect = Clock::now() + connect_backoff.next();
      next_ping = pong_deadline = kNever;
    };

    while (!isStopping()) {
      if (!subscriber_) {
        {
          std::lock_guard lock(mutex_);
          if (std::exchange(attempt_now_, false)) next_connect = Clock::now();
        }
        if (Clock::now() >= next_connect) {
          auto subscribed = subscribe();
          {
            std::lock_guard lock(mutex_);
            ++attempts_;
            subscribed_ = subscribed.has_value();
            // A watch() that asked for an attempt while this one was under way is answered by
            // it: left set, the request would skip the backoff after the next loss.
            if (subscribed_) attempt_now_ = false;
            if (!subscribed) last_failure_ = subscribed.error().message;
          }
          cv_.notify_all();
          if (subscribed) {
            connect_backoff.reset();
            if (std::exchange(outage_reported, false)) {
              log::info("cutover: Redis at {} answers again; catching up", config_.address());
            }
            // Notices published while no subscription stood are lost: re-list to find them.
            if (connected_before) next_resync_ = Clock::now();
            connected_before = true;
            next_ping = Clock::now() + config_.health_check;
          } else {
            next_connect = Clock::now() + connect_backoff.next();
          }
        }
      }

      if (subscriber_) {
        if (auto handled = handleReplies(pong_deadline); !handled) lose(handled.error().message);
      }
      if (subscriber_ && Clock::now() >= next_resync_) {
        if (resync()) {
          next_resync_ = kNever;
          resync_backoff_.reset();
        } else {
          next_resync_ = Clock::now() + resync_backoff_.next();
        }
      }
      if (subscriber_ && pong_deadline == kNever && Clock::now() >= next_ping) {
        if (auto sent = subscriber_->send({"PING"}); !sent) {
          lose(sent.error().message);
        } else {
          pong_deadline = Clock::now() + config_.command_timeout;
          next_ping = Clock::now() + config_.health_check;
        }
      }
      if (subscriber_ && Clock::now() >= pong_deadline) {
        lose("Redis at " + config_.address() + " did not answer PING within " +
             std::to_string(config_.command_timeout.count()) + " ms");
      }

      auto wake_at =
          std::min({subscriber_ ? kNever : next_connect, next_resync_, next_ping, pong_deadline});
      int timeout = -1;
      if (wake_at != kNever) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - Clock::now()).count();
        timeout = static_cast<int>(std::clamp<std::int64_t>(left + 1, 0, 60'000));
      }
      std::array<pollfd, 2> fds{pollfd{wake_.get(), POLLIN, 0},
                                pollfd{subscriber_ ? subscriber_->fd() : -1, POLLIN, 0}};
      if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return;
      if ((fds[0].revents & POLLIN) != 0) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto n = ::read(wake_.get(), &count, sizeof count);
      }
      if (subscriber_ && fds[1].revents != 0) {
        if (auto received = subscriber_->receive(); !received) lose(received.error().message);
      }
    }
  }

  Result<void> subscribe() {
    auto connection = RedisConnection::open(config_, "cutover-watch");
    if (!connection) return tl::unexpected(connection.error());
    std::string channel = config_.channel();
    auto reply = connection->command({"SUBSCRIBE", channel});
    if (!reply) return tl::unexpected(reply.error());
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      Error error = redisReplyError(**reply, config_.address(), "SUBSCRIBE");
      return fail(Errc::unavailable, error.message);
    }
    subscriber_ = std::move(*connection);
    return {};
  }

  // The connection for GET and SCAN, (re)opened when needed.
  Result<RedisConnection*> reader() {
    if (reader_ && (reader_->broken() || reader_->closedWhileIdle())) reader_.reset();
    if (!reader_) {
      auto connection = RedisConnection::open(config_, "cutover-watch-reader");
      if (!connection) return tl::unexpected(connection.error());
      reader_ = std::move(*connection);
    }
    return &*reader_;
  }

  // Takes every reply received so far: notices (whose keys are then read and delivered) and
  // PONGs. Fails if the subscription is no longer usable.
  Result<void> handleReplies(Clock::time_point& pong_deadline) {
    std::vector<std::string> keys;
    std::set<std::string> seen;
    while (true) {
      auto reply = subscriber_->nextReply();
      if (!reply) return tl::unexpected(reply.error());
      if (!*reply) break;
      const redisReply& r = **reply;
      if (r.type == REDIS_REPLY_ERROR) {
        return tl::unexpected(redisReplyError(r, config_.address(), "the subscription"));
      }
      if (r.type != REDIS_REPLY_ARRAY || r.elements < 1 ||
          r.element[0]->type != REDIS_REPLY_STRING) {
        continue;
      }
      std::string_view kind(r.element[0]->str, r.element[0]->len);
      if (kind == "pong") {
        pong_deadline = Clock::time_point::max();
      } else if (kind == "message" && r.elements == 3 && r.element[2]->type == REDIS_REPLY_STRING) {
        std::string key(r.element[2]->str, r.element[2]->len);
        if (validatePointerKey(key) && wanted(key) && seen.insert(key).second) {
          keys.push_back(std::move(key));
        }
      }
    }
    if (keys.empty()) return {};
    // Read now, so whatever was written last is what gets delivered.
    std::optional<std::vector<std::optional<std::string>>> values;
    if (auto connection = reader()) {
      if (auto read = redis_commands::getMany(**connection, config_, keys))
        values = std::move(*read);
    }
    if (!values) {
      // The notices are taken but not followed up: a re-list will find what they announced.
      if (next_resync_ == kNever) next_resync_ = Clock::now() + resync_backoff_.next();
      return {};
    }
    for (std::size_t i = 0; i < keys.size(); ++i) deliverValue(keys[i], (*values)[i]);
    return {};
  }

  bool wanted(const std::string& key) {
    std::lock_guard lock(mutex_);
    return std::any_of(watchers_.begin(), watchers_.end(),
                       [&](const auto& entry) { return key.starts_with(entry.second.prefix); });
  }

  // Lists each watcher's prefix and delivers what differs from what it was last told. False if
  // Redis could not be read (to be tried again).
  bool resync() {
    std::vector<std::pair<std::uint64_t, std::string>> targets;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, watcher] : watchers_) targets.emplace_back(id, watcher.prefix);
    }
    std::map<std::string, std::map<std::string, std::string>> listed;  // by prefix
    for (const auto& [id, prefix] : targets) {
      if (listed.contains(prefix)) continue;
      auto connection = reader();
      if (!connection) return false;
      auto values = redis_commands::list(**connection, config_, prefix);
      if (!values) return false;
      listed.emplace(prefix, std::move(*values));
    }
    for (const auto& [id, prefix] : targets) deliverDifferences(id, listed.at(prefix));
    return true;
  }

  // Records that `watcher` is told `key` = `value`; false if that is what it was told already.
  static bool record(Watcher& watcher, const std::string& key,
                     const std::optional<std::string>& value) {
    if (watcher.seeding) watcher.touched.insert(key);
    auto it = watcher.known.find(key);
    if (value) {
      if (it != watcher.known.end() && it->second == *value) return false;
      watcher.known.insert_or_assign(key, *value);
    } else {
      if (it == watcher.known.end()) return false;
      watcher.known.erase(it);
    }
    return true;
  }

  // A notice's key, as read after it: delivered to every watcher of its prefix. Not compared
  // with what a watcher was told: until its caller's own list() a watcher's base may be older.
  void deliverValue(const std::string& key, const std::optional<std::string>& value) {
    std::unique_lock lock(mutex_);
    std::vector<std::uint64_t> ids;
    for (const auto& [id, watcher] : watchers_) {
      if (key.starts_with(watcher.prefix)) ids.push_back(id);
    }
    PointerEvent event{key, value};
    for (auto id : ids) {
      auto it = watchers_.find(id);
      if (it == watchers_.end()) continue;  // removed by an earlier callback
      record(it->second, key, value);
      if (!call(lock, id, event)) return;
    }
  }

  void deliverDifferences(std::uint64_t id, const std::map<std::string, std::string>& now) {
    std::unique_lock lock(mutex_);
    auto it = watchers_.find(id);
    if (it == watchers_.end()) return;
    std::vector<PointerEvent> events;
    for (const auto& [key, value] : now) {
      if (record(it->second, key, value)) events.push_back(PointerEvent{key, value});
    }
    std::vector<std::string> gone;
    for (const auto& [key, value] : it->second.known) {
      if (!now.contains(key)) gone.push_back(key);
    }
    for (auto& key : gone) {
      record(it->second, key, std::nullopt);
      events.push_back(PointerEvent{std::move(key), std::nullopt});
    }
    for (const auto& event : events) {
      if (!watchers_.contains(id)) return;
      if (!call(lock, id, event)) return;
    }
  }

  // Calls watcher `id` without the lock held; false once the dispatcher is stopping.
  bool call(std::unique_lock<std::mutex>& lock, std::uint64_t id, const PointerEvent& event) {
    if (stopping_) return false;
    auto callback = watchers_.at(id).callback;
    calling_ = id;
    lock.unlock();
    // A watcher that throws fails its own update, never the dispatcher.
    (void)guarded("a pointer watch callback", [&] { (*callback)(event); });
    lock.lock();
    calling_ = 0;
    cv_.notify_all();
    return true;
  }

  const RedisConfig config_;
  UniqueFd wake_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Watcher> watchers_;
  std::uint64_t next_id_ = 1;
  std::uint64_t calling_ = 0;  // the watcher whose callback is running now
  bool stopping_ = false;
  bool subscribed_ = false;
  bool attempt_now_ = false;    // a watch() waits: connect without waiting out the backoff
  std::uint64_t attempts_ = 0;  // subscribe attempts finished
  std::string last_failure_;

  // The thread's alone.
  std::optional<RedisConnection> subscriber_;
  std::optional<RedisConnection> reader_;
  Backoff resync_backoff_{config_.reconnect_min, config_.reconnect_max};
  Clock::time_point next_resync_ = kNever;  // when a re-list is owed
};

namespace {

class RedisWatchHandle final : public WatchHandle {
 public:
  RedisWatchHandle(std::shared_ptr<RedisPointerStore::Dispatcher> dispatcher, std::uint64_t id)
      : dispatcher_(std::move(dispatcher)), id_(id) {}
  ~RedisWatchHandle() override { dispatcher_->remove(id_); }
  RedisWatchHandle(const RedisWatchHandle&) = delete;
  RedisWatchHandle& operator=(const RedisWatchHandle&) = delete;

 private:
  // Shared, so a handle that outlives its store is still safe to destroy.
  std::shared_ptr<RedisPointerStore::Dispatcher> dispatcher_;
  std::uint64_t id_;
};

}  // namespace

std::shared_ptr<RedisPointerStore> RedisPointerStore::open(RedisConfig config) {
  return std::shared_ptr<RedisPointerStore>(new RedisPointerStore(std::move(config)));
}

RedisPointerStore::RedisPointerStore(RedisConfig config)
    : config_(std::move(config)), backoff_(config_.reconnect_min, config_.reconnect_max) {}

RedisPointerStore::~RedisPointerStore() {
  std::shared_ptr<Dispatcher> dispatcher;
  {
    std::lock_guard lock(dispatcher_mutex_);
    dispatcher = std::move(dispatcher_);
  }
  if (dispatcher) dispatcher->stop();
}

Result<RedisConnection*> RedisPointerStore::connectionLocked() {
  if (connection_ && (connection_->broken() || connection_->closedWhileIdle())) {
    connection_.reset();  // Redis restarted or dropped us while idle: a fresh one will do
  }
  if (connection_) return &*connection_;
  auto now = Clock::now();
  if (now < next_attempt_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now);
    return fail(Errc::unavailable,
                last_failure_ + " (next attempt in " + std::to_string(wait.count()) + " ms)");
  }
  auto connection = RedisConnection::open(config_, "cutover");
  if (!connection) {
    last_failure_ = connection.error().message;
    next_attempt_ = Clock::now() + backoff_.next();
    return tl::unexpected(connection.error());
  }
  backoff_.reset();
  connection_ = std::move(*connection);
  return &*connection_;
}

template <class T>
Result<T> RedisPointerStore::settleLocked(Result<T> result) {
  if (connection_ && connection_->broken()) connection_.reset();
  return result;
}

Result<std::optional<std::string>> RedisPointerStore::get(const std::string& key) {
  if (auto valid = validatePointerKey(key); !valid) return tl::unexpected(valid.error());
  std::lock_guard lock(mutex_);
  auto connection = connectionLocked();
  if (!connection) return withContext(connection, "get " + key);
  auto value = settleLocked(redis_commands::get(**connection, config_, key));
  if (!value) return withContext(value, "get " + key);
  return value;
}

Result<void> RedisPointerStore::compareAndSet(const std::string& key,
                                              const std::optional<std::string>& expected,
                                              const std::optional<std::string>& desired) {
  if (auto valid = validatePointerWrite(key, desired); !valid) return valid;
  std::string doing = "compare-and-set " + key;
  std::lock_guard lock(mutex_);
  auto connection = connectionLocked();
  if (!connection) return withContext(connection, doing);
  auto set = settleLocked(
      redis_commands::compareAndSet(**connection, config_, script_sha_, key, expected, desired));
  if (!set) {
    // Sent but unanswered: Redis may have run it. A get() tells which.
    if (set.error().code == Errc::unavailable &&
        set.error().message.find("did not answer") != std::string::npos) {
      return withContext(set, doing + " (it may or may not have been applied)");
    }
    return withContext(set, doing);
  }
  if (!*set) return fail(Errc::conflict, "key " + key + " was changed by another writer");
  return {};
}

Result<std::map<std::string, std::string>> RedisPointerStore::list(const std::string& prefix) {
  std::lock_guard lock(mutex_);
  auto connection = connectionLocked();
  if (!connection) return withContext(connection, "list " + prefix + "*");
  auto values = settleLocked(redis_commands::list(**connection, config_, prefix));
  if (!values) return withContext(values, "list " + prefix + "*");
  return values;
}

Result<WatchHandlePtr> RedisPointerStore::watch(const std::string& prefix,
                                                std::function<void(const PointerEvent&)> callback) {
  std::shared_ptr<Dispatcher> dispatcher;
  {
    std::lock_guard lock(dispatcher_mutex_);
    if (!dispatcher_) {
      auto started = Dispatcher::start(config_);
      if (!started) return tl::unexpected(started.error());
      dispatcher_ = std::move(*started);
    }
    dispatcher = dispatcher_;
  }
  if (auto subscribed = dispatcher->waitSubscribed(); !subscribed) {
    return withContext(subscribed, "watch " + prefix + "*");
  }
  std::uint64_t id = dispatcher->add(prefix, std::move(callback));
  auto handle = std::make_unique<RedisWatchHandle>(dispatcher, id);
  // After add(): a change from here on is either in this listing or announced to the watcher.
  auto values = list(prefix);
  if (!values) return withContext(values, "watch " + prefix + "*");
  dispatcher->seeded(id, std::move(*values));
  return handle;
}

}  // namespace cutover
