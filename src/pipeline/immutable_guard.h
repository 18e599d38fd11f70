#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/store/manifest.h"
#include "cutover/store/object_store.h"

namespace cutover {

// What a new version must not serve as immutable, and what the deploy says about it.
struct ImmutableGuard {
  std::set<std::string> short_cache;  // for Manifest::short_cache
  std::vector<std::string> warnings;  // one per path newly found, each naming it
};

// At most this many warnings are spelled out; the rest are counted in one more line.
inline constexpr std::size_t kMaxImmutableWarnings = 20;

// A content-hashed name (hasContentHashName) tells browsers to keep the bytes for a year, so it
// must never name other bytes later. Compares the new version's `files` with the live version's,
// the one `live_pointer` names (the raw live pointer the deploy started from; none: nothing to
// compare):
//  - a path the live version served as immutable whose content differs in `files` gets a warning
//    naming it, and the new version serves it with the short policy;
//  - a path the live version already served short stays short while the name exists.
// Fails only if the live version's manifest cannot be read for another reason than not_found.
[[nodiscard]] Result<ImmutableGuard> guardImmutableNames(
    ObjectStore& objects, std::string_view site, const std::optional<std::string>& live_pointer,
    const std::map<std::string, FileEntry>& files);

}  // namespace cutover
