// The PointerStore contract against RedisPointerStore and a real redis-server: one server for
// the binary, a key prefix of its own for every test.
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "pointer_store_contract.h"
#include "support/redis_server.h"

namespace cutover::contract {
namespace {

// Started by the first test that needs it; stopped when the binary exits.
testing::RedisServer* sharedServer() {
  static auto server = std::make_unique<testing::RedisServer>();
  return server.get();
}

std::string uniquePrefix() {
  static std::atomic<int> next = 0;
  return "contract-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + ":";
}

INSTANTIATE_TEST_SUITE_P(Redis, PointerStoreContract,
                         ::testing::Values(PointerStoreBackend{
                             "Redis",
                             [](const testing::TempDir&) -> PointerStorePtr {
                               if (!testing::RedisServer::installedOrSkip()) return nullptr;
                               // Through the factory, as `cutover` builds it from a URI.
                               return makePointerStore(sharedServer()->uri() +
                                                       "?prefix=" + uniquePrefix());
                             }}),
                         backendName);

}  // namespace
}  // namespace cutover::contract
