#include "store/memory/memory_object_store.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "cutover/common/hash.h"

namespace cutover {
namespace {

class MemoryBlobWriter final : public BlobWriter {
 public:
  explicit MemoryBlobWriter(MemoryObjectStore& store) : store_(store) {}

  Result<void> write(std::span<const std::byte> bytes) override {
    bytes_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }

  Result<StoredBlob> finish(std::string_view expected_hash) override {
    std::string hash = sha256Hex(bytes_);
    if (!expected_hash.empty() && expected_hash != hash) {
      return fail(Errc::invalid_argument, "content changed while it was stored (hash mismatch)");
    }
    bool created = store_.storeBlob(hash, std::move(bytes_));
    return StoredBlob{std::move(hash), created};
  }

 private:
  MemoryObjectStore& store_;
  std::string bytes_;
};

}  // namespace

bool MemoryObjectStore::storeBlob(const std::string& hash, std::string bytes) {
  std::lock_guard lock(mutex_);
  return blobs_.try_emplace(hash, std::move(bytes)).second;
}

Result<std::unique_ptr<BlobWriter>> MemoryObjectStore::newBlob() {
  return std::make_unique<MemoryBlobWriter>(*this);
}

Result<void> MemoryObjectStore::flush() { return {}; }

Result<std::vector<std::string>> MemoryObjectStore::missing(std::span<const std::string> hashes) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& h : hashes) {
    if (!blobs_.contains(h)) out.push_back(h);
  }
  return out;
}

Result<BlobHandle> MemoryObjectStore::openBlob(const std::string& hash) {
  auto bytes = readBlob(hash);
  if (!bytes) return tl::unexpected(bytes.error());
  UniqueFd fd(memfd_create("blob", MFD_CLOEXEC));
  if (!fd.valid()) return failErrno("memfd_create", errno);
  std::size_t done = 0;
  while (done < bytes->size()) {
    ssize_t n = ::write(fd.get(), bytes->data() + done, bytes->size() - done);
    if (n < 0) return failErrno("write memfd", errno);
    done += static_cast<std::size_t>(n);
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  return BlobHandle{std::move(fd), bytes->size()};
}

Result<std::string> MemoryObjectStore::readBlob(const std::string& hash) {
  std::lock_guard lock(mutex_);
  auto it = blobs_.find(hash);
  if (it == blobs_.end()) return fail(Errc::not_found, "blob " + hash + " is not stored");
  return it->second;
}

Result<void> MemoryObjectStore::commitManifest(const Manifest& manifest) {
  std::string json = manifest.toJson();
  std::lock_guard lock(mutex_);
  auto& versions = manifests_[manifest.site];
  if (!versions.try_emplace(manifest.version, std::move(json)).second) {
    return fail(Errc::already_exists,
                "version " + manifest.version + " of site " + manifest.site + " already exists");
  }
  return {};
}

Result<Manifest> MemoryObjectStore::readManifest(const std::string& site,
                                                 const std::string& version) {
  std::string json;
  {
    std::lock_guard lock(mutex_);
    auto s = manifests_.find(site);
    if (s == manifests_.end() || !s->second.contains(version)) {
      return fail(Errc::not_found, "site " + site + " has no version " + version);
    }
    json = s->second.at(version);
  }
  return Manifest::fromJson(json);
}

Result<std::vector<VersionInfo>> MemoryObjectStore::listVersions(const std::string& site) {
  std::vector<VersionInfo> out;
  {
    std::lock_guard lock(mutex_);
    auto s = manifests_.find(site);
    if (s == manifests_.end()) return out;
    for (const auto& [version, json] : s->second) {
      auto m = Manifest::fromJson(json);
      out.push_back({version, m ? m->created : ""});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.version > b.version;
  });
  return out;
}

Result<std::vector<std::string>> MemoryObjectStore::listSites() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [site, versions] : manifests_) {
    if (!versions.empty()) out.push_back(site);
  }
  return out;
}

Result<std::vector<std::string>> MemoryObjectStore::listBlobs() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(blobs_.size());
  for (const auto& [hash, bytes] : blobs_) out.push_back(hash);
  return out;
}

Result<void> MemoryObjectStore::deleteManifest(const std::string& site,
                                               const std::string& version) {
  std::lock_guard lock(mutex_);
  if (auto s = manifests_.find(site); s != manifests_.end()) s->second.erase(version);
  return {};
}

Result<void> MemoryObjectStore::deleteBlob(const std::string& hash) {
  std::lock_guard lock(mutex_);
  blobs_.erase(hash);
  return {};
}

Result<std::size_t> MemoryObjectStore::removeLeftovers() { return 0; }

}  // namespace cutover
