// The PointerStore contract against the in-process backends.
#include "pointer_store_contract.h"

#include "pointer/embedded/embedded_pointer_store.h"
#include "pointer/memory/memory_pointer_store.h"

namespace cutover::contract {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Backends, PointerStoreContract,
    ::testing::Values(PointerStoreBackend{"Memory",
                                          [](const testing::TempDir&) -> PointerStorePtr {
                                            return std::make_shared<MemoryPointerStore>();
                                          }},
                      // Without fsync: the contract is about what other threads and processes see,
                      // which the page cache already decides, and 1,600 writes with two fsyncs each
                      // take 20 s on ext4. The embedded store's own tests run with fsync.
                      PointerStoreBackend{"Embedded",
                                          [](const testing::TempDir& dir) -> PointerStorePtr {
                                            auto store = EmbeddedPointerStore::open(
                                                dir / "pointers",
                                                EmbeddedPointerStore::Options{.durable = false});
                                            EXPECT_TRUE(store) << store.error().describe();
                                            return store ? *store : nullptr;
                                          }}),
    backendName);

}  // namespace
}  // namespace cutover::contract
