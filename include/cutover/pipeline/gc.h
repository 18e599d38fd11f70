#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cutover/common/fd.h"
#include "cutover/common/result.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/pointer/records.h"
#include "cutover/store/object_store.h"

namespace cutover {

// A Lease record (see records.h) kept in the pointer store while its holder runs: refreshed every
// ttl/3 by a thread of its own, removed when the FleetLease is destroyed. A holder that dies
// stops refreshing, and its lease is dead once ttl has passed.
class FleetLease {
 public:
  enum class Kind { deploy, gc };
  static constexpr std::chrono::milliseconds kDefaultTtl{30'000};

  // Writes the lease. `site`/`version`: what the holder needs kept (an activation's target).
  [[nodiscard]] static Result<FleetLease> take(PointerStore& pointers, Kind kind, std::string what,
                                               std::string site = {}, std::string version = {},
                                               std::chrono::milliseconds ttl = kDefaultTtl);
  FleetLease(FleetLease&&) noexcept;
  FleetLease& operator=(FleetLease&&) noexcept;
  ~FleetLease();

  [[nodiscard]] const Lease& lease() const;

 private:
  struct State;
  explicit FleetLease(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// True while `lease` may still be held at `now_ms` (by this machine's clock): refreshed within
// its ttl, plus a margin for clocks that differ between machines.
[[nodiscard]] bool leaseAlive(const Lease& lease, std::int64_t now_ms);

// What a deploy asks of the fleet when it takes the store lock: see StoreLock::acquire.
struct FleetRequest {
  PointerStore* pointers = nullptr;  // null: this machine only (the local lock)
  std::string what;                  // "deploy docs", "activate docs v2"
  std::string site;
  std::string version;  // a version the holder needs kept (an activation's target), or ""
  // Told once about each gc it waits for.
  std::function<void(const Lease&)> waiting;
};

// Keeps deploys and gc apart. On one machine: an advisory lock on the stores of one data folder,
// held shared by deploys and activations and exclusive by gc. Across machines sharing the stores
// (S3, etcd): a deploy lease in the pointer store that every gc honours (it deletes no blob while a
// deploy runs, and no version made since the oldest running deploy started), and a deploy that
// finds a gc already running waits for it to end before it counts on any stored blob.
class StoreLock {
 public:
  enum class Mode { shared, exclusive };
  // Blocks until the lock is granted. An empty path gives a lock that locks nothing.
  [[nodiscard]] static Result<StoreLock> acquire(const std::filesystem::path& file, Mode mode);
  // As above; with `fleet.pointers` set and Mode::shared, also takes a deploy lease and waits for
  // every gc running in the fleet at that moment (one that stops refreshing its lease is dead
  // after its ttl).
  [[nodiscard]] static Result<StoreLock> acquire(const std::filesystem::path& file, Mode mode,
                                                 const FleetRequest& fleet);

 private:
  explicit StoreLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  std::shared_ptr<FleetLease> lease_;
};

struct GcOptions {
  std::size_t keep = 10;  // newest versions kept per site, besides those a pointer names
  bool dry_run = false;   // report what would go, delete nothing
  // Versions live within this many seconds are kept: pages loaded from them may still ask for
  // their files (the edge's pin window, `serve --pin-window`).
  std::int64_t pin_window_seconds = 3600;
  // Clocks of machines sharing the stores may differ by this much.
  std::int64_t clock_margin_seconds = 60;
};

struct GcReport {
  std::vector<std::string> removed_versions;  // "site/version"
  std::size_t kept_versions = 0;
  std::size_t removed_blobs = 0;
  std::size_t kept_blobs = 0;
  std::size_t removed_leftovers = 0;  // temp files of interrupted writes
  // Deploys running in the fleet ("deploy docs on host:pid, started …"): while any runs, no blob
  // is removed (a deploy may count on any stored blob).
  std::vector<std::string> running_deploys;
};

// Deletes versions that no pointer names (live or the previous one, which rollback needs), that
// were not live within the pin window, that are not among the newest `keep` of their site, and
// that were not made since gc began or since the oldest running deploy started; then, unless a
// deploy runs anywhere, every blob no remaining manifest names, and what interrupted writes left
// behind. Each deleted version is recorded gone/<site>/<version> first, so edges forget it at
// once. Holds a gc lease in the pointer store while it runs. Run under the exclusive StoreLock.
[[nodiscard]] Result<GcReport> collectGarbage(ObjectStore& objects, PointerStore& pointers,
                                              const GcOptions& options);

// Deletes one version at once (`cutover versions delete`): refuses the live version
// (invalid_argument, saying so); records it gone (edges forget it at once, whatever pins or
// fallbacks ask), takes it out of the live pointer (as previous: rollback then has nothing to
// return to; and from the retired list), then deletes its manifest. Its blobs go at the next gc.
// not_found if it is not stored.
[[nodiscard]] Result<void> deleteVersion(ObjectStore& objects, PointerStore& pointers,
                                         const std::string& site, const std::string& version);

}  // namespace cutover
