#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cutover/store/object_store.h"

namespace cutover {

// Bytes held under keys, least recently used first out once the total passes a bound.
template <class V>
class LruBytes {
 public:
  explicit LruBytes(std::uint64_t bound) : bound_(bound) {}

  // The value under key, now the most recently used; nullptr if absent.
  V* find(const std::string& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.end(), order_, it->second.at);
    return &it->second.value;
  }
  // Inserts (or replaces) and returns the keys evicted to get back under the bound. An entry
  // larger than the bound is evicted at once (its own key is returned).
  std::vector<std::string> put(const std::string& key, V value, std::uint64_t size) {
    erase(key);
    if (size > bound_) return {key};
    order_.push_back(key);
    map_.emplace(key, Entry{std::move(value), size, std::prev(order_.end())});
    used_ += size;
    std::vector<std::string> evicted;
    while (used_ > bound_) {
      evicted.push_back(order_.front());
      erase(order_.front());
    }
    return evicted;
  }
  bool erase(const std::string& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    used_ -= it->second.size;
    order_.erase(it->second.at);
    map_.erase(it);
    return true;
  }
  [[nodiscard]] std::uint64_t used() const { return used_; }

 private:
  struct Entry {
    V value;
    std::uint64_t size;
    std::list<std::string>::iterator at;
  };
  std::uint64_t bound_;
  std::uint64_t used_ = 0;
  std::list<std::string> order_;  // least recently used first
  std::unordered_map<std::string, Entry> map_;
};

// An ObjectStore that keeps what an edge reads from a remote store close at hand, so that a
// request costs no round trip once its blob and manifest were read once:
//
//   small blobs (readBlob)   in memory, LRU by bytes
//   blobs (openBlob)         as files named by hash in a local folder, LRU by bytes
//   manifests                in memory by (site, version), LRU by count
//
// Blobs are named by content hash and manifests are immutable once committed, so a cached entry
// is never stale; every downloaded blob is checked against its hash before it is kept or served.
// Everything else (lists, missing, writes, deletes) goes straight to the remote store.
//
// When the remote store answers unavailable, cached entries are still served, and a breaker
// stays open for `retry_after`: uncached reads fail at once with unavailable instead of waiting
// on a store that is down. Then one read tries the remote store again; its success closes the
// breaker.
class CachingObjectStore final : public ObjectStore {
 public:
  struct Options {
    std::filesystem::path dir;                     // the disk cache; created if absent
    std::uint64_t disk_bytes = 1ULL << 30;         // bound on the files in `dir`
    std::uint64_t memory_bytes = 64ULL << 20;      // bound on blobs held in memory
    std::uint64_t memory_blob_max = 256ULL << 10;  // larger blobs are not held in memory
    std::size_t manifests = 1024;                  // manifests held in memory
    std::chrono::milliseconds retry_after{1000};   // how long the breaker stays open
  };

  // Opens the cache folder and adopts the blob files a previous run left there (each is checked
  // against its hash the first time it is served). io if the folder cannot be created or read.
  [[nodiscard]] static Result<std::shared_ptr<CachingObjectStore>> open(ObjectStorePtr remote,
                                                                        Options options);

  CachingObjectStore(ObjectStorePtr remote, Options options, UniqueFd dir_fd);

  // Bytes of blob files in the disk cache.
  [[nodiscard]] std::uint64_t diskBytes();

  Result<std::unique_ptr<BlobWriter>> newBlob() override;
  Result<void> flush() override;
  Result<std::vector<std::string>> missing(std::span<const std::string> hashes) override;
  Result<BlobHandle> openBlob(const std::string& hash) override;
  Result<std::string> readBlob(const std::string& hash) override;
  Result<void> commitManifest(const Manifest& manifest) override;
  Result<Manifest> readManifest(const std::string& site, const std::string& version) override;
  Result<std::vector<VersionInfo>> listVersions(const std::string& site) override;
  Result<std::vector<std::string>> listSites() override;
  Result<std::vector<std::string>> listBlobs() override;
  Result<void> deleteManifest(const std::string& site, const std::string& version) override;
  Result<void> deleteBlob(const std::string& hash) override;
  Result<std::size_t> removeLeftovers() override;
  [[nodiscard]] unsigned parallelWrites() const override { return remote_->parallelWrites(); }

 private:
  struct DiskEntry {
    bool verified = true;  // false for a file adopted from a previous run, until it is hashed
  };

  // Opens the cached file of `hash`, checking an adopted one first; an invalid fd on a miss.
  Result<BlobHandle> openCached(const std::string& hash);
  // Downloads `hash` into the disk cache and returns an fd of the file.
  Result<BlobHandle> fetchToDisk(const std::string& hash);
  // Whether the remote may be asked now; fails with unavailable while the breaker is open.
  Result<void> admit();
  // Records how a call that admit() let through went.
  void record(const Error* error);
  template <class T>
  Result<T> remoteCall(auto&& call);
  void adopt(const std::string& name, std::uint64_t size, bool verified);
  void dropFile(const std::string& hash);

  ObjectStorePtr remote_;
  Options options_;
  UniqueFd dir_fd_;

  std::mutex mutex_;
  LruBytes<DiskEntry> disk_;
  LruBytes<std::shared_ptr<const std::string>> memory_;
  LruBytes<std::shared_ptr<const Manifest>> manifests_;
  std::unordered_map<std::string, std::shared_future<Result<void>>> fetching_;

  std::mutex breaker_mutex_;
  bool tripped_ = false;
  bool probing_ = false;
  std::chrono::steady_clock::time_point retry_at_;
  std::string last_failure_;
};

}  // namespace cutover
