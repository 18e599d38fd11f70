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
  // Preview aliases that expired (no build for previews.expires), "site/alias": removed, so their
  // versions are collectable from the next gc on.
  std::vector<std::string> removed_aliases;
  // Deploys running in the fleet ("deploy docs on host:pid, started …"): while any runs, no blob
  // is removed (a deploy may count on any stored blob).
  std::vector<std::string> running_deploys;
};

// Deletes versions that no pointer names (live or the previous one, which rollback needs), that
// were not live within the pin window, that no open preview alias names (or named within the
// pin window), that are not scheduled to go live, whose preview link is not open, that are not
// among the newest `keep` of their site, and that were not made since gc began or since the oldest
// running deploy started; then, unless a deploy runs anywhere, every blob no remaining manifest
// names, and what interrupted writes left behind. Each deleted version is recorded
// gone/<site>/<version> first, so edges forget it at once. Holds a gc lease in the pointer store
// while it runs. Run under the exclusive StoreLock.
[[nodiscard]] Result<GcReport> collectGarbage(ObjectStore& objects, PointerStore& pointers,
                                              const GcOptions& options);

// Deletes one version at once (`cutover versions delete`): refuses the live version
// (invalid_argument, saying so); records it gone (edges forget it at once, whatever pins or
// fallbacks ask), takes it out of the live pointer (as previous: rollback then has nothing to
// return to; and from the retired list), closes its preview link, then deletes its manifest. Its
// blobs go at the next gc. not_found if it is not stored.
[[nodiscard]] Result<void> deleteVersion(ObjectStore& objects, PointerStore& pointers,
                                         const std::string& site, const std::string& version);

}  // namespace cutover
