#include "pipeline/source/folder_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "cutover/common/byte_size.h"
#include "cutover/common/fd.h"
#include "cutover/common/site_path.h"

namespace cutover {
namespace {

namespace fs = std::filesystem;

std::int64_t nanoseconds(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(t.tv_nsec);
}

FileIdentity identityOf(const struct stat& st) {
  return FileIdentity{st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size),
                      nanoseconds(st.st_mtim), nanoseconds(st.st_ctim)};
}

std::string_view kindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

std::string readLinkText(const fs::path& link) {
  std::string target(4096, '\0');
  ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  if (n < 0) return "?";
  target.resize(static_cast<std::size_t>(n));
  return printablePath(target);
}

// realpath(3), which resolves every symlink on the way. Empty on failure, with errno telling a
// loop (ELOOP) from a dangling link (ENOENT).
fs::path resolve(const fs::path& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return {};
  fs::path out(resolved);
  std::free(resolved);  // NOLINT(cppcoreguidelines-no-malloc): realpath allocates with malloc
  return out;
}

bool isInside(const fs::path& path, const fs::path& root) {
  fs::path rel = path.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

// Lists a folder tree into `entries`, enforcing the limits as it goes.
class Walker {
 public:
  Walker(const fs::path& real_root, const SourceLimits& limits)
      : real_root_(real_root), limits_(limits) {}

  Result<void> walk() { return walkFolder(real_root_, ""); }

  std::vector<SourceEntry> takeEntries() { return std::move(entries_); }
  [[nodiscard]] std::uint64_t total() const { return total_; }

 private:
  Result<void> walkFolder(const fs::path& disk_dir, const std::string& rel_dir) {
    struct stat st {};
    if (::stat(disk_dir.c_str(), &st) != 0) {
      return failErrno(fmt::format("cannot read folder '{}'", rel_dir), errno);
    }
    auto id = std::make_pair(st.st_dev, st.st_ino);
    if (std::find(open_folders_.begin(), open_folders_.end(), id) != open_folders_.end()) {
      return fail(Errc::invalid_argument,
                  fmt::format("symlink '{}' loops back to a folder that contains it", rel_dir));
    }
    auto names = listFolder(disk_dir, rel_dir);
    if (!names) return tl::unexpected(names.error());

    open_folders_.push_back(id);
    for (const std::string& name : *names) {
      auto visited =
          visitName(disk_dir / name, rel_dir.empty() ? name : fmt::format("{}/{}", rel_dir, name));
      if (!visited) return visited;
    }
    open_folders_.pop_back();
    return {};
  }

  // The names in one folder; the folder is closed before any child is visited, so a deep tree
  // holds one descriptor at a time.
  static Result<std::vector<std::string>> listFolder(const fs::path& disk_dir,
                                                     const std::string& rel_dir) {
    DIR* dir = ::opendir(disk_dir.c_str());
    if (dir == nullptr) return failErrno(fmt::format("cannot list folder '{}'", rel_dir), errno);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      const dirent* d = ::readdir(dir);
      if (d == nullptr) break;
      std::string_view name = d->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0) return failErrno(fmt::format("cannot list folder '{}'", rel_dir), err);
    // Sorted, so that of two problems in one folder the same one is always reported.
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<void> visitName(const fs::path& disk, const std::string& raw_rel) {
    // Checks the name (and bounds the folder depth) before descending.
    auto rel = normalizeSitePath(raw_rel);
    if (!rel) return tl::unexpected(rel.error());
    struct stat st {};
    if (::lstat(disk.c_str(), &st) != 0) {
      return failErrno(fmt::format("cannot stat '{}'", *rel), errno);
    }
    if (S_ISDIR(st.st_mode)) return walkFolder(disk, *rel);
    if (S_ISREG(st.st_mode)) return addFile(*rel, disk, st);
    if (S_ISLNK(st.st_mode)) return followLink(disk, *rel);
    return fail(
        Errc::invalid_argument,
        fmt::format("'{}' is {}; a deploy holds only files and folders", *rel, kindOf(st.st_mode)));
  }

  Result<void> followLink(const fs::path& disk, const std::string& rel) {
    fs::path target = resolve(disk);
    if (target.empty()) {
      int err = errno;
      if (err == ELOOP) {
        return fail(Errc::invalid_argument,
                    fmt::format("symlink '{}' loops (-> '{}')", rel, readLinkText(disk)));
      }
      if (err == ENOENT || err == ENOTDIR) {
        return fail(Errc::invalid_argument,
                    fmt::format("symlink '{}' points to '{}', which does not exist", rel,
                                readLinkText(disk)));
      }
      return failErrno(fmt::format("cannot resolve symlink '{}'", rel), err);
    }
    if (!isInside(target, real_root_)) {
      return fail(
          Errc::invalid_argument,
          fmt::format("symlink '{}' points outside the folder (-> '{}')", rel, readLinkText(disk)));
    }
    struct stat st {};
    if (::stat(target.c_str(), &st) != 0) {
      return failErrno(fmt::format("cannot stat '{}'", rel), errno);
    }
    if (S_ISDIR(st.st_mode)) return walkFolder(target, rel);
    if (S_ISREG(st.st_mode)) return addFile(rel, target, st);
    return fail(Errc::invalid_argument,
                fmt::format("symlink '{}' points to {}; a deploy holds only files and folders", rel,
                            kindOf(st.st_mode)));
  }

  Result<void> addFile(const std::string& rel, const fs::path& disk, const struct stat& st) {
    auto size = static_cast<std::uint64_t>(st.st_size);
    if (entries_.size() >= limits_.max_files) {
      return fail(Errc::too_large,
                  fmt::format("the folder holds more than {} files (limit: {}), at '{}'",
                              limits_.max_files, kMaxFilesHint, rel));
    }
    if (size > limits_.max_file_bytes) {
      return fail(Errc::too_large,
                  fmt::format("'{}' is {} bytes, over the limit of {} per file ({})", rel, size,
                              formatByteSize(limits_.max_file_bytes), kMaxFileSizeHint));
    }
    if (size > limits_.max_total_bytes - total_) {
      return fail(Errc::too_large,
                  fmt::format("the files add up to more than {} (limit: {}), at '{}'",
                              formatByteSize(limits_.max_total_bytes), kMaxTotalSizeHint, rel));
    }
    total_ += size;
    entries_.push_back(SourceEntry{rel, size, disk, identityOf(st)});
    return {};
  }

  const fs::path& real_root_;
  const SourceLimits& limits_;
  std::vector<SourceEntry> entries_;
  std::uint64_t total_ = 0;
  std::vector<std::pair<dev_t, ino_t>> open_folders_;  // the folders being walked, root first
};

// Reads one listed file, opening it on first use; fails if it is no longer the file that was
// listed or its size moved, so a file edited mid-deploy never ships half old, half new.
class FileReader final : public EntryReader {
 public:
  explicit FileReader(const SourceEntry& entry) : entry_(entry) {}

  Result<std::size_t> read(std::span<std::byte> buffer) override {
    if (!fd_.valid()) {
      auto opened = openListed();
      if (!opened) return tl::unexpected(opened.error());
    }
    ssize_t n = 0;
    do {
      n = ::read(fd_.get(), buffer.data(), buffer.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return failErrno(fmt::format("cannot read '{}'", entry_.path), errno);
    auto got = static_cast<std::uint64_t>(n);
    if (got == 0 && !buffer.empty() && done_ != entry_.size) {
      return fail(Errc::io,
                  fmt::format("'{}' changed size while it was read: listed with {} bytes, "
                              "ended after {}",
                              entry_.path, entry_.size, done_));
    }
    if (got > entry_.size - done_) {
      return fail(Errc::io, fmt::format("'{}' grew while it was read: listed with {} bytes",
                                        entry_.path, entry_.size));
    }
    done_ += got;
    return static_cast<std::size_t>(got);
  }

 private:
  Result<void> openListed() {
    UniqueFd fd(::open(entry_.disk_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) {
      int err = errno;
      if (err == ENOENT || err == ELOOP) {
        return fail(Errc::io,
                    fmt::format("'{}' disappeared or was replaced while deploying", entry_.path));
      }
      return failErrno(fmt::format("cannot open '{}'", entry_.path), err);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      return failErrno(fmt::format("cannot stat '{}'", entry_.path), errno);
    }
    if (!S_ISREG(st.st_mode) || st.st_dev != entry_.identity.device ||
        st.st_ino != entry_.identity.inode) {
      return fail(Errc::io, fmt::format("'{}' was replaced while deploying", entry_.path));
    }
    if (static_cast<std::uint64_t>(st.st_size) != entry_.size) {
      return fail(Errc::io,
                  fmt::format("'{}' changed size while deploying: listed with {} bytes, now {}",
                              entry_.path, entry_.size, st.st_size));
    }
    fd_ = std::move(fd);
    return {};
  }

  const SourceEntry& entry_;
  UniqueFd fd_;
  std::uint64_t done_ = 0;
};

}  // namespace

Result<std::unique_ptr<FolderSource>> FolderSource::open(const fs::path& root,
                                                         const SourceLimits& limits) {
  fs::path real_root = resolve(root);
  if (real_root.empty()) {
    return failErrno(fmt::format("cannot open folder '{}'", root.string()), errno);
  }
  return std::unique_ptr<FolderSource>(new FolderSource(root, std::move(real_root), limits));
}

std::string FolderSource::describe() const { return given_.string(); }

Result<void> FolderSource::forEach(
    const std::function<Result<void>(const SourceEntry&, EntryReader&)>& visit,
    const SourceProgress& progress) {
  Walker walker(real_root_, limits_);
  if (auto walked = walker.walk(); !walked) return walked;
  std::vector<SourceEntry> entries = walker.takeEntries();
  std::sort(entries.begin(), entries.end(),
            [](const SourceEntry& a, const SourceEntry& b) { return a.path < b.path; });

  const std::uint64_t total = walker.total();
  std::uint64_t done = 0;
  if (progress) progress(done, total);
  for (const SourceEntry& entry : entries) {
    FileReader reader(entry);
    if (auto visited = visit(entry, reader); !visited) return visited;
    done += entry.size;
    if (progress) progress(done, total);
  }
  return {};
}

}  // namespace cutover
