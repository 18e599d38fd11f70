#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "cutover/pipeline/source.h"
#include "source_test_support.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

namespace fs = std::filesystem;
using testing::ArchiveItem;
using testing::ArchiveKind;
using testing::errorOf;
using ::testing::HasSubstr;
using testing::readAll;
using testing::Seen;
using testing::TempDir;

// One site tree, as files on disk and as archive items.
const std::vector<std::pair<std::string, std::string>> kTree{
    {".well-known/security.txt", "Contact: x"},
    {"assets/app.js", std::string(300'000, 'j') + "end"},
    {"assets/img/\xe2\x98\x83.svg", "<svg/>"},
    {"empty.txt", ""},
    {"index.html", "<h1>hello</h1>"},
};

std::vector<Seen> sorted(std::vector<Seen> seen) {
  std::sort(seen.begin(), seen.end(), [](const Seen& a, const Seen& b) { return a.path < b.path; });
  return seen;
}

TEST(OpenSource, AFolderAndItsZipTarAndTarGzYieldTheSameFiles) {
  TempDir dir;
  std::vector<ArchiveItem> items{testing::folder("assets/")};
  for (const auto& [path, data] : kTree) {
    testing::writeFile(dir / ("site/" + path), data);
    items.push_back(testing::file(path, data));
  }
  auto folder = readAll(dir / "site");
  ASSERT_TRUE(folder) << folder.error().describe();
  ASSERT_EQ(folder->size(), kTree.size());
  for (std::size_t i = 0; i < kTree.size(); ++i) {
    EXPECT_EQ((*folder)[i].path, kTree[i].first);
    EXPECT_EQ((*folder)[i].size, kTree[i].second.size());
    EXPECT_TRUE((*folder)[i].bytes == kTree[i].second) << kTree[i].first;
  }

  // Named to mislead: the format is recognized by content.
  for (auto [kind, name] :
       {std::pair{ArchiveKind::zip, "site.tar"}, std::pair{ArchiveKind::tar, "site.zip"},
        std::pair{ArchiveKind::tgz, "site.bin"}}) {
    testing::writeArchive(dir / name, kind, items);
    auto archived = readAll(dir / name);
    ASSERT_TRUE(archived) << name << ": " << archived.error().describe();
    EXPECT_TRUE(sorted(*archived) == *folder) << name;
  }
}

TEST(OpenSource, ReadsArchivesMadeByTheZipAndTarCommands) {
  TempDir dir;
  for (const auto& [path, data] : kTree) testing::writeFile(dir / ("site/" + path), data);
  auto folder = readAll(dir / "site");
  ASSERT_TRUE(folder);
  const std::string site = (dir / "site").string();
  const std::string out = dir.path().string();
  ASSERT_EQ(std::system(("cd '" + site + "' && zip -qr '" + out + "/cmd.zip' .").c_str()), 0);
  ASSERT_EQ(std::system(("tar -czf '" + out + "/cmd.tgz' -C '" + site + "' .").c_str()), 0);
  ASSERT_EQ(std::system(("tar -cf '" + out + "/cmd.tar' -C '" + site + "' .").c_str()), 0);
  for (const char* name : {"cmd.zip", "cmd.tgz", "cmd.tar"}) {
    auto archived = readAll(dir / name);
    ASSERT_TRUE(archived) << name << ": " << archived.error().describe();
    EXPECT_TRUE(sorted(*archived) == *folder) << name;
  }
}

TEST(OpenSource, AMissingPathIsNotFound) {
  TempDir dir;
  auto source = openSource(dir / "nope");
  EXPECT_EQ(errorOf(source).code, Errc::not_found);
  EXPECT_THAT(errorOf(source).message, HasSubstr("nope"));
}

TEST(OpenSource, AFileThatIsNoArchiveIsABadArchive) {
  TempDir dir;
  testing::writeFile(dir / "notes.tar.gz", "just some text, not gzip at all\n");
  auto source = openSource(dir / "notes.tar.gz");
  EXPECT_EQ(errorOf(source).code, Errc::bad_archive);
  EXPECT_THAT(errorOf(source).message,
              HasSubstr("'notes.tar.gz' is not a zip, tar or tar.gz archive"));
}

TEST(OpenSource, DescribesFoldersByPathAndArchivesByName) {
  TempDir dir;
  testing::writeFile(dir / "site/index.html", "x");
  testing::writeArchive(dir / "site.zip", ArchiveKind::zip, {testing::file("index.html", "x")});
  auto folder = openSource(dir / "site");
  auto zip = openSource(dir / "site.zip");
  ASSERT_TRUE(folder);
  ASSERT_TRUE(zip);
  EXPECT_EQ((*folder)->describe(), (dir / "site").string());
  EXPECT_EQ((*zip)->describe(), "site.zip");
}

}  // namespace
}  // namespace cutover
