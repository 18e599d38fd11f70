// The ObjectStore contract against CachingObjectStore: the cache must be transparent.
#include "store/cache/caching_object_store.h"

#include "object_store_contract.h"
#include "store/memory/memory_object_store.h"

namespace cutover::contract {
namespace {

ObjectStorePtr openCaching(const std::filesystem::path& dir, std::uint64_t disk_bytes) {
  auto store = CachingObjectStore::open(std::make_shared<MemoryObjectStore>(),
                                        {.dir = dir / "cache", .disk_bytes = disk_bytes});
  if (!store) ADD_FAILURE() << store.error().describe();
  return store ? ObjectStorePtr(*store) : nullptr;
}

const ObjectStoreBackend kBackends[] = {
    {"memory_remote", [](const auto& dir) { return openCaching(dir, 1ULL << 30); }},
    // A disk cache too small for most blobs: every read evicts, and must still be right.
    {"memory_remote_tiny_disk_cache", [](const auto& dir) { return openCaching(dir, 64 * 1024); }},
};

INSTANTIATE_TEST_SUITE_P(Caching, ObjectStoreContract, ::testing::ValuesIn(kBackends),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace cutover::contract
