#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cutover/store/object_store.h"
#include "store/s3/s3_client.h"
#include "store/s3/s3_config.h"

namespace cutover {

// An ObjectStore in a bucket of any S3-compatible service (AWS S3, radosgw, MinIO, ...):
//
//   <prefix>blobs/<hash>                      one object per blob, named by SHA-256
//   <prefix>manifests/<site>/<version>.json   one per committed version
//
// Blob keys are flat: S3 spreads keys by their leading bytes itself, and a flat layout lets
// listBlobs() be one plain listing. Nothing is ever overwritten: a blob is skipped when the key
// exists, a manifest is created with `If-None-Match: *`. A successful PUT is durable when it
// returns, so flush() has nothing to do.
//
// Writers buffer the blob (in memory up to 4 MiB, then in an unnamed temp file) while hashing
// it, because the key is the hash; finish() then uploads it: one conditional PUT for a small
// blob, HEAD first for a larger one (no upload if present), and a multipart upload in parallel
// parts above config.multipart_above. Parts of an upload that never completed are what
// removeLeftovers() aborts.
class S3ObjectStore final : public ObjectStore {
 public:
  explicit S3ObjectStore(S3Config config);
  ~S3ObjectStore() override;
  S3ObjectStore(const S3ObjectStore&) = delete;
  S3ObjectStore& operator=(const S3ObjectStore&) = delete;

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
  [[nodiscard]] unsigned parallelWrites() const override { return config().parallel; }

  [[nodiscard]] const S3Config& config() const { return client_.config(); }

  // The bytes of a finished blob, for the writer: in memory, or the first `size` bytes of `fd`.
  struct BlobBody {
    const std::string* memory = nullptr;
    int fd = -1;
    std::uint64_t size = 0;
  };
  // Uploads a hashed blob unless the bucket holds it; true if this call stored it.
  [[nodiscard]] Result<bool> putBlob(const std::string& hash, const BlobBody& body);

 private:
  // Keys listed under `prefix`; with `delimiter`, the common prefixes instead. Stops early
  // (returning what it has, and `complete` false) after `max_keys` keys when that is not 0.
  struct Listing {
    std::vector<std::string> keys;
    bool complete = true;
  };
  [[nodiscard]] Result<Listing> list(const std::string& prefix, bool folders,
                                     std::size_t max_keys = 0);
  [[nodiscard]] Result<bool> uploadMultipart(const std::string& hash, const BlobBody& body);
  [[nodiscard]] Result<void> commitUnconditional(const Manifest& manifest, const std::string& json,
                                                 const std::string& key);
  [[nodiscard]] Result<std::string> createdOf(const std::string& key, const std::string& head);
  [[nodiscard]] Result<S3Response> getBlob(const std::string& hash, int fd);
  // DELETE that succeeds when the key is gone already.
  [[nodiscard]] Result<void> deleteKey(const S3Request& del);

  [[nodiscard]] std::string blobKey(std::string_view hash) const;
  [[nodiscard]] std::string manifestKey(std::string_view site, std::string_view version) const;

  S3Client client_;

  // Uploads of one hash in flight in this process: a second writer of the same bytes waits for
  // the first instead of uploading them again, and reports them as already stored.
  struct Upload {
    bool done = false;
    bool stored = false;
  };
  std::mutex uploads_mutex_;
  std::condition_variable uploads_changed_;
  std::map<std::string, std::shared_ptr<Upload>> uploads_;

  // Commits of one manifest key in flight in this process, serialised (see commitManifest).
  std::mutex commits_mutex_;
  std::condition_variable commits_changed_;
  std::map<std::string, int> commits_;
};

}  // namespace cutover
