// The ObjectStore contract against S3ObjectStore and a real S3 service (radosgw, started by
// scripts/radosgw; see support/s3_server.h). Every test gets a key prefix of its own in the test
// bucket, and removes what it stored when it ends.
#include "object_store_contract.h"
#include "support/s3_server.h"

namespace cutover::contract {
namespace {

// Deletes every manifest and blob under the store's prefix.
void cleanUp(ObjectStore* store) {
  if (auto sites = store->listSites()) {
    for (const auto& site : *sites) {
      for (const auto& version : store->listVersions(site).value_or(std::vector<VersionInfo>{})) {
        (void)store->deleteManifest(site, version.version);
      }
    }
  }
  for (const auto& hash : store->listBlobs().value_or(std::vector<std::string>{})) {
    (void)store->deleteBlob(hash);
  }
  (void)store->removeLeftovers();
}

// Through the factory, as `cutover` builds it from a URI.
ObjectStorePtr open(bool virtual_host, std::string_view options) {
  auto service = testing::S3TestService::fromEnvOrSkip();
  if (!service) return nullptr;
  std::string uri =
      virtual_host ? service->uniqueVirtualHostUri(options) : service->uniqueUri(options);
  ObjectStorePtr store = makeObjectStore(uri);
  // The handle the test gets cleans up the prefix when the test lets go of it.
  return ObjectStorePtr(store.get(), [store](ObjectStore* raw) mutable {
    cleanUp(raw);
    store.reset();
  });
}

const ObjectStoreBackend kBackends[] = {
    {"path_style", [](const auto&) { return open(false, ""); }},
    {"virtual_host", [](const auto&) { return open(true, ""); }},
    // Services without `If-None-Match: *` on PUT: the manifest guard instead.
    {"without_conditional_put", [](const auto&) { return open(false, "conditional_put=no"); }},
    // Listings of two keys a page, and every blob over 1 MiB in a multipart upload.
    {"small_pages_multipart",
     [](const auto&) { return open(false, "page_size=2&multipart_above=1MiB"); }},
};

INSTANTIATE_TEST_SUITE_P(S3, ObjectStoreContract, ::testing::ValuesIn(kBackends),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace cutover::contract
