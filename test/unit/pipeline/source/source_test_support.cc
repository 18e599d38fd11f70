#include "source_test_support.h"

#include <archive.h>

#include <cstdio>
#include <stdexcept>

namespace cutover::testing {

namespace {
void check(archive* a, int status, const char* what) {
  if (status < ARCHIVE_WARN) {  // a warning is a name written as raw bytes, as tar(1) does
    throw std::runtime_error(std::string(what) + ": " +
                             (archive_error_string(a) ? archive_error_string(a) : "?"));
  }
}
}  // namespace

void writeArchive(const std::filesystem::path& file, ArchiveKind kind,
                  const std::vector<ArchiveItem>& items) {
  archive* a = archive_write_new();
  if (kind == ArchiveKind::zip) {
    check(a, archive_write_set_format_zip(a), "zip format");
  } else {
    check(a, archive_write_set_format_pax_restricted(a), "tar format");
    if (kind == ArchiveKind::tgz) check(a, archive_write_add_filter_gzip(a), "gzip filter");
  }
  check(a, archive_write_open_filename(a, file.c_str()), "open");
  for (const ArchiveItem& item : items) {
    archive_entry* e = archive_entry_new();
    // libarchive's pax writer crashes on a UTF-8 name it cannot convert to the C locale; raw bytes
    // are what tar(1) writes anyway. The zip writer marks UTF-8 names as such.
    if (kind == ArchiveKind::zip) {
      archive_entry_set_pathname_utf8(e, item.name.c_str());
    } else {
      archive_entry_set_pathname(e, item.name.c_str());
    }
    archive_entry_set_filetype(e, item.type);
    archive_entry_set_perm(e, item.type == AE_IFDIR ? 0755 : 0644);
    if (item.type == AE_IFLNK) archive_entry_set_symlink(e, item.link.c_str());
    if (item.hardlink) archive_entry_set_hardlink(e, item.link.c_str());
    if (item.type == AE_IFCHR) archive_entry_set_rdev(e, 0x0103);
    if (item.type == AE_IFREG && !item.hardlink) {
      archive_entry_set_size(e, static_cast<la_int64_t>(item.data.size()));
    }
    check(a, archive_write_header(a, e), "header");
    if (!item.data.empty()) {
      la_ssize_t n = archive_write_data(a, item.data.data(), item.data.size());
      if (n != static_cast<la_ssize_t>(item.data.size())) check(a, ARCHIVE_FATAL, "data");
    }
    archive_entry_free(e);
  }
  check(a, archive_write_close(a), "close");
  archive_write_free(a);
}

std::string ustarHeader(std::string_view name, std::uint64_t size, char typeflag,
                        std::string_view link) {
  std::string h(512, '\0');
  h.replace(0, std::min<std::size_t>(name.size(), 100), name.substr(0, 100));
  h.replace(100, 7, "0000644");
  h.replace(108, 7, "0000000");
  h.replace(116, 7, "0000000");
  char field[16];
  std::snprintf(field, sizeof field, "%011llo", static_cast<unsigned long long>(size));
  h.replace(124, 11, field);
  h.replace(136, 11, "14000000000");
  h[156] = typeflag;
  h.replace(157, std::min<std::size_t>(link.size(), 100), link.substr(0, 100));
  h.replace(257, 6, std::string("ustar\0", 6));
  h.replace(263, 2, "00");
  if (typeflag == '3' || typeflag == '4') {
    h.replace(329, 7, "0000001");
    h.replace(337, 7, "0000003");
  }
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(field, sizeof field, "%06o", sum);
  h.replace(148, 7, std::string(field, 6) + '\0');
  return h;
}

std::string ustarFile(std::string_view name, std::string_view data) {
  std::string out = ustarHeader(name, data.size());
  out += data;
  out.append((512 - data.size() % 512) % 512, '\0');
  return out;
}

std::string tarEnd() { return std::string(1024, '\0'); }

Result<std::vector<Seen>> readAll(Source& source, std::size_t buffer_size) {
  std::vector<Seen> seen;
  std::vector<std::byte> buffer(buffer_size);
  auto done = source.forEach([&](const SourceEntry& entry, EntryReader& reader) -> Result<void> {
    Seen s{entry.path, entry.size, {}};
    for (;;) {
      auto n = reader.read(buffer);
      if (!n) return tl::unexpected(n.error());
      if (*n == 0) break;
      s.bytes.append(reinterpret_cast<const char*>(buffer.data()), *n);
    }
    seen.push_back(std::move(s));
    return {};
  });
  if (!done) return tl::unexpected(done.error());
  return seen;
}

Result<std::vector<SourceEntry>> listAll(Source& source) {
  std::vector<SourceEntry> entries;
  auto done = source.forEach([&](const SourceEntry& entry, EntryReader&) -> Result<void> {
    entries.push_back(entry);
    return {};
  });
  if (!done) return tl::unexpected(done.error());
  return entries;
}

Result<std::vector<Seen>> readAll(const std::filesystem::path& path, const SourceLimits& limits) {
  auto source = openSource(path, limits);
  if (!source) return tl::unexpected(source.error());
  return readAll(**source);
}

}  // namespace cutover::testing
