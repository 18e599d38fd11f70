#pragma once

#include <optional>
#include <string>

#include "cutover/common/result.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/pointer/records.h"
#include "cutover/store/object_store.h"

namespace cutover {

// The live pointer of `site`, if it has one. (invalid_argument if the stored value is corrupt.)
[[nodiscard]] Result<std::optional<LivePointer>> readLivePointer(PointerStore& pointers,
                                                                 const std::string& site);

// Succeeds if `version` of `site` is committed (and so complete); not_found if it is not.
[[nodiscard]] Result<void> requireVersion(ObjectStore& objects, const std::string& site,
                                          const std::string& version);

// The flip itself: compare-and-sets the pointer of `site` from `expected_raw` (its raw value as
// last read; nullopt if it had none) to `version`. The caller has made sure the version is
// committed. `by` names who flipped it (a deploy id, "activate", "rollback"). conflict if the
// pointer changed since it was read. `lock`, if given, locks the site's deploys in the same write
// (a lock already there stays either way). Returns the new pointer.
[[nodiscard]] Result<LivePointer> flipPointer(PointerStore& pointers, const std::string& site,
                                              const std::string& version,
                                              const std::optional<std::string>& expected_raw,
                                              const std::string& by,
                                              std::optional<DeployLock> lock = std::nullopt);

// A flip done, and how long the compare-and-set itself took.
struct Flip {
  LivePointer pointer;
  double flip_ms = 0;
};

// Checks the version, reads the pointer and flips it to `version` (for `cutover activate`).
// `lock`: lock the site's deploys in the same flip, so the next push does not undo it.
[[nodiscard]] Result<Flip> activateVersion(ObjectStore& objects, PointerStore& pointers,
                                           const std::string& site, const std::string& version,
                                           std::optional<DeployLock> lock = std::nullopt);

// Flips the pointer back to the version live before the current one (for `cutover rollback`).
// invalid_argument if there is no previous version, not_found if it has been collected.
[[nodiscard]] Result<Flip> rollback(ObjectStore& objects, PointerStore& pointers,
                                    const std::string& site,
                                    std::optional<DeployLock> lock = std::nullopt);

// The lock an activation or rollback by `by` ("user NAME", "token ID") sets unless told not to:
// its reason names the flip, `what` ("rollback to V", "activation of V").
[[nodiscard]] DeployLock lockForFlip(const std::string& what, const std::string& by);

}  // namespace cutover
