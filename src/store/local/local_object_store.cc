#include "store/local/local_object_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "common/random.h"
#include "cutover/common/hash.h"
#include "cutover/common/names.h"

namespace cutover {
namespace {

// Blobs and manifests are never rewritten; read-only files say so to every other tool too.
constexpr mode_t kFileMode = 0444;
constexpr mode_t kDirMode = 0755;
constexpr std::size_t kFlushThreads = 8;

std::string blobPath(std::string_view hash) {
  return fmt::format("{}/{}", hash.substr(0, 2), hash);
}

std::size_t shardIndex(std::string_view hash) {
  auto nibble = [](char c) -> std::size_t {
    return c <= '9' ? static_cast<std::size_t>(c - '0') : static_cast<std::size_t>(c - 'a' + 10);
  };
  return nibble(hash[0]) * 16 + nibble(hash[1]);
}

std::string manifestPath(std::string_view site, std::string_view version) {
  return fmt::format("{}/{}.json", site, version);
}

Result<UniqueFd> openDir(int dir_fd, const std::string& name) {
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return failErrno("open folder " + name, errno);
  return fd;
}

// mkdir that treats "already there" as success: many processes create the same folders.
Result<void> makeDir(int dir_fd, const std::string& name) {
  if (::mkdirat(dir_fd, name.c_str(), kDirMode) != 0 && errno != EEXIST) {
    return failErrno("create folder " + name, errno);
  }
  return {};
}

Result<void> syncDir(int dir_fd, const std::string& name) {
  auto fd = openDir(dir_fd, name);
  if (!fd) return tl::unexpected(fd.error());
  if (::fsync(fd->get()) != 0) return failErrno("fsync folder " + name, errno);
  return {};
}

// The names in a folder, without "." and "..". not_found if the folder does not exist.
Result<std::vector<std::string>> listDir(int dir_fd, const std::string& name) {
  auto fd = openDir(dir_fd, name);
  if (!fd) return tl::unexpected(fd.error());
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd->get()), &::closedir);
  if (!dir) return failErrno("read folder " + name, errno);
  fd->release();  // the DIR owns it now
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    std::string_view n = entry->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  if (errno != 0) return failErrno("read folder " + name, errno);
  return names;
}

