#include "pipeline/immutable_guard.h"

#include <fmt/format.h>

#include "cutover/common/content_hash_name.h"
#include "cutover/pointer/records.h"

namespace cutover {

Result<ImmutableGuard> guardImmutableNames(ObjectStore& objects, std::string_view site,
                                           const std::optional<std::string>& live_pointer,
                                           const std::map<std::string, FileEntry>& files) {
  ImmutableGuard guard;
  if (!live_pointer) return guard;
  auto pointer = LivePointer::fromJson(*live_pointer);
  if (!pointer || pointer->version.empty()) return guard;  // a damaged pointer fails the flip
  auto live = objects.readManifest(std::string(site), pointer->version);
  if (!live) {
    if (live.error().code == Errc::not_found) return guard;
    return fail(live.error().code,
                fmt::format("cannot read live version {} of site {} to compare its immutable "
                            "files: {}",
                            pointer->version, site, live.error().message));
  }
  std::size_t found = 0;
  for (const auto& [path, entry] : files) {
    auto was = live->files.find(path);
    if (was == live->files.end() || !hasContentHashName(path)) continue;
    if (live->short_cache.contains(path)) {
      guard.short_cache.insert(path);  // a name that changed once is no content hash
      continue;
    }
    if (was->second.media_type.starts_with("text/html") || was->second.hash == entry.hash) {
      continue;  // HTML always revalidates; the same bytes keep their promise
    }
    guard.short_cache.insert(path);
    if (++found <= kMaxImmutableWarnings) {
      guard.warnings.push_back(fmt::format(
          "{} changed, but its name looks content-hashed and live version {} serves it as "
          "immutable: browsers that cached it keep the old content for up to a year. This "
          "version serves it with the site's short max-age; give changed content a new name",
          path, pointer->version));
    }
  }
  if (found > kMaxImmutableWarnings) {
    guard.warnings.push_back(
        fmt::format("{} more files changed under names served as immutable; they too are "
                    "served with the short max-age",
                    found - kMaxImmutableWarnings));
  }
  return guard;
}

}  // namespace cutover
