#include "store/local/local_object_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "cutover/common/hash.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

namespace fs = std::filesystem;
using cutover::testing::readFile;
using cutover::testing::TempDir;
using cutover::testing::writeFile;

std::span<const std::byte> asBytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

Result<StoredBlob> put(ObjectStore& store, std::string_view bytes) {
  auto writer = store.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  if (auto ok = (*writer)->write(asBytes(bytes)); !ok) return tl::unexpected(ok.error());
  return (*writer)->finish();
}

Manifest makeManifest(std::string site, std::string version,
                      std::string created = "2026-01-01T00:00:00.000Z") {
  return Manifest{std::move(site), std::move(version), std::move(created), "test", {}};
}

std::size_t countFiles(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_directory()) ++n;
  }
  return n;
}

class LocalObjectStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto opened = LocalObjectStore::open(root_, {.use_o_tmpfile = GetParam()});
    ASSERT_TRUE(opened) << opened.error().describe();
    store_ = std::move(*opened);
  }

  TempDir dir_;
  fs::path root_ = dir_ / "store";
  std::unique_ptr<LocalObjectStore> store_;
};

TEST_P(LocalObjectStoreTest, StoresBlobsAndManifestsInTheDocumentedLayout) {
  std::string hash = put(*store_, "body{}").value().hash;
  ASSERT_TRUE(store_->flush());
  fs::path blob = root_ / "blobs" / hash.substr(0, 2) / hash;
  EXPECT_EQ(readFile(blob), "body{}");
  // Immutable on disk too: no one gets to write into a stored blob by accident.
  struct stat st {};
  ASSERT_EQ(::stat(blob.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0U);

  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "v1")));
  EXPECT_TRUE(fs::is_regular_file(root_ / "manifests" / "docs" / "v1.json"));
  EXPECT_EQ(countFiles(root_ / "tmp"), 0U);
}

TEST_P(LocalObjectStoreTest, ASecondStoreOnTheSameFolderSeesWhatTheFirstWrote) {
  std::string hash = put(*store_, "shared bytes").value().hash;
  ASSERT_TRUE(store_->flush());
  Manifest m = makeManifest("docs", "v1");
  m.files["index.html"] = FileEntry{hash, 12, "text/html"};
  ASSERT_TRUE(store_->commitManifest(m));

  auto other = LocalObjectStore::open(root_).value();
  EXPECT_EQ(other->readBlob(hash).value(), "shared bytes");
  EXPECT_TRUE(other->missing(std::vector<std::string>{hash}).value().empty());
  EXPECT_EQ(other->readManifest("docs", "v1").value(), m);
  EXPECT_EQ(other->listSites().value(), std::vector<std::string>{"docs"});
  EXPECT_EQ(other->commitManifest(m).error().code, Errc::already_exists);
  auto again = put(*other, "shared bytes");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
}

TEST_P(LocalObjectStoreTest, RemoveLeftoversRemovesOrphanedTempFilesOnly) {
  std::string hash = put(*store_, "kept").value().hash;
  writeFile(root_ / "tmp" / "blob-0123456789abcdef.tmp", "a crashed writer's half file");
  writeFile(root_ / "tmp" / "manifest-fedcba9876543210.tmp", "{\"format\":1");
  EXPECT_EQ(store_->removeLeftovers().value(), 2U);
  EXPECT_EQ(countFiles(root_ / "tmp"), 0U);
  EXPECT_EQ(store_->removeLeftovers().value(), 0U);
  EXPECT_EQ(store_->readBlob(hash).value(), "kept");
}

TEST_P(LocalObjectStoreTest, AnUnfinishedWriterLeavesNoTempFileBehind) {
  {
    auto writer = store_->newBlob().value();
    ASSERT_TRUE(writer->write(asBytes("in flight")));
    // A named temp file exists only while the write is in flight (and never with O_TMPFILE).
    EXPECT_EQ(countFiles(root_ / "tmp"), store_->usesOTmpfile() ? 0U : 1U);
  }
  EXPECT_EQ(countFiles(root_ / "tmp"), 0U);
  EXPECT_EQ(countFiles(root_ / "blobs"), 0U);
}

