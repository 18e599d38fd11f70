#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "cutover/common/result.h"
#include "cutover/pipeline/source_limits.h"

namespace cutover {

// Where a folder's file lives on disk, for the stat cache: a file whose identity is unchanged
// since it was last hashed has the same hash.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
};

// One regular file of a deploy.
struct SourceEntry {
  std::string path;  // normalized (see normalizeSitePath)
  std::uint64_t size = 0;
  std::filesystem::path disk_path;  // folder sources only: the file to read; empty for archives
  FileIdentity identity;            // folder sources only
};

// Reads the bytes of the entry being visited. Returns 0 at the end of the entry.
class EntryReader {
 public:
  virtual ~EntryReader() = default;
  [[nodiscard]] virtual Result<std::size_t> read(std::span<std::byte> buffer) = 0;
};

// How far a source has been read: `done` of `total` units (bytes of the folder's files, or of
// the archive file as read from disk).
using SourceProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// The files of one deploy, from a folder or an archive, read once, front to back.
class Source {
 public:
  virtual ~Source() = default;

  // A short description for history and logs: the folder path or the archive's file name.
  [[nodiscard]] virtual std::string describe() const = 0;

  // Calls `visit` once per regular file, in a stable order. `visit` may read the entry through
  // the reader, or not (a folder's unchanged file need not be read). Stops at the first error,
  // from the source (bad_archive, too_large, invalid_argument naming the entry, io) or from
  // `visit`, and returns it. A source that ends early or is corrupt fails; it never yields a
  // partial list as success.
  [[nodiscard]] virtual Result<void> forEach(
      const std::function<Result<void>(const SourceEntry&, EntryReader&)>& visit,
      const SourceProgress& progress = {}) = 0;
};

// Opens a deploy source: a folder, or a .zip, .tar, .tar.gz or .tgz archive (recognized by
// content, not by name). not_found if the path does not exist; bad_archive if it is a file that
// is not a readable archive.
[[nodiscard]] Result<std::unique_ptr<Source>> openSource(const std::filesystem::path& path,
                                                         const SourceLimits& limits = {});

}  // namespace cutover
