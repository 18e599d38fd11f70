#include "edge/routing_state.h"

#include <cstdio>

#include "cutover/common/names.h"
#include "cutover/pointer/records.h"

namespace cutover::edge {

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
  if (auto it = sites_.find(site); it != sites_.end()) {
    if (!it->second.has_live && !it->second.has_settings) sites_.erase(it);
  }
  return changed;
}

bool RoutingState::applyLive(const std::string& site, const std::optional<std::string>& value) {
  if (!value) {
    auto it = sites_.find(site);
    if (it == sites_.end() || !it->second.has_live) return false;
    it->second.has_live = false;
    it->second.input.version.clear();
    it->second.input.index.reset();
    return true;
  }
  auto pointer = LivePointer::fromJson(*value);
  if (!pointer) {
    std::fprintf(stderr, "cutover edge: live/%s: %s; still serving the previous version\n",
                 site.c_str(), pointer.error().describe().c_str());
    return false;
  }
  SiteState& state = sites_[site];
  bool was_live = state.has_live;
  state.has_live = true;
  if (state.input.index && state.input.version == pointer->version) return !was_live;
  auto index = loadVersion(site, pointer->version);
  if (!index) return !was_live;  // keeps the previous version (logged by loadVersion)
  state.input.version = pointer->version;
  state.input.index = std::move(index);
  return true;
}

bool RoutingState::applySettings(const std::string& site,
                                 const std::optional<std::string>& value) {
  if (!value) {
    auto it = sites_.find(site);
    if (it == sites_.end() || !it->second.has_settings) return false;
    it->second.has_settings = false;
    it->second.input.hosts.clear();
    return true;
  }
  auto settings = SiteSettings::fromJson(*value);
  if (!settings) {
    std::fprintf(stderr, "cutover edge: site/%s: %s; keeping its previous hosts\n", site.c_str(),
                 settings.error().describe().c_str());
    return false;
  }
  SiteState& state = sites_[site];
  state.has_settings = true;
  state.input.hosts = std::move(settings->hosts);
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
    std::fprintf(stderr, "cutover edge: cannot load version %s of site %s: %s\n", version.c_str(),
                 site.c_str(), manifest.error().describe().c_str());
    return nullptr;
  }
  if (manifest->site != site || manifest->version != version) {
    std::fprintf(stderr, "cutover edge: the manifest stored as %s is version %s of site %s\n",
                 id.c_str(), manifest->version.c_str(), manifest->site.c_str());
    return nullptr;
  }
  auto index = std::make_shared<const VersionIndex>(*manifest);
  loaded_[id] = index;
  return index;
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
