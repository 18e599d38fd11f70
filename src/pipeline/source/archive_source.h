#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "cutover/pipeline/source.h"

namespace cutover {

// A deploy read from a zip, tar or gzip-compressed tar, streamed entry by entry with libarchive
// and never extracted to disk. Zips are read through their central directory, so a cut-off upload
// fails instead of yielding its first half. Every entry is checked before it is visited: its name
// (normalizeSitePath), its type (files only; folders are skipped; links, devices and FIFOs fail),
// duplicates, and the limits. Any hostile or broken entry fails the whole deploy with bad_archive
// (too_large for the limits), naming the entry. Bytes a visitor leaves unread are read and dropped
// rather than skipped, so a zip entry's CRC and size are checked whether or not it was read. A tar
// must end with its end-of-archive blocks: one cut exactly between two entries is truncated.
class ArchiveSource final : public Source {
 public:
  // Fails with bad_archive unless `file` is a zip, tar or tar.gz that libarchive can start reading.
  [[nodiscard]] static Result<std::unique_ptr<ArchiveSource>> open(
      const std::filesystem::path& file, const SourceLimits& limits);

  [[nodiscard]] std::string describe() const override;
  [[nodiscard]] Result<void> forEach(
      const std::function<Result<void>(const SourceEntry&, EntryReader&)>& visit,
      const SourceProgress& progress = {}) override;  // the same default as Source's

 private:
  ArchiveSource(std::filesystem::path file, std::uint64_t file_size, SourceLimits limits)
      : file_(std::move(file)), file_size_(file_size), limits_(limits) {}

  std::filesystem::path file_;
  std::uint64_t file_size_;
  SourceLimits limits_;
};

}  // namespace cutover
