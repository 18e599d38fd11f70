#include "cutover/pipeline/gc.h"

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
#include "cutover/pipeline/history.h"

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

// "2026-12-04T16:49:21.123Z" → Unix milliseconds; nullopt if it is not in that form.
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

// The leases under `prefix`, by key; unreadable ones are skipped.
Result<std::map<std::string, Lease>> listLeases(PointerStore& pointers, std::string_view prefix) {
  auto raw = pointers.list(std::string(prefix));
  if (!raw) return tl::unexpected(raw.error());
  std::map<std::string, Lease> out;
  for (const auto& [key, value] : *raw) {
    if (auto lease = Lease::fromJson(value)) out.emplace(key, std::move(*lease));
  }
  return out;
}

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

Result<GcReport> collectGarbage(ObjectStore& objects, PointerStore& pointers,
                                const GcOptions& options) {
  GcReport report;
  std::optional<FleetLease> lease;
  if (!options.dry_run) {
    auto taken = FleetLease::take(pointers, FleetLease::Kind::gc, "gc");
    if (!taken) return tl::unexpected(taken.error());
    lease.emplace(std::move(*taken));
  }
  const std::int64_t started_ms = nowUnixMs();
  const std::int64_t now = started_ms / 1000;

  // Deploys running anywhere (listed after the gc lease is written: one that starts later sees
  // the gc lease and waits). While any runs no blob goes, and nothing made since it started.
  auto leases = listLeases(pointers, kDeployLeasePrefix);
  if (!leases) return tl::unexpected(leases.error());
  std::int64_t newest_kept_ms = started_ms;  // versions made from here on are kept
  std::set<std::pair<std::string, std::string>> named;
  for (const auto& [key, held] : *leases) {
    if (!leaseAlive(held, started_ms)) continue;
    report.running_deploys.push_back(describeLease(held));
    newest_kept_ms =
        std::min(newest_kept_ms, held.started_ms - options.clock_margin_seconds * 1000);
    if (!held.site.empty() && !held.version.empty()) named.emplace(held.site, held.version);
  }
  const bool deploys_running = !report.running_deploys.empty();

  // Versions any pointer names, live or previous, or that were live within the pin window.
  auto live = pointers.list(std::string(kLivePrefix));
  if (!live) return tl::unexpected(live.error());
  for (const auto& [key, value] : *live) {
    std::string site = key.substr(kLivePrefix.size());
    auto pointer = LivePointer::fromJson(value);
    if (!pointer) {
      return fail(Errc::invalid_argument,
                  "pointer " + key + " is unreadable; refusing to collect anything");
    }
    named.emplace(site, pointer->version);
    if (!pointer->previous.empty()) named.emplace(site, pointer->previous);
    for (auto& v : versionsLiveWithin(*pointer, now, options.pin_window_seconds)) {
      named.emplace(site, std::move(v));
    }
  }

  auto sites = objects.listSites();
  if (!sites) return tl::unexpected(sites.error());
  std::unordered_set<std::string> referenced;
  for (const auto& site : *sites) {
    auto versions = objects.listVersions(site);
    if (!versions) return tl::unexpected(versions.error());
    for (std::size_t i = 0; i < versions->size(); ++i) {
      const auto& info = (*versions)[i];
      // Made since gc began or since a running deploy started (by the maker's clock, less a
      // margin): about to be flipped live, or just flipped. Unreadable times count as new.
      auto made = rfc3339Ms(info.created);
      bool recent = !made || *made >= newest_kept_ms;
      bool keep = i < options.keep || recent || named.contains({site, info.version});
      if (!keep) {
        report.removed_versions.push_back(site + "/" + info.version);
        if (!options.dry_run) {
          // Recorded gone first: every edge forgets the version before a file of it vanishes.
          auto key = goneKey(site, info.version);
          auto recorded = pointers.compareAndSet(key, std::nullopt, std::to_string(now));
          if (!recorded && recorded.error().code != Errc::conflict) {
            return tl::unexpected(recorded.error());
          }
          if (auto gone = objects.deleteManifest(site, info.version); !gone) {
            return tl::unexpected(gone.error());
          }
        }
        continue;
      }
      ++report.kept_versions;
      auto manifest = objects.readManifest(site, info.version);
      if (!manifest) {
        if (manifest.error().code == Errc::not_found) continue;  // deleted meanwhile
        return tl::unexpected(manifest.error());
      }
      for (const auto& [path, entry] : manifest->files) {
        referenced.insert(entry.hash);
        // The precompressed forms are blobs of their own, kept and removed with their version.
        if (entry.br.present()) referenced.insert(entry.br.hash);
        if (entry.gzip.present()) referenced.insert(entry.gzip.hash);
      }
    }
  }

  auto blobs = objects.listBlobs();
  if (!blobs) return tl::unexpected(blobs.error());
  for (const auto& hash : *blobs) {
    // A running deploy may have just stored a blob, or found one stored and counted on it.
    if (deploys_running || referenced.contains(hash)) {
      ++report.kept_blobs;
      continue;
    }
    ++report.removed_blobs;
    if (!options.dry_run) {
      if (auto gone = objects.deleteBlob(hash); !gone) return tl::unexpected(gone.error());
    }
  }
  if (!options.dry_run && !deploys_running) {
    auto leftovers = objects.removeLeftovers();
    if (!leftovers) return tl::unexpected(leftovers.error());
    report.removed_leftovers = *leftovers;
  }

  // Old records: gone versions every edge has long forgotten, leases of holders long dead.
  if (!options.dry_run) {
    if (auto gone = pointers.list(std::string(kGonePrefix))) {
      for (const auto& [key, value] : *gone) {
        std::int64_t at = std::strtoll(value.c_str(), nullptr, 10);
        if (now - at > kGoneKeptSeconds) (void)pointers.compareAndSet(key, value, std::nullopt);
      }
    }
    for (auto prefix : {kDeployLeasePrefix, kGcLeasePrefix}) {
      auto raw = pointers.list(std::string(prefix));
      if (!raw) continue;
      for (const auto& [key, value] : *raw) {
        auto held = Lease::fromJson(value);
        if (held && leaseAlive(*held, started_ms - 3600 * 1000)) continue;
        (void)pointers.compareAndSet(key, value, std::nullopt);
      }
    }
  }
  return report;
}

