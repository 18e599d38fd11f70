#include "store/cache/caching_object_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "cutover/common/hash.h"

namespace cutover {
namespace {

using Clock = std::chrono::steady_clock;

// Temp files are named so that no blob hash can look like one: a restart removes them.
constexpr std::string_view kTempPrefix = "tmp.";

// Reads `fd` from offset 0 to its end, handing each piece to `sink`; returns the byte count.
Result<std::uint64_t> readAll(int fd, auto&& sink) {
  std::string buffer(256 * 1024, '\0');
  std::uint64_t done = 0;
  while (true) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return failErrno("read blob", errno);
    }
    if (n == 0) return done;
    if (auto ok = sink(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !ok) {
      return tl::unexpected(ok.error());
    }
    done += static_cast<std::uint64_t>(n);
  }
}

Result<std::string> hashFile(int fd) {
  Sha256 sha;
  auto read = readAll(fd, [&](std::string_view piece) -> Result<void> {
    sha.update(piece);
    return {};
  });
  if (!read) return tl::unexpected(read.error());
  return sha.finishHex();
}

tl::unexpected<Error> corrupt(const std::string& hash, const std::string& got) {
  return fail(Errc::io, fmt::format("blob {} from the remote store is corrupt (its SHA-256 is {}); "
                                    "not served and not cached",
                                    hash, got));
}

std::string manifestKey(const std::string& site, const std::string& version) {
  return site + '\n' + version;  // neither name may hold a line break
}

}  // namespace

CachingObjectStore::CachingObjectStore(ObjectStorePtr remote, Options options, UniqueFd dir_fd)
    : remote_(std::move(remote)),
      options_(std::move(options)),
      dir_fd_(std::move(dir_fd)),
      disk_(options_.disk_bytes),
      memory_(options_.memory_bytes),
      manifests_(options_.manifests) {}

Result<std::shared_ptr<CachingObjectStore>> CachingObjectStore::open(ObjectStorePtr remote,
                                                                     Options options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return fail(Errc::io,
                fmt::format("create cache folder {}: {}", options.dir.string(), ec.message()));
  }
  UniqueFd dir_fd(::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return failErrno("open cache folder " + options.dir.string(), errno);

  // Adopt what a previous run cached, oldest first so that it is evicted first.
  struct Found {
    fs::file_time_type written;
    std::string name;
    std::uint64_t size;
  };
  std::vector<Found> found;
  fs::directory_iterator it(options.dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.starts_with(kTempPrefix)) {
      fs::remove(it->path(), ec);  // an interrupted download
    } else if (isBlobHash(name) && it->is_regular_file(ec)) {
      auto size = it->file_size(ec);
      auto written = it->last_write_time(ec);
      if (!ec) found.push_back({written, name, size});
    }
    ec.clear();
  }
  if (ec) {
    return fail(Errc::io,
                fmt::format("read cache folder {}: {}", options.dir.string(), ec.message()));
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.written < b.written; });

  auto store = std::make_shared<CachingObjectStore>(std::move(remote), std::move(options),
                                                    std::move(dir_fd));
  std::lock_guard lock(store->mutex_);
  // Without an fsync a crash can leave a renamed file short, so adopted files are checked
  // against their names before they are first served.
  for (const auto& f : found) store->adopt(f.name, f.size, false);
  return store;
}

std::uint64_t CachingObjectStore::diskBytes() {
  std::lock_guard lock(mutex_);
  return disk_.used();
}

void CachingObjectStore::adopt(const std::string& name, std::uint64_t size, bool verified) {
  // Unlinking a file a request has open is safe: the open fd keeps its bytes alive.
  for (const auto& gone : disk_.put(name, DiskEntry{verified}, size)) {
    ::unlinkat(dir_fd_.get(), gone.c_str(), 0);
  }
}

void CachingObjectStore::dropFile(const std::string& hash) {
  disk_.erase(hash);
  ::unlinkat(dir_fd_.get(), hash.c_str(), 0);
}

// ---- the breaker ----