TEST_P(LocalObjectStoreTest, NamesThatCouldLeaveTheRootAreRejectedBeforeTouchingTheDisk) {
  writeFile(dir_ / "secret" / "v1.json", "outside the store");
  for (const char* bad : {"..", ".", "../secret", "a/b", "docs/../..", "", "Docs", "a\\b"}) {
    auto site_commit = store_->commitManifest(makeManifest(bad, "v1"));
    ASSERT_FALSE(site_commit) << bad;
    EXPECT_EQ(site_commit.error().code, Errc::invalid_argument) << bad;
    auto version_commit = store_->commitManifest(makeManifest("docs", bad));
    ASSERT_FALSE(version_commit) << bad;
    EXPECT_EQ(version_commit.error().code, Errc::invalid_argument) << bad;
    EXPECT_FALSE(store_->readManifest(bad, "v1")) << bad;
    EXPECT_FALSE(store_->readManifest("docs", bad)) << bad;
    EXPECT_FALSE(store_->listVersions(bad)) << bad;
    EXPECT_FALSE(store_->deleteManifest(bad, "v1")) << bad;
    EXPECT_FALSE(store_->deleteManifest("docs", bad)) << bad;
  }
  // "../secret/v1" would reach dir_/secret/v1.json from manifests/.. if names were not checked.
  EXPECT_FALSE(store_->readManifest("..", "secret"));
  for (const std::string& bad :
       std::vector<std::string>{"../../secret/v1.json", "../tmp", "", std::string(64, 'A')}) {
    EXPECT_EQ(store_->openBlob(bad).error().code, Errc::not_found) << bad;
    EXPECT_EQ(store_->deleteBlob(bad).error().code, Errc::invalid_argument) << bad;
    EXPECT_EQ(store_->missing(std::vector<std::string>{bad}).value().size(), 1U) << bad;
  }
  EXPECT_EQ(readFile(dir_ / "secret" / "v1.json"), "outside the store");
  EXPECT_FALSE(fs::exists(root_ / "manifests" / "docs"));
  EXPECT_TRUE(store_->listSites().value().empty());
}

TEST_P(LocalObjectStoreTest, AManifestFileThatDoesNotMatchItsNameIsCorrupt) {
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "v1")));
  fs::path dir = root_ / "manifests" / "docs";
  fs::copy_file(dir / "v1.json", dir / "v2.json");  // v2.json claims to be v1
  auto swapped = store_->readManifest("docs", "v2");
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().code, Errc::io);
  EXPECT_NE(swapped.error().message.find("corrupt"), std::string::npos);

  writeFile(dir / "v3.json", "{\"format\":1,\"site\":");  // torn
  auto torn = store_->readManifest("docs", "v3");
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error().code, Errc::io);
}

TEST_P(LocalObjectStoreTest, ListingsIgnoreStrayFilesAndReadCreatedFromAnyKeyOrder) {
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "v1", "2026-01-01T00:00:00.000Z")));
  std::string hash = put(*store_, "blob").value().hash;
  writeFile(root_ / "manifests" / "docs" / "notes.txt", "not a manifest");
  writeFile(root_ / "manifests" / "docs" / "Bad_Id.json", "{}");
  writeFile(root_ / "manifests" / "Not-A-Site" / "v1.json", "{}");
  writeFile(root_ / "blobs" / "zz" / "junk", "x");
  writeFile(root_ / "blobs" / hash.substr(0, 2) / "junk", "x");
  // Written by hand (or by another tool): "created" is not the first key.
  writeFile(root_ / "manifests" / "docs" / "v2.json",
            R"({ "format": 1, "site": "docs", "version": "v2", "files": {},
                 "created": "2026-06-01T00:00:00.000Z" })");

  auto versions = store_->listVersions("docs").value();
  ASSERT_EQ(versions.size(), 2U);
  EXPECT_EQ(versions[0].version, "v2");
  EXPECT_EQ(versions[0].created, "2026-06-01T00:00:00.000Z");
  EXPECT_EQ(versions[1].version, "v1");
  EXPECT_EQ(versions[1].created, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(store_->listSites().value(), std::vector<std::string>{"docs"});
  EXPECT_EQ(store_->listBlobs().value(), std::vector<std::string>{hash});
}

