#include "edge/routing_state.h"

#include <algorithm>

#include "common/log.h"
#include "cutover/common/names.h"
#include "cutover/pointer/aliases.h"
#include "cutover/pointer/records.h"
#include "edge/http_date.h"

namespace cutover::edge {
namespace {

// The versions `pointer` records as live before its own (SiteInput::retired): its `retired` list,
// and its `previous` in front, retired at the flip, if a pointer written before the list existed
// names it alone.
std::shared_ptr<const std::vector<RetiredVersion>> retiredOf(const LivePointer& pointer) {
  std::vector<RetiredVersion> retired;
  retired.reserve(pointer.retired.size() + 1);
  const std::string& previous = pointer.previous;
  auto named = [&](const RetiredVersion& r) { return r.version == previous; };
  if (!previous.empty() && previous != pointer.version &&
      std::none_of(pointer.retired.begin(), pointer.retired.end(), named)) {
    retired.push_back({previous, parseRfc3339(pointer.since).value_or(std::time(nullptr))});
  }
  for (const auto& r : pointer.retired) {
    if (r.version != pointer.version) retired.push_back(r);
  }
  if (retired.empty()) return nullptr;
  return std::make_shared<const std::vector<RetiredVersion>>(std::move(retired));
}

bool sameRetired(const std::shared_ptr<const std::vector<RetiredVersion>>& a,
                 const std::shared_ptr<const std::vector<RetiredVersion>>& b) {
  return a && b ? *a == *b : a == b;
}

}  // namespace

RoutingState::RoutingState(ObjectStorePtr objects, PointerStorePtr pointers,
                           std::string preview_domain)
    : objects_(std::move(objects)),
      pointers_(std::move(pointers)),
      preview_domain_(std::move(preview_domain)),
      table_(std::make_shared<const RoutingTable>(std::map<std::string, RoutingTable::SiteInput>{},
                                                  preview_domain_)) {}

RoutingState::~RoutingState() { stop(); }

Result<void> RoutingState::start() {
  {
    std::lock_guard lock(mutex_);
    seeding_ = true;
    seen_while_seeding_.clear();
  }
  auto watch = pointers_->watch("", [this](const PointerEvent& event) { apply(event); });
  if (!watch) return tl::unexpected(watch.error());
  auto all = pointers_->list("");
  std::lock_guard lock(mutex_);
  watch_ = std::move(*watch);
  seeding_ = false;
  if (!all) return tl::unexpected(all.error());
  for (const auto& [key, value] : *all) {
    // A watch event that arrived while listing is at least as new as the listing.
    if (seen_while_seeding_.contains(key)) continue;
    applyLocked(key, value);
  }
  seen_while_seeding_.clear();
  publishLocked();
  return {};
}

void RoutingState::stop() {
  WatchHandlePtr watch;
  {
    std::lock_guard lock(mutex_);
    watch = std::move(watch_);
  }
  // Destroyed outside mutex_: it waits for a running callback, which may be waiting for mutex_.
  watch.reset();
}

void RoutingState::apply(const PointerEvent& event) {
  std::lock_guard lock(mutex_);
  if (seeding_) seen_while_seeding_.insert(event.key);
  if (applyLocked(event.key, event.value)) publishLocked();
}

bool RoutingState::applyLocked(const std::string& key, const std::optional<std::string>& value) {
  std::string_view k = key;
  std::string_view prefix;
  if (k.starts_with(kGonePrefix)) {
    // gone/<site>/<version>: deleted; the table names live versions only, so it keeps.
    auto named = siteAndVersion(k.substr(kGonePrefix.size()));
    if (value && named) forgetVersion(named->first, named->second);
    return false;
  }
  if (k.starts_with(kPreviewPrefix)) {
    auto named = siteAndVersion(k.substr(kPreviewPrefix.size()));
    return named && applyPreview(named->first, named->second, value);
  }
  if (k.starts_with(kAliasPrefix)) {
    auto named = siteAndVersion(k.substr(kAliasPrefix.size()));
    return named && applyAlias(named->first, named->second, value);
  }
  if (k.starts_with(kLivePrefix)) {
    prefix = kLivePrefix;
  } else if (k.starts_with(kSitePrefix)) {
    prefix = kSitePrefix;
  } else {
    return false;  // not a key the edge routes by
  }
  std::string site(k.substr(prefix.size()));
  if (!validateSiteName(site)) return false;
  bool changed = prefix == kLivePrefix ? applyLive(site, value) : applySettings(site, value);
  forgetIfEmpty(site);
  return changed;
}

void RoutingState::forgetIfEmpty(std::string_view site) {
  auto it = sites_.find(site);
  if (it == sites_.end()) return;
  const SiteState& state = it->second;
  if (!state.has_live && !state.has_settings && state.previews.empty() && state.aliases.empty()) {
    sites_.erase(it);
  }
}

bool RoutingState::applyAlias(std::string_view site, std::string_view name,
                              const std::optional<std::string>& value) {
  if (!validateSiteName(site) || !validateVersionId(name)) return false;
  std::optional<AliasRoute> route;
  if (value) {
    auto alias = AliasPointer::fromJson(*value);
    if (!alias || !validateVersionId(alias->pointer.version)) {
      log::warn("cutover edge: alias/{}/{} is unreadable; it does not answer", site, name);
    } else {
      route = AliasRoute{alias->pointer.version, alias->until, retiredOf(alias->pointer)};
    }
  }
  auto it = sites_.find(site);
  if (!route && (it == sites_.end() || !it->second.aliases.contains(name))) return false;
  SiteState& state = it != sites_.end() ? it->second : sites_[std::string(site)];
  if (route) {
    state.aliases.insert_or_assign(std::string(name), std::move(*route));
  } else {
    state.aliases.erase(state.aliases.find(name));
  }
  state.input.aliases =
      state.aliases.empty() ? nullptr : std::make_shared<const AliasRoutes>(state.aliases);
  forgetIfEmpty(site);
  return true;
}

bool RoutingState::applyPreview(std::string_view site, std::string_view version,
                                const std::optional<std::string>& value) {
  if (!validateSiteName(site) || !validateVersionId(version)) return false;
  std::optional<std::int64_t> until;
  if (value) {
    until = parseUnixSeconds(*value);
    if (!until) {
      log::warn("cutover edge: preview/{}/{} holds no time; its preview stays closed", site,
                version);
    }
  }
  auto it = sites_.find(site);
  if (!until && (it == sites_.end() || !it->second.previews.contains(version))) return false;
  SiteState& state = it != sites_.end() ? it->second : sites_[std::string(site)];
  if (until) {
    state.previews.insert_or_assign(std::string(version), *until);
  } else {
    state.previews.erase(state.previews.find(version));
  }
  state.input.previews =
      state.previews.empty() ? nullptr : std::make_shared<const PreviewLinks>(state.previews);
  forgetIfEmpty(site);
  return true;
}

bool RoutingState::applyLive(const std::string& site, const std::optional<std::string>& value) {
  if (!value) {
    // cutover never removes a live pointer: one that vanishes was lost with the store's data (a
    // Redis restarted without persistence, a wiped etcd). Serving on is what keeps the site up;
    // the next deploy or activate writes the pointer again.
    auto it = sites_.find(site);
    if (it != sites_.end() && it->second.has_live) {
      log::warn(
          "cutover edge: live/{} vanished from the pointer store (did it restart without its "
          "data?); still serving {}",
          site, it->second.input.version);
    }
    return false;
  }
  auto pointer = LivePointer::fromJson(*value);
  if (!pointer) {
    log::warn("cutover edge: live/{}: {}; still serving the previous version", site,
              pointer.error().describe());
    return false;
  }
  SiteState& state = sites_[site];
  bool was_live = state.has_live;
  state.has_live = true;
  auto retired = retiredOf(*pointer);
  if (state.input.index && state.input.version == pointer->version) {
    // The same version: the flip was seen already, or gc took a deleted version off the list.
    bool changed = !was_live || state.input.since != pointer->since ||
                   !sameRetired(state.input.retired, retired);
    state.input.since = pointer->since;
    state.input.retired = std::move(retired);
    return changed;
  }
  auto index = loadVersion(site, pointer->version);
  if (!index) return !was_live;  // keeps the previous version (logged by loadVersion)
  if (state.input.index) {
    // Pages loaded from the version going out keep asking for it (skew protection): keep its
    // index at hand rather than read its manifest again.
    std::lock_guard lock(stored_mutex_);
    keepStoredLocked(site + "/" + state.input.version, state.input.index);
  }
  state.input.retired = std::move(retired);
  state.input.version = pointer->version;
  state.input.index = std::move(index);
  state.input.since = pointer->since;
  return true;
}

bool RoutingState::applySettings(const std::string& site, const std::optional<std::string>& value) {
  if (!value) {
    // Never removed by cutover either (see applyLive): keep answering at the site's hosts.
    auto it = sites_.find(site);
    if (it != sites_.end() && it->second.has_settings) {
      log::warn("cutover edge: site/{} vanished from the pointer store; keeping its hosts", site);
    }
    return false;
  }
  auto settings = SiteSettings::fromJson(*value);
  if (!settings) {
    log::warn("cutover edge: site/{}: {}; keeping its previous hosts", site,
              settings.error().describe());
    return false;
  }
  SiteState& state = sites_[site];
  state.has_settings = true;
  state.input.settings = std::move(*settings);
  return true;
}

std::shared_ptr<const VersionIndex> RoutingState::loadVersion(const std::string& site,
                                                              const std::string& version) {
  std::string id = site + "/" + version;
  if (auto it = loaded_.find(id); it != loaded_.end()) {
    if (auto index = it->second.lock()) return index;
  }
  auto manifest = objects_->readManifest(site, version);
  if (!manifest) {
    log::error("cutover edge: cannot load version {} of site {}: {}", version, site,
               manifest.error().describe());
    return nullptr;
  }
  if (manifest->site != site || manifest->version != version) {
    log::error("cutover edge: the manifest stored as {} is version {} of site {}", id,
               manifest->version, manifest->site);
    return nullptr;
  }
  auto index = std::make_shared<const VersionIndex>(*manifest);
  loaded_[id] = index;
  return index;
}

std::shared_ptr<const VersionIndex> RoutingState::storedVersion(const SiteRoute& site,
                                                                std::string_view version) const {
  using Clock = std::chrono::steady_clock;
  constexpr auto kRememberMissing = std::chrono::seconds(3);
  if (site.version == version) return site.index;
  if (!validateVersionId(version)) return nullptr;
  // The key, built in a buffer each thread reuses: pinned requests come by the thousand.
  thread_local std::string id;
  id.assign(site.site);
  id.push_back('/');
  id.append(version);
  {
    std::lock_guard lock(stored_mutex_);
    if (gone_.contains(id)) return nullptr;
    if (auto it = stored_.find(id); it != stored_.end()) {
      if (it->second.index || Clock::now() - it->second.loaded < kRememberMissing) {
        it->second.last_used = ++stored_clock_;
        return it->second.index;
      }
    }
  }
  // Read outside the lock: other requests go on meanwhile. Two first requests for one version
  // may both read it; the second insert keeps the first's index.
  std::shared_ptr<const VersionIndex> index;
  auto manifest = objects_->readManifest(site.site, std::string(version));
  if (manifest && manifest->site == site.site && manifest->version == version) {
    index = std::make_shared<const VersionIndex>(*manifest);
  } else if (!manifest && manifest.error().code != Errc::not_found) {
    // The store failed, which says nothing about the version: not remembered as missing.
    log::error("cutover edge: cannot load version {} of site {}: {}", version, site.site,
               manifest.error().describe());
    return nullptr;
  }
  std::lock_guard lock(stored_mutex_);
  if (gone_.contains(id)) return nullptr;  // deleted while it was being read
  return keepStoredLocked(id, std::move(index));
}

void RoutingState::forgetVersion(std::string_view site, std::string_view version) const {
  std::string id = std::string(site) + "/" + std::string(version);
  std::lock_guard lock(stored_mutex_);
  stored_.erase(id);
  if (!gone_.insert(id).second) return;
  gone_order_.push_back(std::move(id));
  if (gone_order_.size() > kGoneRemembered) {
    gone_.erase(gone_order_.front());
    gone_order_.pop_front();
  }
}

std::shared_ptr<const VersionIndex> RoutingState::keepStoredLocked(
    const std::string& id, std::shared_ptr<const VersionIndex> index) const {
  auto& entry = stored_[id];
  if (!entry.index) entry = StoredEntry{std::move(index), std::chrono::steady_clock::now(), 0};
  entry.last_used = ++stored_clock_;
  auto result = entry.index;
  while (stored_.size() > kStoredVersionsKept) {
    auto oldest = stored_.begin();
    for (auto it = stored_.begin(); it != stored_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    stored_.erase(oldest);
  }
  return result;
}

void RoutingState::publishLocked() {
  std::map<std::string, RoutingTable::SiteInput> inputs;
  for (const auto& [site, state] : sites_) inputs.emplace(site, state.input);
  auto table = std::make_shared<const RoutingTable>(inputs, preview_domain_);
  {
    std::lock_guard lock(table_mutex_);
    table_.swap(table);
  }
  table.reset();  // the old table, unless requests still hold it; freed outside table_mutex_
  std::erase_if(loaded_, [](const auto& entry) { return entry.second.expired(); });
}

}  // namespace cutover::edge
