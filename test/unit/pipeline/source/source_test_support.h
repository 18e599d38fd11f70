#pragma once

#include <archive_entry.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/pipeline/source.h"

namespace cutover::testing {

// One entry of an archive a test writes with libarchive.
struct ArchiveItem {
  std::string name;
  std::string data;
  unsigned type = AE_IFREG;  // AE_IFDIR, AE_IFLNK, AE_IFCHR, ...
  std::string link;          // symlink target, or hard link target when `hardlink`
  bool hardlink = false;
};

inline ArchiveItem file(std::string name, std::string data = "") {
  return ArchiveItem{std::move(name), std::move(data), AE_IFREG, "", false};
}
inline ArchiveItem folder(std::string name) {
  return ArchiveItem{std::move(name), "", AE_IFDIR, "", false};
}
inline ArchiveItem symlink(std::string name, std::string target) {
  return ArchiveItem{std::move(name), "", AE_IFLNK, std::move(target), false};
}
inline ArchiveItem hardlink(std::string name, std::string target) {
  return ArchiveItem{std::move(name), "", AE_IFREG, std::move(target), true};
}

enum class ArchiveKind { zip, tar, tgz };

// Writes `items` as a zip (deflated), a pax tar, or a gzip-compressed pax tar.
void writeArchive(const std::filesystem::path& file, ArchiveKind kind,
                  const std::vector<ArchiveItem>& items);

// Raw ustar blocks, for tars libarchive's writer would not produce: a header declaring `size`
// bytes with any name and type flag, file data padded to a block, and the end-of-archive blocks.
std::string ustarHeader(std::string_view name, std::uint64_t size, char typeflag = '0',
                        std::string_view link = "");
std::string ustarFile(std::string_view name, std::string_view data);
std::string tarEnd();

// What a visitor saw of one entry, bytes read through the EntryReader.
struct Seen {
  std::string path;
  std::uint64_t size = 0;
  std::string bytes;

  friend bool operator==(const Seen&, const Seen&) = default;
};

// Visits every entry, reading it fully through a buffer of `buffer_size` bytes.
Result<std::vector<Seen>> readAll(Source& source, std::size_t buffer_size = 256 * 1024);
// Visits every entry without reading any byte.
Result<std::vector<SourceEntry>> listAll(Source& source);
// openSource + readAll.
Result<std::vector<Seen>> readAll(const std::filesystem::path& path,
                                  const SourceLimits& limits = {});

// The error of a failed result, or a test failure when it succeeded.
template <class T>
Error errorOf(const Result<T>& result) {
  if (result) return Error{Errc::interrupted, "<expected an error, got success>"};
  return result.error();
}

}  // namespace cutover::testing
