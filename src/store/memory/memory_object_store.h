#pragma once

#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cutover/store/object_store.h"

namespace cutover {

// An ObjectStore in process memory, for unit tests. openBlob() hands out a memfd copy.
class MemoryObjectStore final : public ObjectStore {
 public:
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

  // Called by the writer: stores bytes under hash unless present; true if stored now.
  bool storeBlob(const std::string& hash, std::string bytes);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> blobs_;
  std::map<std::string, std::map<std::string, std::string>> manifests_;  // site → version → json
};

}  // namespace cutover
