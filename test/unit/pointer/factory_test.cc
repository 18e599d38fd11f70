// makePointerStore: which URIs give which store, and what a wrong one says.
#include <gtest/gtest.h>

#include <string>

#include "cutover/common/config_error.h"
#include "cutover/pointer/pointer_store.h"
#include "pointer/embedded/embedded_pointer_store.h"
#include "pointer/memory/memory_pointer_store.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

std::string configErrorOf(const std::string& uri) {
  try {
    makePointerStore(uri);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
}

TEST(MakePointerStore, MemoryUri) {
  auto store = makePointerStore("memory:");
  EXPECT_NE(dynamic_cast<MemoryPointerStore*>(store.get()), nullptr);
}

TEST(MakePointerStore, FileUriAndPlainPathShareOneEmbeddedStore) {
  testing::TempDir dir;
  auto folder = dir / "pointers dir";
  auto byUri = makePointerStore("file://" + (dir.path() / "pointers%20dir").string());
  auto* embedded = dynamic_cast<EmbeddedPointerStore*>(byUri.get());
  ASSERT_NE(embedded, nullptr);
  EXPECT_EQ(embedded->folder(), folder);
  ASSERT_TRUE(byUri->compareAndSet("live/docs", std::nullopt, "v1"));

  auto byPath = makePointerStore(folder.string());
  ASSERT_NE(dynamic_cast<EmbeddedPointerStore*>(byPath.get()), nullptr);
  EXPECT_EQ(*byPath->get("live/docs"), "v1");
  auto byLocalhost = makePointerStore("file://localhost" + folder.string());
  EXPECT_EQ(*byLocalhost->get("live/docs"), "v1");
}

TEST(MakePointerStore, UnsupportedUrisSayWhatWouldWork) {
  for (const std::string uri : {"etcd://127.0.0.1:2379", "redis://cache:6379", "memory:x", "s3:"}) {
    auto message = configErrorOf(uri);
    EXPECT_NE(message.find(uri), std::string::npos) << message;
    EXPECT_NE(message.find("file:///"), std::string::npos) << message;
  }
  EXPECT_NE(configErrorOf("file://relative/path").find("absolute"), std::string::npos);
  EXPECT_NE(configErrorOf("").find("no pointer store"), std::string::npos);
}

TEST(MakePointerStore, FolderThatCannotBeCreatedIsAConfigError) {
  testing::TempDir dir;
  testing::writeFile(dir / "file", "not a folder");
  auto message = configErrorOf((dir / "file" / "pointers").string());
  EXPECT_NE(message.find("cannot open the pointer store"), std::string::npos) << message;
}

}  // namespace
}  // namespace cutover
