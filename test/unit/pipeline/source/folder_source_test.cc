#include "pipeline/source/folder_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "cutover/common/site_path.h"
#include "cutover/common/utf8.h"
#include "source_test_support.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

namespace fs = std::filesystem;
using testing::errorOf;
using ::testing::HasSubstr;
using testing::readAll;
using testing::Seen;
using testing::TempDir;
using testing::writeFile;

Result<std::vector<Seen>> readFolder(const fs::path& root, const SourceLimits& limits = {}) {
  auto source = FolderSource::open(root, limits);
  if (!source) return tl::unexpected(source.error());
  return readAll(**source);
}

TEST(FolderSource, ReadsNestedFilesSortedWithDotfilesAndEmptyFiles) {
  TempDir dir;
  writeFile(dir / "site/index.html", "<h1>home</h1>");
  writeFile(dir / "site/b/c/deep.css", "p{}");
  writeFile(dir / "site/a.txt", "a");
  writeFile(dir / "site/.well-known/acme-challenge/tok", "secret");
  writeFile(dir / "site/empty", "");
  writeFile(dir / "site/caf\xc3\xa9.html", "unicode");
  fs::create_directories(dir / "site/empty-folder");
  auto seen = readFolder(dir / "site");
  ASSERT_TRUE(seen) << seen.error().describe();
  std::vector<Seen> expected{
      {".well-known/acme-challenge/tok", 6, "secret"},
      {"a.txt", 1, "a"},
      {"b/c/deep.css", 3, "p{}"},
      {"caf\xc3\xa9.html", 7, "unicode"},
      {"empty", 0, ""},
      {"index.html", 13, "<h1>home</h1>"},
  };
  EXPECT_EQ(*seen, expected);
}

TEST(FolderSource, GivesEachFileItsDiskPathAndIdentityForTheStatCache) {
  TempDir dir;
  writeFile(dir / "site/x/page.html", "hello");
  auto source = FolderSource::open(dir / "site", {});
  ASSERT_TRUE(source);
  auto listed = testing::listAll(**source);  // visiting without reading
  ASSERT_TRUE(listed) << listed.error().describe();
  ASSERT_EQ(listed->size(), 1U);
  const SourceEntry& e = (*listed)[0];
  struct stat st {};
  ASSERT_EQ(::stat((dir / "site/x/page.html").c_str(), &st), 0);
  EXPECT_EQ(e.path, "x/page.html");
  EXPECT_EQ(e.size, 5U);
  EXPECT_EQ(fs::canonical(e.disk_path), fs::canonical(dir / "site/x/page.html"));
  EXPECT_EQ(e.identity.device, st.st_dev);
  EXPECT_EQ(e.identity.inode, st.st_ino);
  EXPECT_EQ(e.identity.size, 5U);
  EXPECT_EQ(e.identity.mtime_ns, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec);
  EXPECT_EQ(e.identity.ctime_ns, st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec);
}

TEST(FolderSource, FollowsSymlinksThatStayInside) {
  TempDir dir;
  writeFile(dir / "site/assets/logo.svg", "<svg/>");
  fs::create_symlink("assets/logo.svg", dir / "site/favicon.svg");
  fs::create_symlink("assets", dir / "site/static");
  auto seen = readFolder(dir / "site");
  ASSERT_TRUE(seen) << seen.error().describe();
  std::vector<Seen> expected{{"assets/logo.svg", 6, "<svg/>"},
                             {"favicon.svg", 6, "<svg/>"},
                             {"static/logo.svg", 6, "<svg/>"}};
  EXPECT_EQ(*seen, expected);
}

TEST(FolderSource, ReadsAFolderReachedThroughASymlink) {
  TempDir dir;
  writeFile(dir / "real/index.html", "x");
  fs::create_symlink(dir / "real", dir / "link");
  auto seen = readFolder(dir / "link");
  ASSERT_TRUE(seen) << seen.error().describe();
  ASSERT_EQ(seen->size(), 1U);
  EXPECT_EQ((*seen)[0].path, "index.html");
}

void expectRefused(const fs::path& root, Errc code, const std::string& mentions,
                   const std::string& also, const SourceLimits& limits = {}) {
  auto source = FolderSource::open(root, limits);
  ASSERT_TRUE(source) << source.error().describe();
  Error e = errorOf(testing::listAll(**source));
  EXPECT_EQ(e.code, code) << e.describe();
  EXPECT_THAT(e.message, HasSubstr(mentions));
  EXPECT_THAT(e.message, HasSubstr(also));
}

TEST(FolderSource, RefusesASymlinkLeadingOutside) {
  TempDir dir;
  writeFile(dir / "secret", "password");
  writeFile(dir / "site/index.html", "x");
  fs::create_symlink("../../secret", dir / "site/sub-link");
  fs::create_directories(dir / "site/sub");
  fs::rename(dir / "site/sub-link", dir / "site/sub/leak");
  expectRefused(dir / "site", Errc::invalid_argument, "'sub/leak'", "outside");

  TempDir other;
  writeFile(other / "site/index.html", "x");
  fs::create_symlink("/etc", other / "site/etc");
  expectRefused(other / "site", Errc::invalid_argument, "'etc'", "outside");
}

