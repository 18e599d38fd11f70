#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/fd.h"
#include "cutover/common/result.h"
#include "cutover/store/manifest.h"

namespace cutover {

struct StoredBlob {
  std::string hash;
  bool created = false;
};

// Writes one blob. The store hashes what is written; nothing is visible under the hash until
// finish() succeeds. Dropping a writer without finish() discards what was written.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;

  // Appends bytes. io on a failed write.
  [[nodiscard]] virtual Result<void> write(std::span<const std::byte> bytes) = 0;

  // Stores the blob under the SHA-256 of everything written and returns that hash (64 hex) and
  // whether this call stored it (false: the store held it already and keeps its copy).
  // If `expected_hash` is not empty and differs, nothing is stored and the result is
  // invalid_argument (a file changed while it was being deployed). The blob is durable once
  // the store's flush() returns. Call at most once.
  [[nodiscard]] virtual Result<StoredBlob> finish(std::string_view expected_hash = {}) = 0;
};

// A readable blob. Local stores hand out a file descriptor positioned at 0.
struct BlobHandle {
  UniqueFd fd;
  std::uint64_t size = 0;
};

struct VersionInfo {
  std::string version;
  std::string created;  // RFC 3339, as in the manifest
};

// Immutable blobs named by content hash, plus one manifest per version.
// Implementations are thread-safe: any method may be called from many threads at once, and
// from many processes sharing the same store.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Starts writing a blob (see BlobWriter).
  [[nodiscard]] virtual Result<std::unique_ptr<BlobWriter>> newBlob() = 0;

  // Makes every blob finished so far by this object durable: after it returns, a crash cannot
  // lose them. Called before a manifest that names them is committed.
  [[nodiscard]] virtual Result<void> flush() = 0;

  // Which of `hashes` the store does not hold, in the order given.
  [[nodiscard]] virtual Result<std::vector<std::string>> missing(
      std::span<const std::string> hashes) = 0;

  // Opens a blob for reading; not_found if the store does not hold it.
  [[nodiscard]] virtual Result<BlobHandle> openBlob(const std::string& hash) = 0;

  // Reads a whole blob into memory; not_found if absent.
  [[nodiscard]] virtual Result<std::string> readBlob(const std::string& hash) = 0;

  // Commits a version's manifest, durably and atomically: readers see all of it or none.
  // Conditional create: already_exists if this site already has this version id; a committed
  // manifest is never overwritten. The caller has flushed every blob the manifest names.
  [[nodiscard]] virtual Result<void> commitManifest(const Manifest& manifest) = 0;

  // Reads a committed manifest; not_found if the version does not exist.
  [[nodiscard]] virtual Result<Manifest> readManifest(const std::string& site,
                                                      const std::string& version) = 0;

  // Every committed version of a site, newest first (by created time, then id).
  [[nodiscard]] virtual Result<std::vector<VersionInfo>> listVersions(const std::string& site) = 0;

  // Every site that has at least one committed version, sorted.
  [[nodiscard]] virtual Result<std::vector<std::string>> listSites() = 0;

  // Every stored blob's hash (for gc), in no particular order.
  [[nodiscard]] virtual Result<std::vector<std::string>> listBlobs() = 0;

  // Removes a manifest (gc only). Deleting one that is gone already succeeds.
  [[nodiscard]] virtual Result<void> deleteManifest(const std::string& site,
                                                    const std::string& version) = 0;

  // Removes a blob (gc only). Deleting one that is gone already succeeds.
  [[nodiscard]] virtual Result<void> deleteBlob(const std::string& hash) = 0;

  // Removes what interrupted writes left behind (temp files), returning how many (gc only; the
  // caller guarantees no write is in flight).
  [[nodiscard]] virtual Result<std::size_t> removeLeftovers() = 0;

  // How many blobs a deploy should write at once. A local store gains little past 8 (the file
  // system commits overlapping fsyncs together); a networked one is bound by round trips, so it
  // wants as many requests in flight as it allows.
  [[nodiscard]] virtual unsigned parallelWrites() const { return 8; }
};

using ObjectStorePtr = std::shared_ptr<ObjectStore>;

// Builds a store from a URI: "file:///abs/path" or a plain path (LocalObjectStore),
// "s3://bucket/prefix?endpoint=...&region=..." (S3ObjectStore; options in store/s3/s3_config.h,
// credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "memory:" (MemoryObjectStore,
// for tests). Throws ConfigError on a URI it cannot serve.
ObjectStorePtr makeObjectStore(const std::string& uri);

// True for a URI makeObjectStore opens over the network (s3://): a store an edge reads through
// a local cache.
[[nodiscard]] bool isRemoteObjectStoreUri(std::string_view uri);

// Wraps `remote` in the edge's cache: small blobs and manifests in memory, blobs as files under
// `dir` (bounded, least recently used out, keyed by content hash so never stale), and cached
// entries still served while the remote store is down. io if `dir` cannot be made or read.
[[nodiscard]] Result<ObjectStorePtr> cacheObjectStore(ObjectStorePtr remote,
                                                      const std::filesystem::path& dir);

}  // namespace cutover