TEST_P(LocalObjectStoreTest, AnotherProcessStoringTheSameBlobsAtOnceIsFine) {
  constexpr int kBlobs = 64;
  auto content = [](int i) {
    return std::string(20000 + static_cast<std::size_t>(i), static_cast<char>('a' + i % 26));
  };
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No gtest in here: report through the exit status only.
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(10);
    auto store = LocalObjectStore::open(root_, {.use_o_tmpfile = GetParam()});
    if (!store) ::_exit(11);
    for (int i = 0; i < kBlobs; ++i) {
      auto stored = put(**store, content(i));
      if (!stored || stored->hash != sha256Hex(content(i))) ::_exit(12);
    }
    ::_exit((*store)->flush() ? 0 : 13);
  }
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  for (int i = 0; i < kBlobs; ++i) {
    auto stored = put(*store_, content(i));
    ASSERT_TRUE(stored) << stored.error().describe();
  }
  ASSERT_TRUE(store_->flush());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ::close(go[0]);
  ::close(go[1]);

  EXPECT_EQ(store_->listBlobs().value().size(), static_cast<std::size_t>(kBlobs));
  for (int i = 0; i < kBlobs; ++i) {
    EXPECT_EQ(store_->readBlob(sha256Hex(content(i))).value(), content(i)) << i;
  }
  EXPECT_EQ(countFiles(root_ / "tmp"), 0U);
}

INSTANTIATE_TEST_SUITE_P(TempFiles, LocalObjectStoreTest, ::testing::Values(true, false),
                         [](const auto& param_info) {
                           return param_info.param ? "o_tmpfile" : "named_temp_files";
                         });

void setAge(const fs::path& file, std::chrono::seconds age) {
  fs::last_write_time(file, fs::file_time_type::clock::now() - age);
}

// A server killed mid-upload leaves its named temp files; the next open of the store removes
// them, and only them: a live writer's file stays.
TEST(LocalObjectStoreOpen, RemovesTempFilesThatDeadWritersLeft) {
  TempDir dir;
  auto root = dir / "store";
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  std::string me = std::to_string(::getpid());
  {
    auto first = LocalObjectStore::open(root, {.use_o_tmpfile = false}).value();
    auto in_flight = first->newBlob().value();
    ASSERT_TRUE(in_flight->write(asBytes("a live writer's bytes")));
    fs::create_directories(root / "tmp");
    writeFile(root / "tmp" / ("blob-" + std::to_string(dead) + "-0123456789abcdef.tmp"), "dead");
    writeFile(root / "tmp" / ("blob-" + me + "-00000000000000aa.tmp"), "live, fresh");
    writeFile(root / "tmp" / ("blob-" + me + "-00000000000000bb.tmp"), "live, untouched");
    setAge(root / "tmp" / ("blob-" + me + "-00000000000000bb.tmp"), std::chrono::hours(2));
    writeFile(root / "tmp" / "blob-0123456789abcdef.tmp", "no pid, old");
    setAge(root / "tmp" / "blob-0123456789abcdef.tmp", std::chrono::minutes(2));
    writeFile(root / "tmp" / "manifest-fedcba9876543210.tmp", "no pid, fresh");
    ASSERT_EQ(countFiles(root / "tmp"), 6U);

    auto second = LocalObjectStore::open(root);
    ASSERT_TRUE(second) << second.error().describe();
    std::set<std::string> left;
    for (const auto& entry : fs::directory_iterator(root / "tmp")) {
      left.insert(entry.path().filename().string());
    }
    EXPECT_EQ(left.size(), 3U);
    EXPECT_TRUE(left.contains("blob-" + me + "-00000000000000aa.tmp"));
    EXPECT_TRUE(left.contains("manifest-fedcba9876543210.tmp"));
    // The first store's writer still finishes.
    auto stored = in_flight->finish();
    ASSERT_TRUE(stored) << stored.error().describe();
    EXPECT_EQ((*second)->readBlob(stored->hash).value(), "a live writer's bytes");
  }
}

TEST(LocalObjectStoreOpen, FailsWithTheFolderNamedWhenTheRootCannotBeCreated) {
  TempDir dir;
  writeFile(dir / "file", "a file, not a folder");
  auto store = LocalObjectStore::open(dir / "file" / "store");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::io);
  EXPECT_NE(store.error().message.find((dir / "file" / "store").string()), std::string::npos);
}

}  // namespace
}  // namespace cutover