Result<void> CachingObjectStore::admit() {
  std::lock_guard lock(breaker_mutex_);
  if (!tripped_) return {};
  auto now = Clock::now();
  if (now < retry_at_ || probing_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
    return fail(Errc::unavailable,
                fmt::format("remote object store unavailable, retrying in {} ms ({})",
                            std::max<long long>(wait, 0), last_failure_));
  }
  probing_ = true;  // this caller tries; the others keep failing fast until it knows
  return {};
}

void CachingObjectStore::record(const Error* error) {
  std::lock_guard lock(breaker_mutex_);
  probing_ = false;
  if (error != nullptr && error->code == Errc::unavailable) {
    tripped_ = true;
    retry_at_ = Clock::now() + options_.retry_after;
    last_failure_ = error->message;
  } else {
    tripped_ = false;  // any other answer, not_found included, means the store is reachable
  }
}

template <class T>
Result<T> CachingObjectStore::remoteCall(auto&& call) {
  if (auto ok = admit(); !ok) return tl::unexpected(ok.error());
  Result<T> result = call();
  record(result ? nullptr : &result.error());
  return result;
}

// ---- blobs ----

Result<BlobHandle> CachingObjectStore::openCached(const std::string& hash) {
  UniqueFd fd;
  bool verified = false;
  {
    std::lock_guard lock(mutex_);
    auto* entry = disk_.find(hash);
    if (entry == nullptr) return BlobHandle{};
    // Opened under the lock, so that eviction cannot unlink the file between lookup and open.
    fd.reset(::openat(dir_fd_.get(), hash.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      int err = errno;
      if (err != ENOENT) return failErrno("open cached blob " + hash, err);
      disk_.erase(hash);  // removed behind our back: a miss
      return BlobHandle{};
    }
    verified = entry->verified;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return failErrno("stat cached blob " + hash, errno);
  if (!verified) {
    auto got = hashFile(fd.get());
    if (!got) return tl::unexpected(got.error());
    std::lock_guard lock(mutex_);
    auto* entry = disk_.find(hash);
    if (*got != hash) {
      if (entry != nullptr && !entry->verified) dropFile(hash);
      return BlobHandle{};
    }
    if (entry != nullptr) entry->verified = true;
  }
  return BlobHandle{std::move(fd), static_cast<std::uint64_t>(st.st_size)};
}

Result<BlobHandle> CachingObjectStore::fetchToDisk(const std::string& hash) {
  auto remote = remoteCall<BlobHandle>([&] { return remote_->openBlob(hash); });
  if (!remote) return tl::unexpected(remote.error());

  static std::atomic<std::uint64_t> counter{0};
  std::string temp =
      fmt::format("{}{}.{}.{}", kTempPrefix, hash.substr(0, 16), ::getpid(), counter.fetch_add(1));
  UniqueFd out(
      ::openat(dir_fd_.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out.valid()) return failErrno("create cache file " + temp, errno);
  auto discard = [&](Error error) {
    ::unlinkat(dir_fd_.get(), temp.c_str(), 0);
    return tl::unexpected(std::move(error));
  };

  Sha256 sha;
  auto copied = readAll(remote->fd.get(), [&](std::string_view piece) {
    sha.update(piece);
    return writeAll(out.get(), piece.data(), piece.size(), "write cache file");
  });
  if (!copied) return discard(copied.error());
  std::string got = sha.finishHex();
  if (got != hash || *copied != remote->size) return discard(corrupt(hash, got).value());
  out.reset();
  if (::renameat(dir_fd_.get(), temp.c_str(), dir_fd_.get(), hash.c_str()) != 0) {
    return discard(failErrno("rename cache file " + temp, errno).value());
  }

  std::lock_guard lock(mutex_);
  UniqueFd fd(::openat(dir_fd_.get(), hash.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return failErrno("open cached blob " + hash, errno);
  adopt(hash, *copied, true);
  return BlobHandle{std::move(fd), *copied};
}

Result<BlobHandle> CachingObjectStore::openBlob(const std::string& hash) {
  if (!isBlobHash(hash)) return remote_->openBlob(hash);  // no file of ours may take that name
  while (true) {
    auto cached = openCached(hash);
    if (!cached || cached->fd.valid()) return cached;

    // One download per hash: later callers wait for it, then look again. The loop ends: a
    // caller either finds the file or becomes the one that downloads and keeps an fd of it.
    std::promise<Result<void>> done;
    std::shared_future<Result<void>> other;
    {
      std::lock_guard lock(mutex_);
      auto [it, first] = fetching_.try_emplace(hash, done.get_future().share());
      if (!first) other = it->second;
    }
    if (other.valid()) {
      if (auto ok = other.get(); !ok) return tl::unexpected(ok.error());
      continue;
    }
    auto fetched = fetchToDisk(hash);
    {
      std::lock_guard lock(mutex_);
      fetching_.erase(hash);
    }
    done.set_value(fetched ? Result<void>{} : tl::unexpected(fetched.error()));
    return fetched;
  }
}

Result<std::string> CachingObjectStore::readBlob(const std::string& hash) {
  if (!isBlobHash(hash)) return remote_->readBlob(hash);
  {
    std::lock_guard lock(mutex_);
    if (auto* bytes = memory_.find(hash)) return std::string(**bytes);
  }
  std::string bytes;
  auto cached = openCached(hash);
  if (!cached) return tl::unexpected(cached.error());
  if (cached->fd.valid()) {
    auto read = readAll(cached->fd.get(), [&](std::string_view piece) -> Result<void> {
      bytes.append(piece);
      return {};
    });
    if (!read) return tl::unexpected(read.error());
  } else {
    auto remote = remoteCall<std::string>([&] { return remote_->readBlob(hash); });
    if (!remote) return remote;
    if (std::string got = sha256Hex(*remote); got != hash) return corrupt(hash, got);
    bytes = std::move(*remote);
  }
  if (bytes.size() <= options_.memory_blob_max) {
    std::lock_guard lock(mutex_);
    memory_.put(hash, std::make_shared<const std::string>(bytes), bytes.size());
  }
  return bytes;
}

Result<void> CachingObjectStore::deleteBlob(const std::string& hash) {
  auto ok = remote_->deleteBlob(hash);
  if (ok && isBlobHash(hash)) {
    std::lock_guard lock(mutex_);
    memory_.erase(hash);
    dropFile(hash);
  }
  return ok;
}

// ---- manifests ----

Result<Manifest> CachingObjectStore::readManifest(const std::string& site,
                                                  const std::string& version) {
  std::string key = manifestKey(site, version);
  {
    std::lock_guard lock(mutex_);
    if (auto* manifest = manifests_.find(key)) return **manifest;
  }
  // Only committed manifests are kept: not_found is not, since the version may come later.
  auto manifest = remoteCall<Manifest>([&] { return remote_->readManifest(site, version); });
  if (manifest) {
    std::lock_guard lock(mutex_);
    manifests_.put(key, std::make_shared<const Manifest>(*manifest), 1);
  }
  return manifest;
}

Result<void> CachingObjectStore::deleteManifest(const std::string& site,
                                                const std::string& version) {
  auto ok = remote_->deleteManifest(site, version);
  if (ok) {
    std::lock_guard lock(mutex_);
    manifests_.erase(manifestKey(site, version));
  }
  return ok;
}

// ---- straight to the remote store: writes, and answers that change ----

Result<std::unique_ptr<BlobWriter>> CachingObjectStore::newBlob() { return remote_->newBlob(); }
Result<void> CachingObjectStore::flush() { return remote_->flush(); }
Result<std::vector<std::string>> CachingObjectStore::missing(std::span<const std::string> hashes) {
  return remote_->missing(hashes);
}
Result<void> CachingObjectStore::commitManifest(const Manifest& manifest) {
  return remote_->commitManifest(manifest);
}
Result<std::vector<VersionInfo>> CachingObjectStore::listVersions(const std::string& site) {
  return remote_->listVersions(site);
}
Result<std::vector<std::string>> CachingObjectStore::listSites() { return remote_->listSites(); }
Result<std::vector<std::string>> CachingObjectStore::listBlobs() { return remote_->listBlobs(); }
Result<std::size_t> CachingObjectStore::removeLeftovers() { return remote_->removeLeftovers(); }

}  // namespace cutover
