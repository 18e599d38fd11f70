#include "edge/asset_fallback.h"

#include "cutover/common/content_hash_name.h"

namespace cutover::edge {

std::vector<std::string_view> recentlyLiveVersions(const SiteRoute& site, std::time_t now,
                                                   std::uint32_t window_seconds) {
  std::vector<std::string_view> versions;
  if (!site.version.empty()) versions.push_back(site.version);
  for (const auto& retired : site.retired) {
    if (now - retired.until > static_cast<std::time_t>(window_seconds)) continue;
    versions.push_back(retired.version);
  }
  return versions;
}

AssetFallback findHashedAsset(const RoutingState& routes, const SiteRoute& site,
                              std::string_view chosen, std::string_view path, std::time_t now,
                              std::uint32_t window_seconds) {
  if (!hasContentHashName(path)) return {};  // most 404s end here, before any lookup
  for (std::string_view version : recentlyLiveVersions(site, now, window_seconds)) {
    if (version == chosen) continue;
    auto index = routes.storedVersion(site, version);
    if (!index) continue;  // deleted since, or the store cannot say now
    const IndexedFile* file = index->find(path);
    if (file != nullptr && file->immutable_name) return AssetFallback{std::move(index), file};
  }
  return {};
}

}  // namespace cutover::edge
