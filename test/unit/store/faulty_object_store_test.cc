#include "support/faulty_object_store.h"

#include <gtest/gtest.h>

#include "cutover/common/hash.h"
#include "store/memory/memory_object_store.h"

namespace cutover {
namespace {

using cutover::testing::FaultyObjectStore;

// A small deploy and gc: 7 mutating calls, with reads between them that are not counted.
Result<void> deployAndCollect(ObjectStore& store) {
  std::string bytes = "<h1>hello</h1>";
  if (auto m = store.missing(std::vector<std::string>{sha256Hex(bytes)}); !m)
    return tl::unexpected(m.error());
  auto writer = store.newBlob();  // 1
  if (!writer) return tl::unexpected(writer.error());
  if (auto ok = (*writer)->write(std::as_bytes(std::span(bytes.data(), bytes.size()))); !ok) {  // 2
    return ok;
  }
  auto stored = (*writer)->finish();  // 3
  if (!stored) return tl::unexpected(stored.error());
  if (auto ok = store.flush(); !ok) return ok;  // 4
  Manifest m{"docs",
             "v1",
             "2026-01-01T00:00:00.000Z",
             "test",
             {{"index.html", FileEntry{stored->hash, bytes.size(), "text/html"}}}};
  if (auto ok = store.commitManifest(m); !ok) return ok;  // 5
  if (auto read = store.readManifest("docs", "v1"); !read) return tl::unexpected(read.error());
  if (auto v = store.listVersions("docs"); !v) return tl::unexpected(v.error());
  if (auto ok = store.deleteManifest("docs", "v1"); !ok) return ok;  // 6
  if (auto ok = store.deleteBlob(stored->hash); !ok) return ok;      // 7
  return {};
}

TEST(FaultyObjectStore, NeverFailsAtZeroAndCountsOnlyMutatingCalls) {
  FaultyObjectStore store(std::make_shared<MemoryObjectStore>(), 0);
  ASSERT_TRUE(deployAndCollect(store));
  EXPECT_EQ(store.calls(), 7U);
}

TEST(FaultyObjectStore, FailsExactlyTheNthCallForEveryN) {
  std::uint64_t n = 1;
  for (;; ++n) {
    auto inner = std::make_shared<MemoryObjectStore>();
    FaultyObjectStore store(inner, n);
    auto result = deployAndCollect(store);
    if (store.calls() < n) {  // the run ended before call n: nothing was injected
      EXPECT_TRUE(result) << "n=" << n;
      break;
    }
    ASSERT_FALSE(result) << "n=" << n;
    EXPECT_EQ(result.error().code, Errc::io);
    EXPECT_EQ(result.error().message, "injected failure at call " + std::to_string(n));
    EXPECT_EQ(store.calls(), n) << "the script stops at its first error";
    // A failed call does not reach the wrapped store: a failed finish stores nothing, a
    // failed commit commits nothing.
    if (n <= 3) {
      EXPECT_TRUE(inner->listBlobs().value().empty()) << "n=" << n;
    }
    if (n == 5) {
      EXPECT_TRUE(inner->listSites().value().empty());
    }
  }
  EXPECT_EQ(n, 8U);  // 7 calls were each failed once, then a clean run
}

}  // namespace
}  // namespace cutover
