#include <gtest/gtest.h>

#include "cutover/common/config_error.h"
#include "cutover/common/hash.h"
#include "cutover/store/object_store.h"
#include "store/local/local_object_store.h"
#include "store/memory/memory_object_store.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using cutover::testing::TempDir;

std::string putAndCheck(ObjectStore& store, std::string_view bytes) {
  auto writer = store.newBlob().value();
  EXPECT_TRUE(writer->write(std::as_bytes(std::span(bytes.data(), bytes.size()))));
  return writer->finish().value().hash;
}

TEST(MakeObjectStore, FileUriOpensALocalStoreInThatFolder) {
  TempDir dir;
  auto store = makeObjectStore("file://" + (dir / "objects").string());
  std::string hash = putAndCheck(*store, "hi");
  auto* local = dynamic_cast<LocalObjectStore*>(store.get());
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->root(), dir / "objects");
  EXPECT_TRUE(std::filesystem::exists(dir / "objects" / "blobs" / hash.substr(0, 2) / hash));
}

TEST(MakeObjectStore, PlainPathAndLocalhostUriMeanTheSameStore) {
  TempDir dir;
  auto by_path = makeObjectStore((dir / "objects").string());
  std::string hash = putAndCheck(*by_path, "shared");
  auto by_uri = makeObjectStore("file://localhost" + (dir / "objects").string());
  EXPECT_EQ(by_uri->readBlob(hash).value(), "shared");
}

TEST(MakeObjectStore, FileUriPathIsPercentDecoded) {
  TempDir dir;
  auto store = makeObjectStore("file://" + dir.path().string() + "/my%20objects");
  ASSERT_NE(dynamic_cast<LocalObjectStore*>(store.get()), nullptr);
  EXPECT_TRUE(std::filesystem::is_directory(dir / "my objects" / "blobs"));
}

TEST(MakeObjectStore, MemoryUriGivesAnEmptyMemoryStore) {
  auto store = makeObjectStore("memory:");
  ASSERT_NE(dynamic_cast<MemoryObjectStore*>(store.get()), nullptr);
  EXPECT_TRUE(store->listBlobs().value().empty());
  std::string hash = putAndCheck(*store, "x");
  EXPECT_EQ(store->readBlob(hash).value(), "x");
}

TEST(MakeObjectStore, RejectsWhatItCannotServeNamingTheUri) {
  TempDir dir;
  testing::writeFile(dir / "a-file", "not a folder");
  for (const std::string& uri :
       {std::string("s3://bucket/prefix?no_such_option=1"), std::string("etcd://localhost:2379"),
        std::string("memory:extra"), std::string("file:relative/path"),
        std::string("file://otherhost/srv/objects"), std::string("file://"),
        std::string("file:///tmp/bad%zzescape"), "file://" + (dir / "a-file" / "objects").string(),
        (dir / "a-file").string()}) {
    try {
      makeObjectStore(uri);
      ADD_FAILURE() << "accepted " << uri;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(uri), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(makeObjectStore(""), ConfigError);
}

}  // namespace
}  // namespace cutover
