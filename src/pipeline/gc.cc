#include "cutover/pipeline/gc.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <set>
#include <unordered_set>

#include "cutover/pointer/records.h"

namespace cutover {

Result<StoreLock> StoreLock::acquire(const std::filesystem::path& file, Mode mode) {
  if (file.empty()) return StoreLock(UniqueFd());
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return failErrno("open lock " + file.string(), errno);
  int op = mode == Mode::shared ? LOCK_SH : LOCK_EX;
  while (::flock(fd.get(), op) != 0) {
    if (errno != EINTR) return failErrno("lock " + file.string(), errno);
  }
  return StoreLock(std::move(fd));
}

Result<GcReport> collectGarbage(ObjectStore& objects, PointerStore& pointers,
                                const GcOptions& options) {
  GcReport report;

  // Versions any pointer names, live or previous, are never collected.
  auto live = pointers.list(std::string(kLivePrefix));
  if (!live) return tl::unexpected(live.error());
  std::set<std::pair<std::string, std::string>> named;
  for (const auto& [key, value] : *live) {
    std::string site = key.substr(kLivePrefix.size());
    auto pointer = LivePointer::fromJson(value);
    if (!pointer) {
      return fail(Errc::invalid_argument,
                  "pointer " + key + " is unreadable; refusing to collect anything");
    }
    named.emplace(site, pointer->version);
    if (!pointer->previous.empty()) named.emplace(site, pointer->previous);
  }

  auto sites = objects.listSites();
  if (!sites) return tl::unexpected(sites.error());
  std::unordered_set<std::string> referenced;
  for (const auto& site : *sites) {
    auto versions = objects.listVersions(site);
    if (!versions) return tl::unexpected(versions.error());
    for (std::size_t i = 0; i < versions->size(); ++i) {
      const auto& version = (*versions)[i].version;
      bool keep = i < options.keep || named.contains({site, version});
      if (!keep) {
        report.removed_versions.push_back(site + "/" + version);
        if (!options.dry_run) {
          if (auto gone = objects.deleteManifest(site, version); !gone) {
            return tl::unexpected(gone.error());
          }
        }
        continue;
      }
      ++report.kept_versions;
      auto manifest = objects.readManifest(site, version);
      if (!manifest) return tl::unexpected(manifest.error());
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
    if (referenced.contains(hash)) {
      ++report.kept_blobs;
      continue;
    }
    ++report.removed_blobs;
    if (!options.dry_run) {
      if (auto gone = objects.deleteBlob(hash); !gone) return tl::unexpected(gone.error());
    }
  }
  if (!options.dry_run) {
    auto leftovers = objects.removeLeftovers();
    if (!leftovers) return tl::unexpected(leftovers.error());
    report.removed_leftovers = *leftovers;
  }
  return report;
}

}  // namespace cutover
