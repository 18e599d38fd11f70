#include "pipeline/source/archive_source.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <unordered_set>
#include <vector>

#include "cutover/common/byte_size.h"
#include "cutover/common/fd.h"
#include "cutover/common/site_path.h"

namespace cutover {
namespace {

namespace fs = std::filesystem;

// How much libarchive reads from the file at a time.
constexpr std::size_t kBlockSize = std::size_t{256} * 1024;
// tar ends with zero blocks; libarchive consumes at least one of them when it sees the end.
constexpr std::int64_t kTarBlock = 512;

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

std::string archiveError(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown error";
}

bool startsLikeZip(const fs::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  std::array<char, 4> magic{};
  return fd.valid() && ::read(fd.get(), magic.data(), magic.size()) == 4 &&
         std::string_view(magic.data(), magic.size()) == std::string_view("PK\x03\x04", 4);
}

// Opens `file` for reading: zips through their central directory (which needs a seekable open),
// tar plain or gzip-compressed. Nothing else: every format enabled is more parser to attack.
Result<ArchivePtr> openArchive(const fs::path& file, std::uint64_t size) {
  ArchivePtr a(archive_read_new());
  if (!a) return fail(Errc::io, "cannot start libarchive: out of memory");
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_zip_seekable(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), kBlockSize) == ARCHIVE_OK) return a;

  std::string name = file.filename().string();
  if (archive_format(a.get()) == 0 &&
      archiveError(a.get()).starts_with("Unrecognized archive format")) {
    if (startsLikeZip(file)) {
      return fail(Errc::bad_archive,
                  fmt::format("'{}' starts like a zip but is truncated or corrupt: its "
                              "central directory (at the end of the file) is missing",
                              name));
    }
    return fail(Errc::bad_archive, fmt::format("'{}' is not a zip, tar or tar.gz archive{}", name,
                                               size == 0 ? " (it is empty)" : ""));
  }
  return fail(Errc::bad_archive,
              fmt::format("'{}' is truncated or corrupt: {}", name, archiveError(a.get())));
}

std::string entriesRead(std::uint64_t n) {
  return fmt::format("{} {}", n, n == 1 ? "entry" : "entries");
}