TEST(FolderSource, RefusesDanglingAndLoopingSymlinks) {
  TempDir dir;
  writeFile(dir / "site/index.html", "x");
  fs::create_symlink("gone.html", dir / "site/old.html");
  expectRefused(dir / "site", Errc::invalid_argument, "'old.html'", "does not exist");

  TempDir loop;
  writeFile(loop / "site/index.html", "x");
  fs::create_symlink("b", loop / "site/a");
  fs::create_symlink("a", loop / "site/b");
  expectRefused(loop / "site", Errc::invalid_argument, "'a'", "loops");

  TempDir up;
  writeFile(up / "site/sub/index.html", "x");
  fs::create_symlink("..", up / "site/sub/parent");
  expectRefused(up / "site", Errc::invalid_argument, "'sub/parent'", "loops");
}

TEST(FolderSource, RefusesFifosAndSockets) {
  TempDir dir;
  writeFile(dir / "site/index.html", "x");
  ASSERT_EQ(::mkfifo((dir / "site/pipe").c_str(), 0600), 0);
  expectRefused(dir / "site", Errc::invalid_argument, "'pipe'", "FIFO");

  TempDir via_link;
  writeFile(via_link / "site/index.html", "x");
  fs::create_directories(via_link / "site/z");
  ASSERT_EQ(::mkfifo((via_link / "site/z/pipe").c_str(), 0600), 0);
  fs::create_symlink("z/pipe", via_link / "site/a-link");
  expectRefused(via_link / "site", Errc::invalid_argument, "symlink 'a-link'", "FIFO");
}

TEST(FolderSource, RefusesNamesASiteCannotServeRatherThanSkippingThem) {
  TempDir dir;
  writeFile(dir / "site/a\\b.html", "x");
  expectRefused(dir / "site", Errc::invalid_argument, "a\\b.html", "backslash");
}

TEST(FolderSource, RefusesANameThatIsNotUtf8NamingItEscaped) {
  TempDir dir;
  writeFile(dir / "site/index.html", "ok");
  writeFile(dir / "site/d/caf\xe9.html", "latin-1 name");
  expectRefused(dir / "site", Errc::invalid_argument, "'d/caf\\xE9.html'", "UTF-8");
  auto source = FolderSource::open(dir / "site", {});
  ASSERT_TRUE(source);
  EXPECT_TRUE(isValidUtf8(errorOf(testing::listAll(**source)).message));
}

TEST(FolderSource, EnforcesTheLimitsNamingTheFile) {
  TempDir dir;
  writeFile(dir / "site/a.txt", std::string(100, 'a'));
  writeFile(dir / "site/b.txt", std::string(3000, 'b'));
  writeFile(dir / "site/c.txt", "c");
  expectRefused(dir / "site", Errc::too_large, "'b.txt'", "max_file_size",
                {.max_file_bytes = 2048, .max_total_bytes = 1 << 20, .max_files = 10});
  expectRefused(dir / "site", Errc::too_large, "'b.txt'", "max_total_size",
                {.max_file_bytes = 1 << 20, .max_total_bytes = 3050, .max_files = 10});
  expectRefused(dir / "site", Errc::too_large, "more than 2 files (limit: max_files", "txt'",
                {.max_file_bytes = 1 << 20, .max_total_bytes = 1 << 20, .max_files = 2});
  auto fits =
      readFolder(dir / "site", {.max_file_bytes = 3000, .max_total_bytes = 3101, .max_files = 3});
  EXPECT_TRUE(fits) << fits.error().describe();
}

TEST(FolderSource, AFileThatChangesSizeMidDeployFailsTheDeploy) {
  TempDir dir;
  writeFile(dir / "site/a.txt", "original");
  auto source = FolderSource::open(dir / "site", {});
  ASSERT_TRUE(source);
  auto shrunk = readAll(**source);  // listed first, then rewritten before it is read
  ASSERT_TRUE(shrunk);
  auto done = (*source)->forEach([&](const SourceEntry&, EntryReader& reader) -> Result<void> {
    writeFile(dir / "site/a.txt", "now much longer than before");
    std::array<std::byte, 64> buffer{};
    auto n = reader.read(buffer);
    if (!n) return tl::unexpected(n.error());
    return {};
  });
  EXPECT_EQ(errorOf(done).code, Errc::io);
  EXPECT_THAT(errorOf(done).message, HasSubstr("'a.txt' changed size"));

  // Growing while it is being read.
  writeFile(dir / "site/a.txt", "0123456789");
  done = (*source)->forEach([&](const SourceEntry&, EntryReader& reader) -> Result<void> {
    std::array<std::byte, 4> buffer{};
    for (bool appended = false;;) {
      auto n = reader.read(buffer);
      if (!n) return tl::unexpected(n.error());
      if (*n == 0) return {};
      if (!appended) {
        std::ofstream(dir / "site/a.txt", std::ios::app) << "more";
        appended = true;
      }
    }
  });
  EXPECT_EQ(errorOf(done).code, Errc::io);
  EXPECT_THAT(errorOf(done).message, HasSubstr("'a.txt'"));
}

TEST(FolderSource, ReportsProgressInFileBytes) {
  TempDir dir;
  writeFile(dir / "site/a", std::string(10, 'a'));
  writeFile(dir / "site/b", std::string(30, 'b'));
  auto source = FolderSource::open(dir / "site", {});
  ASSERT_TRUE(source);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  auto done =
      (*source)->forEach([](const SourceEntry&, EntryReader&) -> Result<void> { return {}; },
                         [&](std::uint64_t d, std::uint64_t t) { calls.emplace_back(d, t); });
  ASSERT_TRUE(done);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> expected{{0, 40}, {10, 40}, {40, 40}};
  EXPECT_EQ(calls, expected);
  EXPECT_EQ((*source)->describe(), (dir / "site").string());
}

}  // namespace
}  // namespace cutover
