#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "cutover/store/object_store.h"

namespace cutover::testing {

// Wraps a store and fails its Nth mutating call (newBlob, BlobWriter::write, BlobWriter::finish,
// flush, commitManifest, deleteManifest, deleteBlob) with io "injected failure at call N", like
// Boost.Beast's test::fail_count. The failing call does not reach the wrapped store. Reads pass
// through uncounted. Tests loop N from 1 until a run makes fewer than N calls.
class FaultyObjectStore final : public ObjectStore {
 public:
  // fail_at 0 never fails.
  FaultyObjectStore(ObjectStorePtr inner, std::uint64_t fail_at);

  // How many mutating calls were made so far (the failed one included).
  [[nodiscard]] std::uint64_t calls() const { return counter_->calls.load(); }
  [[nodiscard]] const ObjectStorePtr& inner() const { return inner_; }

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

  // Shared with the writers this store hands out, which may outlive it.
  struct Counter {
    std::uint64_t fail_at = 0;
    std::atomic<std::uint64_t> calls{0};
    // Counts one call; the error if it is the one to fail.
    [[nodiscard]] Result<void> tick();
  };

 private:
  ObjectStorePtr inner_;
  std::shared_ptr<Counter> counter_;
};

}  // namespace cutover::testing
