#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string_view>
#include <vector>

#include "edge/routing_state.h"
#include "edge/routing_table.h"

namespace cutover::edge {

// Skew protection across tabs. The pin cookie is one per site, so a second tab loaded after a
// flip moves the first tab's pin to the new version, and the first tab's next lazy chunk, which
// only its own version has, would be a 404. A content-hashed name means the same bytes in every
// version that has it, so such a request may be answered from another recent version of the site.

struct AssetFallback {
  std::shared_ptr<const VersionIndex> version;  // keeps the version loaded while it answers
  const IndexedFile* file = nullptr;
};

// For a page's own request (not a navigation) that version `chosen` of `site` has no file for:
// the file at `path` (a manifest key) in the newest version live within `window_seconds` of `now`
// (the live one, then the live pointer's retired versions that pass liveWithin(), as gc keeps
// them) that has it, if `path` is content-hashed there (IndexedFile::immutable_name). A version
// deleted since is skipped. Nothing otherwise: a file someone
// removed on purpose (a leaked `.env`, a page) must not stay reachable through an older version.
// May read a retired version's manifest through `routes` (as pinned requests do).
[[nodiscard]] AssetFallback findHashedAsset(const RoutingState& routes, const SiteRoute& site,
                                            std::string_view chosen, std::string_view path,
                                            std::time_t now, std::uint32_t window_seconds);

}  // namespace cutover::edge
