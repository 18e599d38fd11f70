#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "cutover/common/result.h"
#include "cutover/rules/rules.h"
#include "cutover/store/manifest.h"
#include "cutover/store/object_store.h"

namespace cutover {

// The largest `_redirects` or `_headers` a deploy takes: room for kMaxRules long lines.
inline constexpr std::uint64_t kMaxRulesFileBytes = 8ULL << 20;

// Takes a version's rules out of its stored files: reads the root `_redirects` and `_headers`
// (when present) from `objects`, parses and validates them, and erases them from `files`, so the
// manifest carries them as rules and the edge never serves them as files. Files of those names in
// subfolders stay ordinary files. On failure `files` is unchanged and the error names the problem:
// invalid_argument with `_redirects:LINE: ...` or `_headers:LINE: ...`, too_large past
// kMaxRulesFileBytes, or the store's error reading the blob.
[[nodiscard]] Result<SiteRules> takeRules(ObjectStore& objects,
                                          std::map<std::string, FileEntry>& files);

}  // namespace cutover
