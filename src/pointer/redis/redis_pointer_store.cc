#include "pointer/redis/redis_pointer_store.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "common/log.h"
#include "cutover/common/fd.h"
#include "pointer/redis/redis_commands.h"
#include "pointer/watch_dispatcher.h"

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
class RedisPointerStore::Dispatcher final : public WatchDispatcher {
 public:
  static Result<std::shared_ptr<Dispatcher>> start(const RedisConfig& config) {
    UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake.valid()) return failErrno("eventfd", errno);
    auto dispatcher = std::shared_ptr<Dispatcher>(new Dispatcher(config, std::move(wake)));
    dispatcher->startThread();
    return dispatcher;
  }

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

  // A new watcher (added by add()) gets every notice from then on; seeded() then tells it what
  // its prefix held when it started, the base against which a re-list after a reconnect finds
  // the changes.
  void seeded(std::uint64_t id, std::map<std::string, std::string> values) {
    std::lock_guard lock(mutex_);
    auto it = told_.find(id);
    if (it == told_.end()) return;
    Told& told = it->second;
    // What was delivered meanwhile is what the watcher was told: it stays.
    for (auto& [key, value] : values) {
      if (!told.touched.contains(key)) told.known.insert_or_assign(key, std::move(value));
    }
    told.seeding = false;
    told.touched.clear();
  }

 private:
  // What one watcher was told.
  struct Told {
    std::map<std::string, std::string> known;  // what the watcher was last told, key by key
    std::set<std::string> touched;             // keys delivered before seeded()
    bool seeding = true;
  };

  Dispatcher(const RedisConfig& config, UniqueFd wake) : config_(config), wake_(std::move(wake)) {}

  void addedLocked(std::uint64_t id) override { told_.emplace(id, Told{}); }
  void removedLocked(std::uint64_t id) override { told_.erase(id); }

  void wakeLocked() override {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  }

  // The thread: keeps a subscription standing, delivers what it announces, re-lists what it may
  // have missed, and checks that it is alive, until stop().
  void run() override {
    while (!isStopping()) {
      if (!subscriber_) subscribeIfDue();
      if (subscriber_) {
        if (auto handled = handleReplies(); !handled) lose(handled.error().message);
      }
      if (subscriber_) resyncIfDue();
      if (subscriber_) checkAlive();
      if (!waitForWork()) return;
    }
  }

  // Subscribes if the backoff allows it, or a watch() asked for an attempt now.
  void subscribeIfDue() {
    {
      std::lock_guard lock(mutex_);
      if (std::exchange(attempt_now_, false)) next_connect_ = Clock::now();
    }
    if (Clock::now() < next_connect_) return;
    auto subscribed = subscribe();
    {
      std::lock_guard lock(mutex_);
      ++attempts_;
      subscribed_ = subscribed.has_value();
      // A watch() that asked for an attempt while this one was under way is answered by it:
      // left set, the request would skip the backoff after the next loss.
      if (subscribed_) attempt_now_ = false;
      if (!subscribed) last_failure_ = subscribed.error().message;
    }
    cv_.notify_all();
    if (!subscribed) {
      next_connect_ = Clock::now() + connect_backoff_.next();
      return;
    }
    connect_backoff_.reset();
    if (std::exchange(outage_reported_, false)) {
      log::info("cutover: Redis at {} answers again; catching up", config_.address());
    }
    // Notices published while no subscription stood are lost: re-list to find them.
    if (connected_before_) next_resync_ = Clock::now();
    connected_before_ = true;
    next_ping_ = Clock::now() + config_.health_check;
  }

  // Drops the subscription, says so once per outage, and waits out the backoff before the next.
  void lose(const std::string& why) {
    subscriber_.reset();
    if (connected_before_ && !outage_reported_) {
      // Said once per outage: until it ends, watchers keep what they last saw.
      log::warn(
          "cutover: Redis at {} is unreachable ({}); watching again as soon as it answers (the "
          "last pointers seen stay in use)",
          config_.address(), why);
      outage_reported_ = true;
    }
    {
      std::lock_guard lock(mutex_);
      subscribed_ = false;
      last_failure_ = why;
    }
    next_connect_ = Clock::now() + connect_backoff_.next();
    next_ping_ = pong_deadline_ = kNever;
  }

  // PINGs the subscription every health_check, and drops it when a PONG is late.
  void checkAlive() {
    if (pong_deadline_ == kNever && Clock::now() >= next_ping_) {
      if (auto sent = subscriber_->send({"PING"}); !sent) {
        lose(sent.error().message);
        return;
      }
      pong_deadline_ = Clock::now() + config_.command_timeout;
      next_ping_ = Clock::now() + config_.health_check;
    }
    if (Clock::now() >= pong_deadline_) {
      lose("Redis at " + config_.address() + " did not answer PING within " +
           std::to_string(config_.command_timeout.count()) + " ms");
    }
  }

  // Waits until the subscription has something to read, stop() or watch() wakes the thread, or
  // the next timer is due; reads what arrived. False if the wait itself failed.
  bool waitForWork() {
    auto wake_at =
        std::min({subscriber_ ? kNever : next_connect_, next_resync_, next_ping_, pong_deadline_});
    int timeout = -1;
    if (wake_at != kNever) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - Clock::now()).count();
      timeout = static_cast<int>(std::clamp<std::int64_t>(left + 1, 0, 60'000));
    }
    std::array<pollfd, 2> fds{pollfd{wake_.get(), POLLIN, 0},
                              pollfd{subscriber_ ? subscriber_->fd() : -1, POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return false;
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] auto n = ::read(wake_.get(), &count, sizeof count);
    }
    if (subscriber_ && fds[1].revents != 0) {
      if (auto received = subscriber_->receive(); !received) lose(received.error().message);
    }
    return true;
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
  Result<void> handleReplies() {
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
        pong_deadline_ = kNever;
      } else if (kind == "message" && r.elements == 3 && r.element[2]->type == REDIS_REPLY_STRING) {
        std::string key(r.element[2]->str, r.element[2]->len);
        if (validatePointerKey(key) && wants(key) && seen.insert(key).second) {
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

  // Re-lists if one is owed; after a failure, again after a backoff.
  void resyncIfDue() {
    if (Clock::now() < next_resync_) return;
    if (resync()) {
      next_resync_ = kNever;
      resync_backoff_.reset();
    } else {
      next_resync_ = Clock::now() + resync_backoff_.next();
    }
  }

  // Lists each watcher's prefix and delivers what differs from what it was last told. False if
  // Redis could not be read (to be tried again).
  bool resync() {
    auto targets = watchers();
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

  // Records that the watcher is told `key` = `value`; false if that is what it was told already.
  static bool record(Told& told, const std::string& key, const std::optional<std::string>& value) {
    if (told.seeding) told.touched.insert(key);
    auto it = told.known.find(key);
    if (value) {
      if (it != told.known.end() && it->second == *value) return false;
      told.known.insert_or_assign(key, *value);
    } else {
      if (it == told.known.end()) return false;
      told.known.erase(it);
    }
    return true;
  }

  // A notice's key, as read after it: delivered to every watcher of its prefix. Not compared
  // with what a watcher was told: until its caller's own list() a watcher's base may be older.
  void deliverValue(const std::string& key, const std::optional<std::string>& value) {
    std::unique_lock lock(mutex_);
    PointerEvent event{key, value};
    for (auto id : matchingLocked(key)) {
      auto it = told_.find(id);
      if (it == told_.end()) continue;  // removed by an earlier callback
      record(it->second, key, value);
      if (!callLocked(lock, id, event)) return;
    }
  }

  void deliverDifferences(std::uint64_t id, const std::map<std::string, std::string>& now) {
    std::unique_lock lock(mutex_);
    auto it = told_.find(id);
    if (it == told_.end()) return;
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
      if (!told_.contains(id)) return;
      if (!callLocked(lock, id, event)) return;
    }
  }

  const RedisConfig config_;
  UniqueFd wake_;

  // Guarded by mutex_.
  std::map<std::uint64_t, Told> told_;
  bool subscribed_ = false;
  bool attempt_now_ = false;    // a watch() waits: connect without waiting out the backoff
  std::uint64_t attempts_ = 0;  // subscribe attempts finished
  std::string last_failure_;

  // The thread's alone.
  std::optional<RedisConnection> subscriber_;
  std::optional<RedisConnection> reader_;
  Backoff connect_backoff_{config_.reconnect_min, config_.reconnect_max, Backoff::Jitter::half};
  Backoff resync_backoff_{config_.reconnect_min, config_.reconnect_max, Backoff::Jitter::half};
  Clock::time_point next_connect_{};        // when to (re)subscribe, while not subscribed
  Clock::time_point next_resync_ = kNever;  // when a re-list is owed
  Clock::time_point next_ping_ = kNever;
  Clock::time_point pong_deadline_ = kNever;
  bool connected_before_ = false;  // a subscription stood once: a new one re-lists
  bool outage_reported_ = false;
};

std::shared_ptr<RedisPointerStore> RedisPointerStore::open(RedisConfig config) {
  return std::shared_ptr<RedisPointerStore>(new RedisPointerStore(std::move(config)));
}

RedisPointerStore::RedisPointerStore(RedisConfig config)
    : config_(std::move(config)),
      backoff_(config_.reconnect_min, config_.reconnect_max, Backoff::Jitter::half) {}

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
  auto handle = dispatcher->handle(id);
  // After add(): a change from here on is either in this listing or announced to the watcher.
  auto values = list(prefix);
  if (!values) return withContext(values, "watch " + prefix + "*");
  dispatcher->seeded(id, std::move(*values));
  return handle;
}

}  // namespace cutover
