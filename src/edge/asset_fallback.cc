#include "edge/asset_fallback.h"

#include "cutover/common/content_hash_name.h"

namespace cutover::edge {

AssetFallback findHashedAsset(const RoutingState& routes, const SiteRoute& site,
                              std::string_view chosen, std::string_view path, std::time_t now,
                              std::uint32_t window_seconds) {
  if (!hasContentHashName(path)) return {};  // most 404s end here, before any lookup
  auto in = [&](std::string_view version) -> AssetFallback {
    if (version.empty() || version == chosen) return {};
    auto index = routes.storedVersion(site, version);
    if (!index) return {};  // deleted since, or the store cannot say now
    const IndexedFile* file = index->find(path);
    if (file == nullptr || !file->immutable_name) return {};
    return AssetFallback{std::move(index), file};
  };
  if (auto found = in(site.version); found.file != nullptr) return found;
  if (!site.retired) return {};
  for (const RetiredVersion& retired : *site.retired) {
    if (!liveWithin(retired, now, window_seconds)) continue;
    if (auto found = in(retired.version); found.file != nullptr) return found;
  }
  return {};
}

}  // namespace cutover::edge
