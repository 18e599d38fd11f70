#include "faulty_object_store.h"

#include <utility>

namespace cutover::testing {
namespace {

class FaultyBlobWriter final : public BlobWriter {
 public:
  FaultyBlobWriter(std::unique_ptr<BlobWriter> inner,
                   std::shared_ptr<FaultyObjectStore::Counter> counter)
      : inner_(std::move(inner)), counter_(std::move(counter)) {}

  Result<void> write(std::span<const std::byte> bytes) override {
    if (auto ok = counter_->tick(); !ok) return ok;
    return inner_->write(bytes);
  }

  Result<StoredBlob> finish(std::string_view expected_hash) override {
    if (auto ok = counter_->tick(); !ok) return tl::unexpected(ok.error());
    return inner_->finish(expected_hash);
  }

 private:
  std::unique_ptr<BlobWriter> inner_;
  std::shared_ptr<FaultyObjectStore::Counter> counter_;
};

}  // namespace

Result<void> FaultyObjectStore::Counter::tick() {
  std::uint64_t n = calls.fetch_add(1) + 1;
  if (n == fail_at) return fail(Errc::io, "injected failure at call " + std::to_string(n));
  return {};
}

FaultyObjectStore::FaultyObjectStore(ObjectStorePtr inner, std::uint64_t fail_at)
    : inner_(std::move(inner)), counter_(std::make_shared<Counter>()) {
  counter_->fail_at = fail_at;
}

Result<std::unique_ptr<BlobWriter>> FaultyObjectStore::newBlob() {
  if (auto ok = counter_->tick(); !ok) return tl::unexpected(ok.error());
  auto writer = inner_->newBlob();
  if (!writer) return tl::unexpected(writer.error());
  return std::make_unique<FaultyBlobWriter>(std::move(*writer), counter_);
}

Result<void> FaultyObjectStore::flush() {
  if (auto ok = counter_->tick(); !ok) return ok;
  return inner_->flush();
}

Result<std::vector<std::string>> FaultyObjectStore::missing(std::span<const std::string> hashes) {
  return inner_->missing(hashes);
}

Result<BlobHandle> FaultyObjectStore::openBlob(const std::string& hash) {
  return inner_->openBlob(hash);
}

Result<std::string> FaultyObjectStore::readBlob(const std::string& hash) {
  return inner_->readBlob(hash);
}

Result<void> FaultyObjectStore::commitManifest(const Manifest& manifest) {
  if (auto ok = counter_->tick(); !ok) return ok;
  return inner_->commitManifest(manifest);
}

Result<Manifest> FaultyObjectStore::readManifest(const std::string& site,
                                                 const std::string& version) {
  return inner_->readManifest(site, version);
}

Result<std::vector<VersionInfo>> FaultyObjectStore::listVersions(const std::string& site) {
  return inner_->listVersions(site);
}

Result<std::vector<std::string>> FaultyObjectStore::listSites() { return inner_->listSites(); }

Result<std::vector<std::string>> FaultyObjectStore::listBlobs() { return inner_->listBlobs(); }

Result<void> FaultyObjectStore::deleteManifest(const std::string& site,
                                               const std::string& version) {
  if (auto ok = counter_->tick(); !ok) return ok;
  return inner_->deleteManifest(site, version);
}

Result<void> FaultyObjectStore::deleteBlob(const std::string& hash) {
  if (auto ok = counter_->tick(); !ok) return ok;
  return inner_->deleteBlob(hash);
}

Result<std::size_t> FaultyObjectStore::removeLeftovers() { return inner_->removeLeftovers(); }

}  // namespace cutover::testing
