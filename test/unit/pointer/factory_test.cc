// makePointerStore: which URIs give which store, and what a wrong one says.
#include <gtest/gtest.h>

#include <string>

#include "cutover/common/config_error.h"
#include "cutover/pointer/pointer_store.h"
#include "pointer/embedded/embedded_pointer_store.h"
#include "pointer/etcd/etcd_pointer_store.h"
#include "pointer/memory/memory_pointer_store.h"
#include "pointer/redis/redis_pointer_store.h"
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
  for (const std::string uri : {"memory:x", "s3:"}) {
    auto message = configErrorOf(uri);
    EXPECT_NE(message.find(uri), std::string::npos) << message;
    EXPECT_NE(message.find("file:///"), std::string::npos) << message;
  }
  EXPECT_NE(configErrorOf("file://relative/path").find("absolute"), std::string::npos);
  EXPECT_NE(configErrorOf("").find("no pointer store"), std::string::npos);
}

TEST(MakePointerStore, RedisUriGivesARedisStoreThatConnectsOnFirstUse) {
  // Nothing listens there: the store is built all the same, and says so at its first call.
  auto store = makePointerStore("redis://127.0.0.1:1/2?prefix=site%2Fa:");
  auto* redis = dynamic_cast<RedisPointerStore*>(store.get());
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(redis->config().db, 2);
  EXPECT_EQ(redis->config().prefix, "site/a:");
  auto value = store->get("live/docs");
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().code, Errc::unavailable);
  EXPECT_NE(value.error().message.find("127.0.0.1:1"), std::string::npos) << value.error().message;
}

TEST(MakePointerStore, BadRedisUriIsAConfigErrorThatHidesThePassword) {
  auto message = configErrorOf("redis://:hunter2@cache:port");
  EXPECT_NE(message.find("port"), std::string::npos) << message;
  EXPECT_NE(message.find("redis://:***@cache:port"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST(MakePointerStore, EtcdUriGivesAnEtcdStoreThatConnectsOnFirstUse) {
  // Nothing listens there: the store is built all the same, and says so at its first call.
  auto store = makePointerStore("etcd://127.0.0.1:1,127.0.0.1:2/prod");
  auto* etcd = dynamic_cast<EtcdPointerStore*>(store.get());
  ASSERT_NE(etcd, nullptr);
  EXPECT_EQ(etcd->options().connection.endpoints,
            (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
  EXPECT_EQ(etcd->options().prefix, "prod/");
  auto value = store->get("live/docs");
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().code, Errc::unavailable);
  EXPECT_NE(value.error().message.find("127.0.0.1:2"), std::string::npos) << value.error().message;
  EXPECT_NE(configErrorOf("etcd://h1:port").find("port"), std::string::npos);
}

TEST(MakePointerStore, FolderThatCannotBeCreatedIsAConfigError) {
  testing::TempDir dir;
  testing::writeFile(dir / "file", "not a folder");
  auto message = configErrorOf((dir / "file" / "pointers").string());
  EXPECT_NE(message.find("cannot open the pointer store"), std::string::npos) << message;
}

}  // namespace
}  // namespace cutover