Result<void> deleteVersion(ObjectStore& objects, PointerStore& pointers, const std::string& site,
                           const std::string& version) {
  if (auto ok = validateSiteName(site); !ok) return ok;
  if (auto ok = validateVersionId(version); !ok) return ok;
  if (auto manifest = objects.readManifest(site, version); !manifest) {
    if (manifest.error().code == Errc::not_found) {
      return fail(Errc::not_found, fmt::format("site {} has no version {}", site, version));
    }
    return tl::unexpected(manifest.error());
  }
  // Out of the live pointer first (compare-and-set, again from a fresh read if it changed): a
  // flip that makes the version live between the check and the delete is refused this way.
  for (int attempt = 0;; ++attempt) {
    if (attempt == 10) {
      return fail(Errc::conflict,
                  fmt::format("the pointer of site {} kept changing; try again", site));
    }
    auto raw = pointers.get(liveKey(site));
    if (!raw) return tl::unexpected(raw.error());
    if (!*raw) break;
    auto pointer = LivePointer::fromJson(**raw);
    if (!pointer) return tl::unexpected(pointer.error());
    if (pointer->version == version) {
      return fail(Errc::invalid_argument,
                  fmt::format("version {} is live on site {}; make another version live first "
                              "(cutover activate or rollback), then delete it",
                              version, site));
    }
    bool named = pointer->previous == version;
    if (named) pointer->previous.clear();
    auto before = pointer->retired.size();
    std::erase_if(pointer->retired, [&](const RetiredVersion& r) { return r.version == version; });
    if (!named && before == pointer->retired.size()) break;
    auto set = pointers.compareAndSet(liveKey(site), *raw, pointer->toJson());
    if (set) break;
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  auto key = goneKey(site, version);
  auto recorded = pointers.compareAndSet(key, std::nullopt, std::to_string(std::time(nullptr)));
  if (!recorded && recorded.error().code != Errc::conflict) return recorded;
  return objects.deleteManifest(site, version);
}

}  // namespace cutover
