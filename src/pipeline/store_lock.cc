#include "pipeline/store_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_set>

#include "cutover/common/names.h"
#include "runs/history.h"

namespace cutover {
namespace {

// Clocks of the machines sharing the stores may differ by this much; a lease is dead only once
// this long past its ttl.
constexpr std::int64_t kLeaseClockMarginMs = 60'000;

std::string hostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) name[0] = '\0';
  return name;
}

std::string hostAndPid() { return fmt::format("{}:{}", hostName(), ::getpid()); }

}  // namespace

std::optional<std::int64_t> rfc3339Ms(std::string_view text) {
  std::tm tm{};
  unsigned ms = 0;
  std::string s(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ", &year, &month, &day, &hour,
                      &minute, &second, &ms);
  if (n < 6) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + (n == 7 ? ms : 0);
}

std::string describeLease(const Lease& lease) {
  std::time_t started = lease.started_ms / 1000;
  std::tm utc{};
  gmtime_r(&started, &utc);
  return fmt::format("{} on {}, started {:02}:{:02}:{:02} UTC", lease.what, lease.host, utc.tm_hour,
                     utc.tm_min, utc.tm_sec);
}

Result<std::map<std::string, Lease>> listLeases(PointerStore& pointers, std::string_view prefix) {
  auto raw = pointers.list(std::string(prefix));
  if (!raw) return tl::unexpected(raw.error());
  std::map<std::string, Lease> out;
  for (const auto& [key, value] : *raw) {
    if (auto lease = Lease::fromJson(value)) out.emplace(key, std::move(*lease));
  }
  return out;
}

namespace {

// Waits until every gc running in the fleet now has ended (its lease removed, or unchanged for
// its ttl as timed by this machine, which no clock difference can fool).
Result<void> waitForRunningGc(PointerStore& pointers, const FleetRequest& fleet) {
  using Clock = std::chrono::steady_clock;
  auto running = pointers.list(std::string(kGcLeasePrefix));
  if (!running) return tl::unexpected(running.error());
  struct Seen {
    std::string value;
    Clock::time_point since;
    std::chrono::milliseconds ttl;
  };
  std::map<std::string, Seen> waiting;
  for (const auto& [key, value] : *running) {
    auto lease = Lease::fromJson(value);
    if (!lease) continue;
    if (fleet.waiting) fleet.waiting(*lease);
    waiting.emplace(key, Seen{value, Clock::now(), std::chrono::milliseconds(lease->ttl_ms)});
  }
  while (!waiting.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the store's key
    for (auto it = waiting.begin(); it != waiting.end();) {
      auto now = pointers.get(it->first);
      if (!now) return tl::unexpected(now.error());
      if (!*now) {
        it = waiting.erase(it);
        continue;
      }
      if (**now != it->second.value) {
        it->second.value = **now;
        it->second.since = Clock::now();
      } else if (Clock::now() - it->second.since > it->second.ttl) {
        it = waiting.erase(it);  // its holder died
        continue;
      }
      ++it;
    }
  }
  return {};
}

}  // namespace

struct FleetLease::State {
  PointerStore& pointers;
  std::string key;
  Lease lease;
  std::mutex mutex;
  std::condition_variable_any cv;
  std::string written;  // the value last written
  std::jthread refresher;

  State(PointerStore& p, std::string k, Lease l)
      : pointers(p), key(std::move(k)), lease(std::move(l)) {}

  void refresh(std::stop_token stop) {
    auto period = std::chrono::milliseconds(lease.ttl_ms / 3);
    std::unique_lock lock(mutex);
    while (true) {
      cv.wait_for(lock, stop, period, [] { return false; });
      if (stop.stop_requested()) return;
      Lease next = lease;
      next.refreshed_ms = nowUnixMs();
      auto json = next.toJson();
      // A store that is briefly down is tried again at the next period; one down longer than
      // the ttl lets the lease die, and gc then proceeds as if this holder were gone.
      auto current = pointers.get(key);
      if (!current) continue;
      if (pointers.compareAndSet(key, *current, json)) written = json;
    }
  }
};

Result<FleetLease> FleetLease::take(PointerStore& pointers, Kind kind, std::string what,
                                    std::string site, std::string version,
                                    std::chrono::milliseconds ttl) {
  Lease lease;
  lease.id = newVersionId();
  lease.host = hostAndPid();
  lease.what = std::move(what);
  lease.site = std::move(site);
  lease.version = std::move(version);
  lease.started_ms = lease.refreshed_ms = nowUnixMs();
  lease.ttl_ms = std::max<std::int64_t>(ttl.count(), 3);
  std::string key = std::string(kind == Kind::gc ? kGcLeasePrefix : kDeployLeasePrefix) + lease.id;
  auto json = lease.toJson();
  if (auto set = pointers.compareAndSet(key, std::nullopt, json); !set) {
    return tl::unexpected(set.error());
  }
  auto state = std::make_unique<State>(pointers, key, std::move(lease));
  state->written = json;
  State* raw = state.get();
  state->refresher = std::jthread([raw](std::stop_token stop) { raw->refresh(stop); });
  return FleetLease(std::move(state));
}

FleetLease::FleetLease(std::unique_ptr<State> state) : state_(std::move(state)) {}
FleetLease::FleetLease(FleetLease&&) noexcept = default;
FleetLease& FleetLease::operator=(FleetLease&&) noexcept = default;

FleetLease::~FleetLease() {
  if (!state_) return;
  state_->refresher.request_stop();
  if (state_->refresher.joinable()) state_->refresher.join();
  // Removing the record ends the lease at once; if that fails it dies after its ttl.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto current = state_->pointers.get(state_->key);
    if (!current || !*current) return;
    if (state_->pointers.compareAndSet(state_->key, *current, std::nullopt)) return;
  }
}

const Lease& FleetLease::lease() const { return state_->lease; }

bool leaseAlive(const Lease& lease, std::int64_t now_ms) {
  // A holder on this machine whose process is gone (killed mid-deploy) is dead at once.
  std::string_view host = lease.host;
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.substr(0, colon) == hostName()) {
    long pid = std::strtol(std::string(host.substr(colon + 1)).c_str(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  }
  return now_ms <= lease.refreshed_ms + lease.ttl_ms + kLeaseClockMarginMs;
}

Result<StoreLock> StoreLock::acquire(const std::filesystem::path& file, Mode mode) {
  if (file.empty()) return StoreLock(UniqueFd());
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return failErrno("open lock " + file.string(), errno);
  int op = mode == Mode::shared ? LOCK_SH : LOCK_EX;
  while (::flock(fd.get(), op) != 0) {
    if (errno != EINTR) return failErrno("lock " + file.string(), errno);
  }
  return StoreLock(std::move(fd));
}

Result<StoreLock> StoreLock::acquire(const std::filesystem::path& file, Mode mode,
                                     const FleetRequest& fleet) {
  auto lock = acquire(file, mode);
  if (!lock || fleet.pointers == nullptr || mode != Mode::shared) return lock;
  // The lease first, then the look for a running gc: a gc that starts after this look sees the
  // lease (both go through the one pointer store), and one that started before is waited for.
  auto lease = FleetLease::take(*fleet.pointers, FleetLease::Kind::deploy, fleet.what, fleet.site,
                                fleet.version);
  if (!lease) return tl::unexpected(lease.error());
  if (auto waited = waitForRunningGc(*fleet.pointers, fleet); !waited) {
    return tl::unexpected(waited.error());
  }
  lock->lease_ = std::make_shared<FleetLease>(std::move(*lease));
  return lock;
}

}  // namespace cutover
