#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cutover/common/fd.h"
#include "cutover/common/result.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/store/object_store.h"

namespace cutover {

// An advisory lock on the stores of one data folder: deploys and activations hold it shared,
// gc holds it exclusive, so gc never deletes a blob a running deploy has counted on.
class StoreLock {
 public:
  enum class Mode { shared, exclusive };
  // Blocks until the lock is granted. An empty path gives a lock that locks nothing.
  [[nodiscard]] static Result<StoreLock> acquire(const std::filesystem::path& file, Mode mode);

 private:
  explicit StoreLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

struct GcOptions {
  std::size_t keep = 10;  // newest versions kept per site, besides those a pointer names
  bool dry_run = false;   // report what would go, delete nothing
};

struct GcReport {
  std::vector<std::string> removed_versions;  // "site/version"
  std::size_t kept_versions = 0;
  std::size_t removed_blobs = 0;
  std::size_t kept_blobs = 0;
  std::size_t removed_leftovers = 0;  // temp files of interrupted writes
};

// Deletes versions that no pointer names (live or the previous one, which rollback needs) and
// that are not among the newest `keep` of their site, then every blob no remaining manifest
// names, then what interrupted writes left behind. Run under the exclusive StoreLock.
[[nodiscard]] Result<GcReport> collectGarbage(ObjectStore& objects, PointerStore& pointers,
                                              const GcOptions& options);

}  // namespace cutover
