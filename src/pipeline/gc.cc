#include "cutover/pipeline/gc.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_set>

#include "cutover/common/names.h"
#include "cutover/pipeline/schedule.h"
#include "cutover/pointer/aliases.h"
#include "pipeline/store_lock.h"
#include "runs/history.h"

namespace cutover {

Result<GcReport> collectGarbage(ObjectStore& objects, PointerStore& pointers,
                                const GcOptions& options) {
  GcReport report;
  std::optional<FleetLease> lease;
  if (!options.dry_run) {
    auto taken = FleetLease::take(pointers, FleetLease::Kind::gc, "gc");
    if (!taken) return tl::unexpected(taken.error());
    lease.emplace(std::move(*taken));
  }
  const std::int64_t started_ms = nowUnixMs();
  const std::int64_t now = started_ms / 1000;

  // Deploys running anywhere (listed after the gc lease is written: one that starts later sees
  // the gc lease and waits). While any runs no blob goes, and nothing made since it started.
  auto leases = listLeases(pointers, kDeployLeasePrefix);
  if (!leases) return tl::unexpected(leases.error());
  std::int64_t newest_kept_ms = started_ms;  // versions made from here on are kept
  std::set<std::pair<std::string, std::string>> named;
  for (const auto& [key, held] : *leases) {
    if (!leaseAlive(held, started_ms)) continue;
    report.running_deploys.push_back(describeLease(held));
    newest_kept_ms =
        std::min(newest_kept_ms, held.started_ms - options.clock_margin_seconds * 1000);
    if (!held.site.empty() && !held.version.empty()) named.emplace(held.site, held.version);
  }
  const bool deploys_running = !report.running_deploys.empty();

  // Versions any pointer names, live or previous, or that were live within the pin window.
  auto live = pointers.list(std::string(kLivePrefix));
  if (!live) return tl::unexpected(live.error());
  for (const auto& [key, value] : *live) {
    std::string site = key.substr(kLivePrefix.size());
    auto pointer = LivePointer::fromJson(value);
    if (!pointer) {
      return fail(Errc::invalid_argument,
                  "pointer " + key + " is unreadable; refusing to collect anything");
    }
    named.emplace(site, pointer->version);
    if (!pointer->previous.empty()) named.emplace(site, pointer->previous);
    for (auto& v : versionsLiveWithin(*pointer, now, options.pin_window_seconds)) {
      named.emplace(site, std::move(v));
    }
  }

  // Versions whose preview link is open (by the issuer's clock, plus the margin): someone may
  // open the link. Links long expired are records to remove.
  auto previews = pointers.list(std::string(kPreviewPrefix));
  if (!previews) return tl::unexpected(previews.error());
  std::vector<std::pair<std::string, std::string>> expired_links;  // key, value
  for (const auto& [key, value] : *previews) {
    auto named_version = siteAndVersion(std::string_view(key).substr(kPreviewPrefix.size()));
    auto until = parseUnixSeconds(value);
    if (named_version && until && *until > now - options.clock_margin_seconds) {
      named.emplace(named_version->first, named_version->second);
    } else {
      expired_links.emplace_back(key, value);
    }
  }

  // Versions a preview alias names, or named within the pin window (a page loaded from one may
  // still ask for its files), while the alias is open. Aliases long expired are records to remove.
  auto aliases = pointers.list(std::string(kAliasPrefix));
  if (!aliases) return tl::unexpected(aliases.error());
  std::vector<std::pair<std::string, std::string>> expired_aliases;  // key, value
  for (const auto& [key, value] : *aliases) {
    auto named_alias = siteAndVersion(std::string_view(key).substr(kAliasPrefix.size()));
    auto alias = AliasPointer::fromJson(value);
    if (!named_alias || !alias) continue;  // unreadable: the edges do not serve it either
    if (alias->until <= now - options.clock_margin_seconds) {
      expired_aliases.emplace_back(key, value);
      continue;
    }
    std::string site(named_alias->first);
    for (auto& v : versionsLiveWithin(alias->pointer, now, options.pin_window_seconds)) {
      named.emplace(site, std::move(v));
    }
  }

  // Versions scheduled to go live (`cutover schedule`).
  auto schedules = listSchedules(pointers);
  if (!schedules) return tl::unexpected(schedules.error());
  for (auto& [site, flip] : *schedules) named.emplace(site, std::move(flip.version));

  auto sites = objects.listSites();
  if (!sites) return tl::unexpected(sites.error());
  std::unordered_set<std::string> referenced;
  for (const auto& site : *sites) {
    auto versions = objects.listVersions(site);
    if (!versions) return tl::unexpected(versions.error());
    for (std::size_t i = 0; i < versions->size(); ++i) {
      const auto& info = (*versions)[i];
      // Made since gc began or since a running deploy started (by the maker's clock, less a
      // margin): about to be flipped live, or just flipped. Unreadable times count as new.
      auto made = rfc3339Ms(info.created);
      bool recent = !made || *made >= newest_kept_ms;
      bool keep = i < options.keep || recent || named.contains({site, info.version});
      if (!keep) {
        report.removed_versions.push_back(site + "/" + info.version);
        if (!options.dry_run) {
          // Recorded gone first: every edge forgets the version before a file of it vanishes.
          auto key = goneKey(site, info.version);
          auto recorded = pointers.compareAndSet(key, std::nullopt, std::to_string(now));
          if (!recorded && recorded.error().code != Errc::conflict) {
            return tl::unexpected(recorded.error());
          }
          if (auto gone = objects.deleteManifest(site, info.version); !gone) {
            return tl::unexpected(gone.error());
          }
        }
        continue;
      }
      ++report.kept_versions;
      auto manifest = objects.readManifest(site, info.version);
      if (!manifest) {
        if (manifest.error().code == Errc::not_found) continue;  // deleted meanwhile
        return tl::unexpected(manifest.error());
      }
      for (const auto& [path, entry] : manifest->files) {
        referenced.insert(entry.hash);
        // The precompressed forms are blobs of their own, kept and removed with their version.
        if (entry.br.present()) referenced.insert(entry.br.hash);
        if (entry.gzip.present()) referenced.insert(entry.gzip.hash);
      }
    }
  }

  auto blobs = objects.listBlobs();
  if (!blobs) return tl::unexpected(blobs.error());
  for (const auto& hash : *blobs) {
    // A running deploy may have just stored a blob, or found one stored and counted on it.
    if (deploys_running || referenced.contains(hash)) {
      ++report.kept_blobs;
      continue;
    }
    ++report.removed_blobs;
    if (!options.dry_run) {
      if (auto gone = objects.deleteBlob(hash); !gone) return tl::unexpected(gone.error());
    }
  }
  if (!options.dry_run && !deploys_running) {
    auto leftovers = objects.removeLeftovers();
    if (!leftovers) return tl::unexpected(leftovers.error());
    report.removed_leftovers = *leftovers;
  }

  // Old records: gone versions every edge has long forgotten, leases of holders long dead,
  // preview links expired.
  if (!options.dry_run) {
    for (const auto& [key, value] : expired_links) {
      (void)pointers.compareAndSet(key, value, std::nullopt);  // renewed meanwhile: it stays
    }
    for (const auto& [key, value] : expired_aliases) {
      if (pointers.compareAndSet(key, value, std::nullopt)) {  // moved meanwhile: it stays
        report.removed_aliases.push_back(key.substr(kAliasPrefix.size()));
      }
    }
    if (auto gone = pointers.list(std::string(kGonePrefix))) {
      for (const auto& [key, value] : *gone) {
        std::int64_t at = std::strtoll(value.c_str(), nullptr, 10);
        if (now - at > kGoneKeptSeconds) (void)pointers.compareAndSet(key, value, std::nullopt);
      }
    }
    for (auto prefix : {kDeployLeasePrefix, kGcLeasePrefix}) {
      auto raw = pointers.list(std::string(prefix));
      if (!raw) continue;
      for (const auto& [key, value] : *raw) {
        auto held = Lease::fromJson(value);
        if (held && leaseAlive(*held, started_ms - 3600 * 1000)) continue;
        (void)pointers.compareAndSet(key, value, std::nullopt);
      }
    }
  }
  return report;
}

Result<void> deleteVersion(ObjectStore& objects, PointerStore& pointers, const std::string& site,
                           const std::string& version) {
  if (auto ok = validateSiteName(site); !ok) return ok;
  if (auto ok = validateVersionId(version); !ok) return ok;
  if (auto manifest = objects.readManifest(site, version); !manifest) {
    if (manifest.error().code == Errc::not_found) {
      return fail(Errc::not_found, fmt::format("site {} has no version {}", site, version));
    }
    return tl::unexpected(manifest.error());
  }
  // Out of the live pointer first (compare-and-set, again from a fresh read if it changed): a
  // flip that makes the version live between the check and the delete is refused this way.
  for (int attempt = 0;; ++attempt) {
    if (attempt == 10) {
      return fail(Errc::conflict,
                  fmt::format("the pointer of site {} kept changing; try again", site));
    }
    auto raw = pointers.get(liveKey(site));
    if (!raw) return tl::unexpected(raw.error());
    if (!*raw) break;
    auto pointer = LivePointer::fromJson(**raw);
    if (!pointer) return tl::unexpected(pointer.error());
    if (pointer->version == version) {
      return fail(Errc::invalid_argument,
                  fmt::format("version {} is live on site {}; make another version live first "
                              "(cutover activate or rollback), then delete it",
                              version, site));
    }
    bool named = pointer->previous == version;
    if (named) pointer->previous.clear();
    auto before = pointer->retired.size();
    std::erase_if(pointer->retired, [&](const RetiredVersion& r) { return r.version == version; });
    if (!named && before == pointer->retired.size()) break;
    auto set = pointers.compareAndSet(liveKey(site), *raw, pointer->toJson());
    if (set) break;
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  auto now = std::time(nullptr);
  auto key = goneKey(site, version);
  auto recorded = pointers.compareAndSet(key, std::nullopt, std::to_string(now));
  if (!recorded && recorded.error().code != Errc::conflict) return recorded;
  if (auto closed = setPreviewLink(pointers, site, version, 0, now); !closed) return closed;
  return objects.deleteManifest(site, version);
}

}  // namespace cutover
