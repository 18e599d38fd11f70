#include "edge/routing_table.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.h"
#include "cutover/common/names.h"
#include "edge/cache_policy.h"
#include "edge/http_date.h"

namespace cutover::edge {

namespace {

std::string httpDateOf(std::string_view rfc3339) {
  auto t = parseRfc3339(rfc3339);
  return t ? formatHttpDate(*t) : std::string();
}

}  // namespace

VersionIndex::VersionIndex(const Manifest& manifest)
    : site_(manifest.site),
      version_(manifest.version),
      created_(httpDateOf(manifest.created)),
      rules_(manifest.rules) {
  if (rules_.skipped() > 0) {
    log::warn("cutover edge: version {} of site {}: {} rules do not compile; skipped", version_,
              site_, rules_.skipped());
  }
  files_.reserve(manifest.files.size());
  for (const auto& [path, entry] : manifest.files) {
    IndexedFile file{entry, path, fmt::format("\"{}\"", entry.hash), {}, {}};
    file.immutable_name = hasContentHashName(path) && !manifest.short_cache.contains(path);
    if (entry.br.present()) file.br_etag = fmt::format("\"{}\"", entry.br.hash);
    if (entry.gzip.present()) file.gzip_etag = fmt::format("\"{}\"", entry.gzip.hash);
    files_.emplace(path, std::move(file));
  }
}

const IndexedFile* VersionIndex::find(std::string_view key) const {
  auto it = files_.find(key);
  return it == files_.end() ? nullptr : &it->second;
}

bool SiteRoute::hasBeenLive(std::string_view v) const {
  if (!version.empty() && v == version) return true;
  return retired && std::any_of(retired->begin(), retired->end(),
                                [&](const RetiredVersion& r) { return r.version == v; });
}

bool AliasRoute::hasNamed(std::string_view v) const {
  if (v == version) return true;
  return retired && std::any_of(retired->begin(), retired->end(),
                                [&](const RetiredVersion& r) { return r.version == v; });
}

const AliasRoute* SiteRoute::findAlias(std::string_view name, std::int64_t now) const {
  if (!aliases) return nullptr;
  auto it = aliases->find(name);
  return it != aliases->end() && it->second.until > now ? &it->second : nullptr;
}

bool SiteRoute::previewOpen(std::string_view v, std::int64_t now) const {
  if (!version.empty() && v == version) return true;
  if (!previews) return false;
  auto it = previews->find(v);
  return it != previews->end() && it->second > now;
}

RoutingTable::RoutingTable(const std::map<std::string, SiteInput>& sites,
                           std::string_view preview_domain) {
  for (const auto& [name, input] : sites) {
    auto [it, inserted] =
        sites_.emplace(name, SiteRoute{name, input.version, input.index, httpDateOf(input.since),
                                       input.settings, shortMaxAge(input.settings.max_age),
                                       input.retired, input.previews, input.aliases});
    const SiteRoute* route = &it->second;
    auto claim = [&](std::string host) {
      if (host.empty()) return;
      auto [h, fresh] = hosts_.emplace(std::move(host), route);
      if (!fresh && h->second != route) {
        log::warn("cutover edge: host {} is claimed by sites {} and {}; {} keeps it", h->first,
                  h->second->site, route->site, h->second->site);
      }
    };
    claim(normalizeHost(fmt::format("{}.{}", name, preview_domain)));
    for (const auto& host : input.settings.hosts) claim(normalizeHost(host));
  }
}

const SiteRoute* RoutingTable::findHost(std::string_view host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : it->second;
}

const SiteRoute* RoutingTable::findSite(std::string_view site) const {
  auto it = sites_.find(site);
  return it == sites_.end() ? nullptr : &it->second;
}

}  // namespace cutover::edge
