#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "cutover/pointer/pointer_store.h"
#include "cutover/store/object_store.h"
#include "edge/routing_table.h"

namespace cutover::edge {

// Keeps the edge's RoutingTable in step with the PointerStore: watches every key, loads the
// manifest of each newly live version (off the request path), and swaps in a new table.
// Readers call current() and never wait on the store or on a lock held across I/O.
class RoutingState {
 public:
  RoutingState(ObjectStorePtr objects, PointerStorePtr pointers, std::string preview_domain);
  ~RoutingState();
  RoutingState(const RoutingState&) = delete;
  RoutingState& operator=(const RoutingState&) = delete;

  // Watches the store first, then lists it to seed the table, so no change is missed.
  // Fails (unavailable, io) if the store cannot be watched or listed.
  [[nodiscard]] Result<void> start();

  // Stops watching; current() keeps answering with the last table.
  void stop();

  // The table now. Hold the pointer for a whole request: it pins the versions it names.
  [[nodiscard]] std::shared_ptr<const RoutingTable> current() const {
    std::lock_guard lock(table_mutex_);
    return table_;
  }

  // Applies one change (what the watch delivers). Public for tests.
  void apply(const PointerEvent& event);

  // Any stored version of a site, live or not: for previews and for requests pinned to the version
  // their page was loaded from. Loaded from the store on first use and kept (up to
  // kStoredVersionsKept, least recently used out); null if it is not stored (remembered for a
  // few seconds, so a flood of bogus ids does not reach the store). Thread-safe; the store read
  // happens outside every lock.
  // `site` comes from the table the request pinned; its live version is answered from there.
  [[nodiscard]] std::shared_ptr<const VersionIndex> storedVersion(const SiteRoute& site,
                                                                  std::string_view version) const;

  static constexpr std::size_t kStoredVersionsKept = 64;

  // Forgets a version that was deleted (gc, `cutover versions delete`): storedVersion() answers
  // null for it from now on, as for a version never stored. Called when a gone/<site>/<version>
  // record arrives and when a request finds a file of the version gone from the store. The live
  // version is never forgotten (nothing deletes it). Thread-safe.
  void forgetVersion(std::string_view site, std::string_view version) const;

  static constexpr std::size_t kGoneRemembered = 100'000;

 private:
  struct SiteState {
    bool has_live = false;      // live/<site> exists
    bool has_settings = false;  // site/<site> exists
    PreviewLinks previews;      // preview/<site>/<version> records
    AliasRoutes aliases;        // alias/<site>/<name> records
    RoutingTable::SiteInput input;
  };

  // Applies one key's value; true if the table must change. Caller holds mutex_.
  bool applyLocked(const std::string& key, const std::optional<std::string>& value);
  bool applyLive(const std::string& site, const std::optional<std::string>& value);
  bool applySettings(const std::string& site, const std::optional<std::string>& value);
  bool applyPreview(std::string_view site, std::string_view version,
                    const std::optional<std::string>& value);
  bool applyAlias(std::string_view site, std::string_view name,
                  const std::optional<std::string>& value);
  // Drops the site's state once nothing of it is left.
  void forgetIfEmpty(std::string_view site);
  std::shared_ptr<const VersionIndex> loadVersion(const std::string& site,
                                                  const std::string& version);
  void publishLocked();
  // Keeps `index` as stored version `id` ("<site>/<version>"), evicting the least recently used
  // beyond kStoredVersionsKept; returns what is kept under `id`. Caller holds stored_mutex_.
  std::shared_ptr<const VersionIndex> keepStoredLocked(
      const std::string& id, std::shared_ptr<const VersionIndex> index) const;

  ObjectStorePtr objects_;
  PointerStorePtr pointers_;
  std::string preview_domain_;

  std::mutex mutex_;  // serialises updates (watch callbacks, seeding); never taken by requests
  std::map<std::string, SiteState, std::less<>> sites_;
  std::map<std::string, std::weak_ptr<const VersionIndex>> loaded_;  // "<site>/<version>"
  bool seeding_ = false;
  std::set<std::string> seen_while_seeding_;  // keys a watch event set during seeding: newer
  WatchHandlePtr watch_;

  // The published table. A mutex held only to copy or swap one pointer (never across I/O) rather
  // than std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a lock too, one that
  // ThreadSanitizer cannot see, so it would report every swap as a race.
  mutable std::mutex table_mutex_;
  std::shared_ptr<const RoutingTable> table_;

  struct StoredEntry {
    std::shared_ptr<const VersionIndex> index;  // null: not stored (as of `loaded`)
    std::chrono::steady_clock::time_point loaded;
    std::uint64_t last_used = 0;
  };
  mutable std::mutex stored_mutex_;
  mutable std::map<std::string, StoredEntry, std::less<>> stored_;  // "<site>/<version>"
  mutable std::uint64_t stored_clock_ = 0;
  // Deleted versions, "<site>/<version>" (ids are never reused, so this never goes stale); bounded
  // by kGoneRemembered, oldest out.
  mutable std::set<std::string, std::less<>> gone_;
  mutable std::deque<std::string> gone_order_;
};

}  // namespace cutover::edge
