// An uploaded archive (POST /api/sites/S/archive, `cutover deploy site.tar.gz`): any bytes, read
// by the archive source with libarchive (zip, tar, tar.gz) entry by entry, every byte read, and
// the entries it yields written into a manifest as a deploy does.
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <string>

#include "cutover/common/fd.h"
#include "cutover/common/media_type.h"
#include "cutover/store/manifest.h"
#include "fuzz_support.h"
#include "pipeline/source/archive_source.h"

using cutover::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The archive lives in memory; libarchive opens it by name, as it opens an upload's temp file.
  cutover::UniqueFd fd(::memfd_create("upload.tar.gz", MFD_CLOEXEC));
  check(fd.valid(), "a memfd can be made");
  for (std::size_t done = 0; done < size;) {
    ssize_t n = ::write(fd.get(), data + done, size - done);
    check(n > 0, "the memfd takes the bytes");
    done += static_cast<std::size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd.get());

  // Small limits keep a decompression bomb from turning a run into a memory or time test.
  cutover::SourceLimits limits;
  limits.max_file_bytes = 1 << 20;
  limits.max_total_bytes = 4 << 20;
  limits.max_files = 1000;
  auto source = cutover::ArchiveSource::open(path, limits);
  if (!source) {
    check(!source.error().message.empty(), "a refused archive says why");
    return 0;
  }
  cutover::Manifest manifest;
  manifest.site = "docs";
  manifest.version = "v1";
  manifest.created = "2026-11-27T19:55:29.123Z";
  manifest.source = (*source)->describe();
  std::array<std::byte, 16 * 1024> buffer{};
  auto result = (*source)->forEach([&](const cutover::SourceEntry& entry,
                                       cutover::EntryReader& reader) -> cutover::Result<void> {
    std::uint64_t got = 0;
    while (true) {
      auto n = reader.read(buffer);
      if (!n) return tl::unexpected(n.error());
      if (*n == 0) break;
      got += *n;
    }
    check(got == entry.size, "an entry holds the bytes it declares");
    check(!manifest.files.contains(entry.path), "no two entries share a path");
    manifest.files[entry.path] = cutover::FileEntry{
        std::string(64, 'a'), entry.size, std::string(cutover::mediaTypeFor(entry.path)), {}, {}};
    return {};
  });
  if (!result) {
    check(!result.error().message.empty(), "a refused archive says why");
    return 0;
  }
  check(manifest.files.size() <= limits.max_files, "the file limit holds");
  check(manifest.totalBytes() <= limits.max_total_bytes, "the size limit holds");
  // What a deploy then does with the entries: a manifest that writes and reads back.
  auto again = cutover::Manifest::fromJson(manifest.toJson());
  check(again.has_value() && again->files.size() == manifest.files.size(),
        "every entry an archive yields fits in a manifest");
  return 0;
}
