// The ObjectStore contract against the in-process backends.
#include "object_store_contract.h"

#include "store/local/local_object_store.h"
#include "store/memory/memory_object_store.h"
#include "support/faulty_object_store.h"

namespace cutover::contract {
namespace {

ObjectStorePtr openLocal(const std::filesystem::path& dir, bool use_o_tmpfile) {
  auto store = LocalObjectStore::open(dir / "store", {.use_o_tmpfile = use_o_tmpfile});
  if (!store) ADD_FAILURE() << store.error().describe();
  return store ? ObjectStorePtr(std::move(*store)) : nullptr;
}

const ObjectStoreBackend kBackends[] = {
    {"memory", [](const auto&) -> ObjectStorePtr { return std::make_shared<MemoryObjectStore>(); }},
    {"local", [](const auto& dir) { return openLocal(dir, true); }},
    {"local_named_temp_files", [](const auto& dir) { return openLocal(dir, false); }},
    // The fault injector must be transparent when it injects nothing.
    {"faulty_never_failing",
     [](const auto&) -> ObjectStorePtr {
       return std::make_shared<testing::FaultyObjectStore>(std::make_shared<MemoryObjectStore>(),
                                                           0);
     }},
};

INSTANTIATE_TEST_SUITE_P(AllBackends, ObjectStoreContract, ::testing::ValuesIn(kBackends),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace cutover::contract
