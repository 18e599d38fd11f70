#include "cutover/pipeline/activate.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "cutover/common/names.h"
#include "cutover/store/manifest.h"

namespace cutover {

Result<std::optional<LivePointer>> readLivePointer(PointerStore& pointers,
                                                   const std::string& site) {
  auto raw = pointers.get(liveKey(site));
  if (!raw) return tl::unexpected(raw.error());
  if (!*raw) return std::optional<LivePointer>{};
  auto parsed = LivePointer::fromJson(**raw);
  if (!parsed) return tl::unexpected(parsed.error());
  return std::optional<LivePointer>{std::move(*parsed)};
}

Result<void> requireVersion(ObjectStore& objects, const std::string& site,
                            const std::string& version) {
  if (auto ok = validateSiteName(site); !ok) return tl::unexpected(ok.error());
  if (auto ok = validateVersionId(version); !ok) return tl::unexpected(ok.error());
  // Invariant: the pointer only names a version whose manifest is committed (and the manifest
  // is committed only after its blobs are durable).
  if (auto manifest = objects.readManifest(site, version); !manifest) {
    if (manifest.error().code == Errc::not_found) {
      return fail(Errc::not_found, fmt::format("site {} has no version {}", site, version));
    }
    return tl::unexpected(manifest.error());
  }
  return {};
}

Result<LivePointer> flipPointer(PointerStore& pointers, const std::string& site,
                                const std::string& version,
                                const std::optional<std::string>& expected_raw,
                                const std::string& by, std::optional<DeployLock> lock) {
  LivePointer next{version, "", nowRfc3339(), by};
  if (expected_raw) {
    // The version going out joins the pointer's list of retired versions in this same write:
    // gc keeps what was live within the pin window, and no crash can lose the record.
    if (auto current = LivePointer::fromJson(*expected_raw)) {
      next = current->next(version, next.since, by, std::time(nullptr));
    }
  }
  if (lock) next.lock = std::move(lock);
  if (auto set = pointers.compareAndSet(liveKey(site), expected_raw, next.toJson()); !set) {
    return tl::unexpected(set.error());
  }
  return next;
}

namespace {

Result<Flip> timedFlip(PointerStore& pointers, const std::string& site, const std::string& version,
                       const std::optional<std::string>& expected_raw, const std::string& by,
                       std::optional<DeployLock> lock) {
  auto start = std::chrono::steady_clock::now();
  auto flipped = flipPointer(pointers, site, version, expected_raw, by, std::move(lock));
  auto elapsed = std::chrono::steady_clock::now() - start;
  if (!flipped) return tl::unexpected(flipped.error());
  return Flip{std::move(*flipped), std::chrono::duration<double, std::milli>(elapsed).count()};
}

}  // namespace

DeployLock lockForFlip(const std::string& what, const std::string& by) {
  return DeployLock{"locked by the " + what + ", so the next deploy does not undo it", by,
                    nowRfc3339()};
}

Result<Flip> activateVersion(ObjectStore& objects, PointerStore& pointers, const std::string& site,
                             const std::string& version, std::optional<DeployLock> lock) {
  if (auto ok = requireVersion(objects, site, version); !ok) return tl::unexpected(ok.error());
  auto raw = pointers.get(liveKey(site));
  if (!raw) return tl::unexpected(raw.error());
  return timedFlip(pointers, site, version, *raw, "activate", std::move(lock));
}

Result<Flip> rollback(ObjectStore& objects, PointerStore& pointers, const std::string& site,
                      std::optional<DeployLock> lock) {
  auto raw = pointers.get(liveKey(site));
  if (!raw) return tl::unexpected(raw.error());
  if (!*raw) return fail(Errc::not_found, fmt::format("site {} has no live version", site));
  auto current = LivePointer::fromJson(**raw);
  if (!current) return tl::unexpected(current.error());
  if (current->previous.empty()) {
    return fail(Errc::invalid_argument,
                fmt::format("site {} has no previous version to roll back to (live: {})", site,
                            current->version));
  }
  if (auto ok = requireVersion(objects, site, current->previous); !ok) {
    return tl::unexpected(ok.error());
  }
  return timedFlip(pointers, site, current->previous, *raw, "rollback", std::move(lock));
}

}  // namespace cutover
