#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "cutover/store/object_store.h"

namespace cutover::testing {

// Wraps a store and counts the reads of blob content (readBlob, openBlob): each is a GET on S3,
// which a deploy from local files should not need. Everything else passes straight through.
class ReadCountingObjectStore final : public ObjectStore {
 public:
  explicit ReadCountingObjectStore(ObjectStorePtr inner) : inner_(std::move(inner)) {}

  [[nodiscard]] std::uint64_t blobReads() const { return reads_.load(); }

  Result<std::unique_ptr<BlobWriter>> newBlob() override { return inner_->newBlob(); }
  Result<void> flush() override { return inner_->flush(); }
  Result<std::vector<std::string>> missing(std::span<const std::string> hashes) override {
    return inner_->missing(hashes);
  }
  Result<BlobHandle> openBlob(const std::string& hash) override {
    ++reads_;
    return inner_->openBlob(hash);
  }
  Result<std::string> readBlob(const std::string& hash) override {
    ++reads_;
    return inner_->readBlob(hash);
  }
  Result<void> commitManifest(const Manifest& manifest) override {
    return inner_->commitManifest(manifest);
  }
  Result<Manifest> readManifest(const std::string& site, const std::string& version) override {
    return inner_->readManifest(site, version);
  }
  Result<std::vector<VersionInfo>> listVersions(const std::string& site) override {
    return inner_->listVersions(site);
  }
  Result<std::vector<std::string>> listSites() override { return inner_->listSites(); }
  Result<std::vector<std::string>> listBlobs() override { return inner_->listBlobs(); }
  Result<void> deleteManifest(const std::string& site, const std::string& version) override {
    return inner_->deleteManifest(site, version);
  }
  Result<void> deleteBlob(const std::string& hash) override { return inner_->deleteBlob(hash); }
  Result<std::size_t> removeLeftovers() override { return inner_->removeLeftovers(); }

 private:
  ObjectStorePtr inner_;
  std::atomic<std::uint64_t> reads_{0};
};

}  // namespace cutover::testing
