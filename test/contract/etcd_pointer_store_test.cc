// The PointerStore contract against EtcdPointerStore and a real single-member etcd: one member
// for the binary, a key prefix of its own for every test.
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "pointer_store_contract.h"
#include "support/etcd_cluster.h"

namespace cutover::contract {
namespace {

// Started by the first test that needs it; stopped when the binary exits.
testing::EtcdCluster* sharedCluster() {
  static auto cluster = std::make_unique<testing::EtcdCluster>(1);
  return cluster.get();
}

std::string uniquePrefix() {
  static std::atomic<int> next = 0;
  return "contract-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + "/";
}

INSTANTIATE_TEST_SUITE_P(Etcd, PointerStoreContract,
                         ::testing::Values(PointerStoreBackend{
                             "Etcd",
                             [](const testing::TempDir&) -> PointerStorePtr {
                               if (!testing::EtcdCluster::installedOrSkip()) return nullptr;
                               // Through the factory, as `cutover` builds it from a URI.
                               return makePointerStore(sharedCluster()->uri(uniquePrefix()));
                             }}),
                         backendName);

}  // namespace
}  // namespace cutover::contract
