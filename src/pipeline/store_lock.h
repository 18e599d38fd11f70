#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cutover/common/fd.h"
#include "cutover/common/result.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/pointer/records.h"

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

// "2026-12-04T16:49:21.123Z" → Unix milliseconds; nullopt if it is not in that form.
[[nodiscard]] std::optional<std::int64_t> rfc3339Ms(std::string_view text);
// One line naming a lease's holder, what it does and since when.
[[nodiscard]] std::string describeLease(const Lease& lease);
// The leases under `prefix`, by key; unreadable ones are skipped.
[[nodiscard]] Result<std::map<std::string, Lease>> listLeases(PointerStore& pointers,
                                                              std::string_view prefix);

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

}  // namespace cutover