Result<std::string> readFileAt(int dir_fd, const std::string& path) {
  UniqueFd fd(::openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return failErrno("open " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return failErrno("stat " + path, errno);
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (true) {
    if (done == out.size()) out.resize(out.size() + 4096);  // grown since the stat? keep reading
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failErrno("read " + path, errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

// The "created" of a stored manifest. Manifest::toJson writes keys sorted, so "created" comes
// first and a short read usually suffices: listing versions must not parse megabytes of file
// lists. Anything else falls back to a full parse.
std::string readCreated(int dir_fd, const std::string& path) {
  UniqueFd fd(::openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  char head[256];
  ssize_t n = ::pread(fd.get(), head, sizeof head, 0);
  if (n > 0) {
    std::string_view text(head, static_cast<std::size_t>(n));
    constexpr std::string_view kPrefix = R"({"created":")";
    if (text.starts_with(kPrefix)) {
      text.remove_prefix(kPrefix.size());
      auto end = text.find_first_of("\"\\");
      if (end != std::string_view::npos && text[end] == '"')
        return std::string(text.substr(0, end));
    }
  }
  auto json = readFileAt(dir_fd, path);
  if (!json) return {};
  auto j = nlohmann::json::parse(*json, nullptr, false);
  if (!j.is_object()) return {};
  auto it = j.find("created");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Named temp files are "<kind>-<pid>-<random>.tmp": the pid tells whether the writer lives.
// A file whose writer is gone, or with no pid in its name and untouched for a minute, is left
// by a process that died mid-write; a live writer's file untouched for an hour is too (its pid
// was reused). Nothing writes a temp file that slowly.
constexpr auto kStaleUnowned = std::chrono::minutes(1);
constexpr auto kStaleOwned = std::chrono::hours(1);

std::optional<pid_t> writerOf(std::string_view name) {
  auto dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto rest = name.substr(dash + 1);
  auto end = rest.find('-');
  if (end == std::string_view::npos) return std::nullopt;
  pid_t pid = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + end, pid);
  if (ec != std::errc() || ptr != rest.data() + end || pid <= 0) return std::nullopt;
  return pid;
}

bool processLives(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

// Removes the temp files in tmp/ that processes which died mid-write left; returns how many.
std::size_t removeStaleTemps(int tmp_fd) {
  auto names = listDir(tmp_fd, ".");
  if (!names) return 0;
  std::size_t removed = 0;
  auto now = std::chrono::system_clock::now();
  for (const auto& name : *names) {
    struct stat st {};
    if (::fstatat(tmp_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    auto modified = std::chrono::system_clock::time_point(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    auto idle = now - std::chrono::time_point_cast<std::chrono::system_clock::duration>(modified);
    auto pid = writerOf(name);
    bool stale = pid ? (!processLives(*pid) || idle > kStaleOwned) : idle > kStaleUnowned;
    if (stale && ::unlinkat(tmp_fd, name.c_str(), 0) == 0) ++removed;
  }
  return removed;
}

}  // namespace

class LocalBlobWriter final : public BlobWriter {
 public:
  LocalBlobWriter(LocalObjectStore& store, LocalObjectStore::TempFile temp)
      : store_(store), temp_(std::move(temp)) {}
  LocalBlobWriter(const LocalBlobWriter&) = delete;
  LocalBlobWriter& operator=(const LocalBlobWriter&) = delete;
  ~LocalBlobWriter() override { store_.discardTemp(temp_); }

  Result<void> write(std::span<const std::byte> bytes) override {
    if (!temp_.fd.valid()) return fail(Errc::io, "blob writer used after it finished or failed");
    auto ok = writeAll(temp_.fd.get(), bytes.data(), bytes.size(),
                       "store blob: write in " + (store_.root_ / "tmp").string());
    if (!ok) {
      store_.discardTemp(temp_);
      return ok;
    }
    hasher_.update(bytes);
    return {};
  }

  Result<StoredBlob> finish(std::string_view expected_hash) override {
    if (!temp_.fd.valid()) return fail(Errc::io, "blob writer used after it finished or failed");
    std::string hash = hasher_.finishHex();
    if (!expected_hash.empty() && expected_hash != hash) {
      store_.discardTemp(temp_);
      return fail(Errc::invalid_argument,
                  fmt::format("content changed while it was stored: expected {}, got {}",
                              expected_hash, hash));
    }
    // Already stored (by another writer or process): skip the data sync, keep the old copy.
    // Its name is marked dirty anyway: the writer that linked it may not have flushed yet.
    struct stat st {};
    if (::fstatat(store_.blobs_fd_.get(), blobPath(hash).c_str(), &st, 0) == 0) {
      store_.discardTemp(temp_);
      store_.markDirty(shardIndex(hash));
      return StoredBlob{std::move(hash), false};
    }
    // The data must be on disk before the name is: a name pointing at lost bytes would be a
    // corrupt blob that missing() reports as present forever.
    if (::fdatasync(temp_.fd.get()) != 0) {
      int err = errno;
      store_.discardTemp(temp_);
      return failErrno("fdatasync blob " + hash + " in " + (store_.root_ / "tmp").string(), err);
    }
    auto created = store_.publishBlob(temp_, hash);
    if (!created) return tl::unexpected(created.error());
    return StoredBlob{std::move(hash), *created};
  }

 private:
  LocalObjectStore& store_;
  LocalObjectStore::TempFile temp_;
  Sha256 hasher_;
};

LocalObjectStore::LocalObjectStore(std::filesystem::path root, UniqueFd root_fd, UniqueFd blobs,
                                   UniqueFd manifests, UniqueFd tmp, bool use_o_tmpfile)
    : root_(std::move(root)),
      root_fd_(std::move(root_fd)),
      blobs_fd_(std::move(blobs)),
      manifests_fd_(std::move(manifests)),
      tmp_fd_(std::move(tmp)),
      use_o_tmpfile_(use_o_tmpfile) {}

LocalObjectStore::~LocalObjectStore() = default;

Result<std::unique_ptr<LocalObjectStore>> LocalObjectStore::open(const std::filesystem::path& root,
                                                                 Options options) {
  auto bad = [&](const std::string& why) {
    return fail(Errc::io, fmt::format("object store folder {}: {}", root.string(), why));
  };
  if (root.empty()) return bad("no path given");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(root, ec);
  if (ec) return bad(ec.message());
  std::filesystem::create_directories(abs, ec);
  if (ec) return bad("cannot create it: " + ec.message());
  UniqueFd root_fd(::open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return bad(std::string("cannot open it: ") + std::strerror(errno));

  UniqueFd fds[3];
  const char* names[3] = {"blobs", "manifests", "tmp"};
  for (int i = 0; i < 3; ++i) {
    auto made = makeDir(root_fd.get(), names[i]);
    if (!made) return bad(made.error().message);
    auto fd = openDir(root_fd.get(), names[i]);
    if (!fd) return bad(fd.error().message);
    fds[i] = std::move(*fd);
  }
  // Temp files of writers that died (a killed server) would otherwise stay until gc.
  (void)removeStaleTemps(fds[2].get());
  // The three folders must survive a crash before anything is stored in them.
  if (::fsync(root_fd.get()) != 0) return bad(std::string("fsync: ") + std::strerror(errno));

  // O_TMPFILE needs file system support, and linking it without privileges needs /proc.
  bool use_o_tmpfile = options.use_o_tmpfile && ::access("/proc/self/fd", X_OK) == 0;
  if (use_o_tmpfile) {
    UniqueFd probe(::openat(fds[2].get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, kFileMode));
    use_o_tmpfile = probe.valid();
  }
  return std::unique_ptr<LocalObjectStore>(
      new LocalObjectStore(std::move(abs), std::move(root_fd), std::move(fds[0]), std::move(fds[1]),
                           std::move(fds[2]), use_o_tmpfile));
}

Result<LocalObjectStore::TempFile> LocalObjectStore::createTemp(std::string_view kind) {
  if (use_o_tmpfile_.load(std::memory_order_relaxed)) {
    UniqueFd fd(::openat(tmp_fd_.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, kFileMode));
    if (fd.valid()) return TempFile{std::move(fd), {}};
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      return failErrno("create temp file in " + (root_ / "tmp").string(), errno);
    }
    use_o_tmpfile_.store(false);
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string name = fmt::format("{}-{}-{}.tmp", kind, ::getpid(), randomHex(8));
    UniqueFd fd(
        ::openat(tmp_fd_.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, kFileMode));
    if (fd.valid()) return TempFile{std::move(fd), std::move(name)};
    if (errno != EEXIST)
      return failErrno("create temp file " + (root_ / "tmp" / name).string(), errno);
  }
  return fail(Errc::io, "cannot find a free temp file name in " + (root_ / "tmp").string());
}

int LocalObjectStore::linkTemp(const TempFile& temp, int dir_fd, const std::string& path) {
  int rc = 0;
  if (temp.name.empty()) {
    // linkat(fd, "", AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH; the /proc link does not.
    std::string proc = fmt::format("/proc/self/fd/{}", temp.fd.get());
    rc = ::linkat(AT_FDCWD, proc.c_str(), dir_fd, path.c_str(), AT_SYMLINK_FOLLOW);
  } else {
    rc = ::linkat(tmp_fd_.get(), temp.name.c_str(), dir_fd, path.c_str(), 0);
  }
  return rc == 0 ? 0 : errno;
}

void LocalObjectStore::discardTemp(TempFile& temp) {
  temp.fd.reset();
  if (!temp.name.empty()) {
    ::unlinkat(tmp_fd_.get(), temp.name.c_str(), 0);
    temp.name.clear();
  }
}

Result<bool> LocalObjectStore::publishBlob(TempFile& temp, const std::string& hash) {
  std::string path = blobPath(hash);
  int err = linkTemp(temp, blobs_fd_.get(), path);
  if (err == ENOENT) {  // first blob of this shard
    if (auto made = makeDir(blobs_fd_.get(), hash.substr(0, 2)); !made) {
      discardTemp(temp);
      return tl::unexpected(made.error());
    }
    err = linkTemp(temp, blobs_fd_.get(), path);
  }
  discardTemp(temp);
  if (err != 0 && err != EEXIST) {
    return failErrno("store blob " + hash + " in " + (root_ / "blobs").string(), err);
  }
  markDirty(shardIndex(hash));
  return err == 0;
}

void LocalObjectStore::markDirty(std::size_t shard) {
  std::lock_guard lock(dirty_mutex_);
  dirty_.set(shard);
}

Result<std::unique_ptr<BlobWriter>> LocalObjectStore::newBlob() {
  auto temp = createTemp("blob");
  if (!temp) return tl::unexpected(temp.error());
  return std::make_unique<LocalBlobWriter>(*this, std::move(*temp));
}

Result<void> LocalObjectStore::flush() {
  // Held across the fsyncs so that a second flush() waits for blobs a first one is syncing.
  std::lock_guard flush_lock(flush_mutex_);
  std::bitset<256> dirty;
  {
    std::lock_guard lock(dirty_mutex_);
    dirty = std::exchange(dirty_, {});
  }
  if (dirty.none()) return {};
  auto retry_later = [&](Error error) {
    std::lock_guard lock(dirty_mutex_);
    dirty_ |= dirty;
    return tl::unexpected(std::move(error));
  };
  std::vector<std::size_t> shards;
  for (std::size_t shard = 0; shard < dirty.size(); ++shard) {
    if (dirty.test(shard)) shards.push_back(shard);
  }
  // Each fsync waits for a disk cache flush (about 4 ms on the VM this was measured on, even for
  // a folder with nothing new); concurrent ones share flushes: 256 folders took 870 ms one by
  // one and 25 ms from 8 threads.
  std::size_t workers = std::min<std::size_t>(kFlushThreads, shards.size());
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::optional<Error> first_error;
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < shards.size();) {
      auto ok = syncDir(blobs_fd_.get(), fmt::format("{:02x}", shards[i]));
      if (!ok) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = ok.error();
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 1; i < workers; ++i) threads.emplace_back(work);
    work();
  }
  if (first_error) return retry_later(std::move(*first_error));
  // A shard folder created by this or another process must itself survive a crash.
  if (::fsync(blobs_fd_.get()) != 0) {
    return retry_later(failErrno("fsync blobs folder", errno).value());
  }
  return {};
}

Result<std::vector<std::string>> LocalObjectStore::missing(std::span<const std::string> hashes) {
  std::vector<std::string> out;
  for (const auto& hash : hashes) {
    if (!isBlobHash(hash)) {
      out.push_back(hash);
      continue;
    }
    struct stat st {};
    if (::fstatat(blobs_fd_.get(), blobPath(hash).c_str(), &st, 0) == 0) continue;
    if (errno != ENOENT) return failErrno("stat blob " + hash, errno);
    out.push_back(hash);
  }
  return out;
}

Result<BlobHandle> LocalObjectStore::openBlob(const std::string& hash) {
  if (!isBlobHash(hash)) return fail(Errc::not_found, "'" + hash + "' is not a blob hash");
  UniqueFd fd(::openat(blobs_fd_.get(), blobPath(hash).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return fail(Errc::not_found, "blob " + hash + " is not stored");
    return failErrno("open blob " + hash, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return failErrno("stat blob " + hash, errno);
  return BlobHandle{std::move(fd), static_cast<std::uint64_t>(st.st_size)};
}

Result<std::string> LocalObjectStore::readBlob(const std::string& hash) {
  auto handle = openBlob(hash);
  if (!handle) return tl::unexpected(handle.error());
  std::string out(handle->size, '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(handle->fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return failErrno("read blob " + hash, errno);
    }
    if (n == 0) return fail(Errc::io, "blob " + hash + " is shorter than its size");
    done += static_cast<std::size_t>(n);
  }
  return out;
}

Result<void> LocalObjectStore::commitManifest(const Manifest& manifest) {
  // Checked before any path is built from them: nothing may land outside the root.
  if (auto ok = validateSiteName(manifest.site); !ok) return ok;
  if (auto ok = validateVersionId(manifest.version); !ok) return ok;
  const std::string label = fmt::format("version {} of site {}", manifest.version, manifest.site);

  auto temp = createTemp("manifest");
  if (!temp) return tl::unexpected(temp.error());
  struct Discard {
    LocalObjectStore& store;
    TempFile& temp;
    ~Discard() { store.discardTemp(temp); }
  } discard{*this, *temp};

  std::string json = manifest.toJson();
  if (auto ok = writeAll(temp->fd.get(), json.data(), json.size(),
                         "commit " + label + ": write in " + (root_ / "tmp").string());
      !ok) {
    return ok;
  }
  if (::fdatasync(temp->fd.get()) != 0) {
    return failErrno("commit " + label + ": fdatasync in " + (root_ / "tmp").string(), errno);
  }

  std::string path = manifestPath(manifest.site, manifest.version);
  int err = ENOENT;
  for (int attempt = 0; attempt < 2 && err == ENOENT; ++attempt) {
    if (auto made = makeDir(manifests_fd_.get(), manifest.site); !made) return made;
    err = linkTemp(*temp, manifests_fd_.get(), path);  // the conditional create
  }
  if (err == EEXIST) return fail(Errc::already_exists, label + " already exists");
  if (err != 0) return failErrno("commit " + label + " in " + (root_ / "manifests").string(), err);

  if (auto ok = syncDir(manifests_fd_.get(), manifest.site); !ok) return ok;
  if (::fsync(manifests_fd_.get()) != 0) return failErrno("commit " + label + ": fsync", errno);
  return {};
}

Result<Manifest> LocalObjectStore::readManifest(const std::string& site,
                                                const std::string& version) {
  if (auto ok = validateSiteName(site); !ok) return tl::unexpected(ok.error());
  if (auto ok = validateVersionId(version); !ok) return tl::unexpected(ok.error());
  auto json = readFileAt(manifests_fd_.get(), manifestPath(site, version));
  if (!json) {
    if (json.error().code == Errc::not_found) {
      return fail(Errc::not_found, "site " + site + " has no version " + version);
    }
    return tl::unexpected(json.error());
  }
  auto manifest = Manifest::fromJson(*json);
  const std::string file = (root_ / "manifests" / manifestPath(site, version)).string();
  if (!manifest) {
    return fail(Errc::io,
                fmt::format("manifest {} is corrupt: {}", file, manifest.error().message));
  }
  if (manifest->site != site || manifest->version != version) {
    return fail(Errc::io, fmt::format("manifest {} is corrupt: it describes version {} of site {}",
                                      file, manifest->version, manifest->site));
  }
  return manifest;
}

Result<std::vector<VersionInfo>> LocalObjectStore::listVersions(const std::string& site) {
  if (auto ok = validateSiteName(site); !ok) return tl::unexpected(ok.error());
  std::vector<VersionInfo> out;
  auto names = listDir(manifests_fd_.get(), site);
  if (!names) {
    if (names.error().code == Errc::not_found) return out;
    return tl::unexpected(names.error());
  }
  for (const auto& name : *names) {
    std::string_view n = name;
    if (!n.ends_with(".json")) continue;
    n.remove_suffix(5);
    if (!validateVersionId(n)) continue;
    out.push_back({std::string(n), readCreated(manifests_fd_.get(), site + "/" + name)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.version > b.version;
  });
  return out;
}

Result<std::vector<std::string>> LocalObjectStore::listSites() {
  auto sites = listDir(manifests_fd_.get(), ".");
  if (!sites) return tl::unexpected(sites.error());
  std::vector<std::string> out;
  for (const auto& site : *sites) {
    if (!validateSiteName(site)) continue;
    // A site whose versions were all deleted keeps its (empty) folder; it has no version.
    auto names = listDir(manifests_fd_.get(), site);
    if (!names) {
      if (names.error().code == Errc::not_found) continue;
      return tl::unexpected(names.error());
    }
    bool any = std::any_of(names->begin(), names->end(),
                           [](const std::string& n) { return n.ends_with(".json"); });
    if (any) out.push_back(site);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<std::string>> LocalObjectStore::listBlobs() {
  auto shards = listDir(blobs_fd_.get(), ".");
  if (!shards) return tl::unexpected(shards.error());
  std::vector<std::string> out;
  for (const auto& shard : *shards) {
    if (shard.size() != 2) continue;
    auto names = listDir(blobs_fd_.get(), shard);
    if (!names) {
      if (names.error().code == Errc::not_found) continue;
      return tl::unexpected(names.error());
    }
    for (auto& name : *names) {
      if (isBlobHash(name) && name.starts_with(shard)) out.push_back(std::move(name));
    }
  }
  return out;
}

Result<void> LocalObjectStore::deleteManifest(const std::string& site, const std::string& version) {
  if (auto ok = validateSiteName(site); !ok) return ok;
  if (auto ok = validateVersionId(version); !ok) return ok;
  if (::unlinkat(manifests_fd_.get(), manifestPath(site, version).c_str(), 0) != 0) {
    if (errno == ENOENT) return {};
    return failErrno("delete version " + version + " of site " + site, errno);
  }
  // gc deletes blobs after manifests: a manifest back from the dead would name missing blobs.
  return syncDir(manifests_fd_.get(), site);
}

Result<void> LocalObjectStore::deleteBlob(const std::string& hash) {
  if (!isBlobHash(hash)) return fail(Errc::invalid_argument, "'" + hash + "' is not a blob hash");
  if (::unlinkat(blobs_fd_.get(), blobPath(hash).c_str(), 0) != 0 && errno != ENOENT) {
    return failErrno("delete blob " + hash, errno);
  }
  return {};
}

Result<std::size_t> LocalObjectStore::removeLeftovers() {
  auto names = listDir(tmp_fd_.get(), ".");
  if (!names) return tl::unexpected(names.error());
  std::size_t removed = 0;
  for (const auto& name : *names) {
    if (::unlinkat(tmp_fd_.get(), name.c_str(), 0) == 0) {
      ++removed;
    } else if (errno != ENOENT) {
      return failErrno("remove leftover " + (root_ / "tmp" / name).string(), errno);
    }
  }
  return removed;
}

}  // namespace cutover