std::string_view kindOf(mode_t type) {
  switch (type) {
    case AE_IFLNK:
      return "a symlink";
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a FIFO";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Streams the data of the entry being visited, holding it to the size its header declared.
// An error is sticky: once the entry is known bad, forEach fails even if the visitor shrugs.
class ArchiveEntryReader final : public EntryReader {
 public:
  ArchiveEntryReader(archive* a, const SourceEntry& entry) : a_(a), entry_(entry) {}

  Result<std::size_t> read(std::span<std::byte> buffer) override {
    if (error_) return tl::unexpected(*error_);
    if (ended_ || buffer.empty()) return 0;
    la_ssize_t n = archive_read_data(a_, buffer.data(), buffer.size());
    if (n < 0) {
      return setError(Errc::bad_archive, fmt::format("entry '{}' is truncated or corrupt: {}",
                                                     entry_.path, archiveError(a_)));
    }
    auto got = static_cast<std::uint64_t>(n);
    if (got == 0) {
      ended_ = true;
      if (done_ != entry_.size) {
        return setError(Errc::bad_archive, fmt::format("entry '{}' declares {} bytes but holds {}",
                                                       entry_.path, entry_.size, done_));
      }
      return 0;
    }
    if (got > entry_.size - done_) {
      return setError(Errc::bad_archive, fmt::format("entry '{}' declares {} bytes but holds more",
                                                     entry_.path, entry_.size));
    }
    done_ += got;
    return static_cast<std::size_t>(got);
  }

  [[nodiscard]] bool ended() const { return ended_; }
  [[nodiscard]] const std::optional<Error>& error() const { return error_; }

 private:
  tl::unexpected<Error> setError(Errc code, std::string message) {
    error_ = Error{code, std::move(message)};
    return tl::unexpected(*error_);
  }

  archive* a_;
  const SourceEntry& entry_;
  std::uint64_t done_ = 0;
  bool ended_ = false;
  std::optional<Error> error_;
};

// The checks every entry passes before it is visited, and the state they need.
class EntryChecker {
 public:
  explicit EntryChecker(const SourceLimits& limits) : limits_(limits) {}

  // The entry to visit, or the reason the archive is refused.
  Result<SourceEntry> check(archive_entry* e) {
    const char* raw_name = archive_entry_pathname_utf8(e);
    if (raw_name == nullptr) raw_name = archive_entry_pathname(e);
    if (raw_name == nullptr) return fail(Errc::bad_archive, "an entry has no name");
    std::string_view raw = raw_name;

    if (const char* target = archive_entry_hardlink(e); target != nullptr) {
      return fail(Errc::bad_archive,
                  fmt::format("entry '{}' is a hard link (to '{}'); an archive may hold "
                              "only files and folders",
                              printablePath(raw), printablePath(target)));
    }
    auto type = archive_entry_filetype(e);
    if (type != AE_IFREG) {
      std::string link;
      if (const char* target = archive_entry_symlink(e); type == AE_IFLNK && target != nullptr) {
        link = fmt::format(" (to '{}')", printablePath(target));
      }
      return fail(Errc::bad_archive,
                  fmt::format("entry '{}' is {}{}; an archive may hold only files and "
                              "folders",
                              printablePath(raw), kindOf(type), link));
    }

    auto path = normalizeSitePath(raw);
    if (!path) {
      return fail(Errc::bad_archive, fmt::format("entry '{}' is refused: {}", printablePath(raw),
                                                 path.error().message));
    }
    if (auto placed = place(*path); !placed) return tl::unexpected(placed.error());

    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0) {
      return fail(Errc::bad_archive, fmt::format("entry '{}' does not declare its size", *path));
    }
    auto size = static_cast<std::uint64_t>(archive_entry_size(e));
    if (++count_ > limits_.max_files) {
      return fail(Errc::too_large,
                  fmt::format("the archive holds more than {} files (limit: {}), at entry '{}'",
                              limits_.max_files, kMaxFilesHint, *path));
    }
    if (size > limits_.max_file_bytes) {
      return fail(Errc::too_large,
                  fmt::format("entry '{}' is {} bytes, over the limit of {} per file ({})", *path,
                              size, formatByteSize(limits_.max_file_bytes), kMaxFileSizeHint));
    }
    if (size > limits_.max_total_bytes - total_) {
      return fail(Errc::too_large,
                  fmt::format("the files add up to more than {} (limit: {}), at entry '{}'",
                              formatByteSize(limits_.max_total_bytes), kMaxTotalSizeHint, *path));
    }
    total_ += size;
    return SourceEntry{std::move(*path), size, {}, {}};
  }

 private:
  // Two entries with one name, or a file that is also a folder ("a" and "a/b"), would make the
  // version depend on which entry wins; neither can come from a real folder, so both are refused.
  Result<void> place(const std::string& path) {
    if (files_.contains(path)) {
      return fail(Errc::bad_archive, fmt::format("two entries are named '{}'", path));
    }
    if (folders_.contains(path)) {
      return fail(Errc::bad_archive,
                  fmt::format("entry '{}' is a file, but other entries are inside it", path));
    }
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string folder = path.substr(0, slash);
      if (files_.contains(folder)) {
        return fail(Errc::bad_archive,
                    fmt::format("entry '{}' is inside '{}', which is a file", path, folder));
      }
      folders_.insert(std::move(folder));
    }
    files_.insert(path);
    return {};
  }

  const SourceLimits& limits_;
  std::unordered_set<std::string> files_;
  std::unordered_set<std::string> folders_;
  std::uint64_t count_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace

Result<std::unique_ptr<ArchiveSource>> ArchiveSource::open(const fs::path& file,
                                                           const SourceLimits& limits) {
  // Checked apart from libarchive so that a file we may not read is an i/o error, not a bad
  // archive.
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return failErrno(fmt::format("cannot open '{}'", file.string()), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return failErrno(fmt::format("cannot stat '{}'", file.string()), errno);
  }
  auto size = static_cast<std::uint64_t>(st.st_size);

  auto probe = openArchive(file, size);
  if (!probe) return tl::unexpected(probe.error());
  return std::unique_ptr<ArchiveSource>(new ArchiveSource(file, size, limits));
}

std::string ArchiveSource::describe() const { return file_.filename().string(); }

Result<void> ArchiveSource::forEach(
    const std::function<Result<void>(const SourceEntry&, EntryReader&)>& visit,
    const SourceProgress& progress) {
  auto opened = openArchive(file_, file_size_);
  if (!opened) return tl::unexpected(opened.error());
  archive* a = opened->get();
  const std::string name = describe();
  auto report = [&] {
    if (progress) {
      progress(std::min(static_cast<std::uint64_t>(archive_filter_bytes(a, -1)), file_size_),
               file_size_);
    }
  };

  EntryChecker checker(limits_);
  std::vector<std::byte> drain_buffer;
  std::uint64_t entries = 0;
  la_int64_t last_entry_end = 0;  // in the uncompressed stream
  if (progress) progress(0, file_size_);
  for (;;) {
    archive_entry* e = nullptr;
    int status = archive_read_next_header(a, &e);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK) {
      return fail(Errc::bad_archive, fmt::format("'{}' is truncated or corrupt after {}: {}", name,
                                                 entriesRead(entries), archiveError(a)));
    }
    ++entries;
    if (archive_entry_filetype(e) == AE_IFDIR && archive_entry_hardlink(e) == nullptr) {
      // Folders come from the files' paths; a folder entry adds nothing.
      if (archive_read_data_skip(a) != ARCHIVE_OK) {
        return fail(Errc::bad_archive, fmt::format("'{}' is truncated or corrupt after {}: {}",
                                                   name, entriesRead(entries), archiveError(a)));
      }
    } else {
      auto entry = checker.check(e);
      if (!entry) return tl::unexpected(entry.error());
      ArchiveEntryReader reader(a, *entry);
      auto visited = visit(*entry, reader);
      if (reader.error()) return tl::unexpected(*reader.error());
      if (!visited) return visited;
      // What the visitor left unread is still read, not skipped: only reading checks a zip
      // entry's CRC and size, and a corrupt archive must fail whoever visits it.
      if (drain_buffer.empty()) drain_buffer.resize(kBlockSize);
      while (!reader.ended()) {
        auto n = reader.read(drain_buffer);
        if (!n) return tl::unexpected(n.error());
      }
    }
    report();
    last_entry_end = archive_filter_bytes(a, 0);
  }

  // libarchive takes a tar that stops exactly between two entries for a whole one; the
  // end-of-archive blocks a complete tar closes with tell the two apart.
  if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR &&
      archive_filter_bytes(a, 0) - last_entry_end < kTarBlock) {
    return fail(Errc::bad_archive, fmt::format("'{}' is truncated: it stops after {} without tar's "
                                               "end-of-archive marker",
                                               name, entriesRead(entries)));
  }
  if (progress) progress(file_size_, file_size_);
  return {};
}

}  // namespace cutover
