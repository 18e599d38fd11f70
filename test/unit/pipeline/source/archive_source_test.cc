#include "pipeline/source/archive_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <random>

#include "cutover/common/site_path.h"
#include "cutover/common/utf8.h"
#include "source_test_support.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::ArchiveItem;
using testing::ArchiveKind;
using testing::errorOf;
using ::testing::HasSubstr;
using testing::readAll;
using testing::tarEnd;
using testing::TempDir;
using testing::ustarFile;
using testing::ustarHeader;

std::string randomBytes(std::size_t n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::filesystem::path writeRaw(const TempDir& dir, const std::string& name,
                               const std::string& bytes) {
  testing::writeFile(dir / name, bytes);
  return dir / name;
}

void cutInHalf(const std::filesystem::path& file) {
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
}

// --- reading what is there -------------------------------------------------------------------

TEST(ArchiveSource, ReadsEveryFileOfEachFormatSkippingFolders) {
  TempDir dir;
  for (ArchiveKind kind : {ArchiveKind::zip, ArchiveKind::tar, ArchiveKind::tgz}) {
    auto file = dir / ("site" + std::to_string(static_cast<int>(kind)));
    testing::writeArchive(file, kind,
                          {testing::folder("css/"), testing::file("css/site.css", "body{}"),
                           testing::file("index.html", "<h1>hi</h1>"), testing::file("empty.txt")});
    auto seen = readAll(file);
    ASSERT_TRUE(seen) << seen.error().describe();
    std::vector<testing::Seen> expected{
        {"css/site.css", 6, "body{}"}, {"index.html", 11, "<h1>hi</h1>"}, {"empty.txt", 0, ""}};
    EXPECT_EQ(*seen, expected) << static_cast<int>(kind);
  }
}

TEST(ArchiveSource, NormalizesDotSlashNamesAsTarWritesThem) {
  TempDir dir;
  auto file = writeRaw(dir, "dot.tar",
                       ustarHeader("./", 0, '5') + ustarHeader("./sub/", 0, '5') +
                           ustarFile("./sub//page.html", "x") +
                           ustarFile("./.well-known/acme", "tok") + tarEnd());
  auto seen = readAll(file);
  ASSERT_TRUE(seen) << seen.error().describe();
  ASSERT_EQ(seen->size(), 2U);
  EXPECT_EQ((*seen)[0].path, "sub/page.html");
  EXPECT_EQ((*seen)[1].path, ".well-known/acme");
  EXPECT_EQ((*seen)[1].bytes, "tok");
}

TEST(ArchiveSource, KeepsUnicodeNames) {
  TempDir dir;
  for (ArchiveKind kind : {ArchiveKind::zip, ArchiveKind::tar, ArchiveKind::tgz}) {
    auto file = dir / ("u" + std::to_string(static_cast<int>(kind)));
    testing::writeArchive(file, kind,
                          {testing::file("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.html", "ok")});
    auto seen = readAll(file);
    ASSERT_TRUE(seen) << seen.error().describe();
    ASSERT_EQ(seen->size(), 1U);
    EXPECT_EQ((*seen)[0].path, "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.html")
        << static_cast<int>(kind);
  }
}

TEST(ArchiveSource, BigFilesStreamIntactThroughAnyBufferSize) {
  TempDir dir;
  std::string big = randomBytes(1'500'000);
  for (ArchiveKind kind : {ArchiveKind::zip, ArchiveKind::tar, ArchiveKind::tgz}) {
    auto file = dir / ("big" + std::to_string(static_cast<int>(kind)));
    testing::writeArchive(file, kind,
                          {testing::file("a.bin", big), testing::file("b.txt", "after")});
    for (std::size_t buffer : {std::size_t{7}, std::size_t{256} * 1024}) {
      auto source = ArchiveSource::open(file, {});
      ASSERT_TRUE(source) << source.error().describe();
      auto seen = readAll(**source, buffer);
      ASSERT_TRUE(seen) << seen.error().describe();
      ASSERT_EQ(seen->size(), 2U);
      EXPECT_TRUE((*seen)[0].bytes == big) << static_cast<int>(kind) << " buffer " << buffer;
      EXPECT_EQ((*seen)[1].bytes, "after");
    }
  }
}

TEST(ArchiveSource, VisitingWithoutReadingOrReadingPartlyStillSeesEveryEntry) {
  TempDir dir;
  std::string big = randomBytes(600'000);
  for (ArchiveKind kind : {ArchiveKind::zip, ArchiveKind::tar, ArchiveKind::tgz}) {
    auto file = dir / ("p" + std::to_string(static_cast<int>(kind)));
    testing::writeArchive(file, kind,
                          {testing::file("a.bin", big), testing::file("b.txt", "bee"),
                           testing::file("c.txt", "sea")});
    auto source = ArchiveSource::open(file, {});
    ASSERT_TRUE(source);
    auto listed = testing::listAll(**source);
    ASSERT_TRUE(listed) << listed.error().describe();
    ASSERT_EQ(listed->size(), 3U);
    EXPECT_EQ((*listed)[0].size, big.size());
    EXPECT_EQ((*listed)[2].path, "c.txt");
    EXPECT_TRUE((*listed)[0].disk_path.empty());

    // Reading only the first bytes of the big file must not shift the next entry's bytes.
    std::vector<std::string> tails;
    auto done =
        (*source)->forEach([&](const SourceEntry& entry, EntryReader& reader) -> Result<void> {
          std::array<std::byte, 3> small{};
          auto n = reader.read(small);
          if (!n) return tl::unexpected(n.error());
          if (entry.path != "a.bin") {
            tails.emplace_back(reinterpret_cast<const char*>(small.data()), *n);
          }
          return {};
        });
    ASSERT_TRUE(done) << done.error().describe();
    EXPECT_EQ(tails, (std::vector<std::string>{"bee", "sea"})) << static_cast<int>(kind);
  }
}

TEST(ArchiveSource, ReportsProgressInArchiveBytesUpToTheFileSize) {
  TempDir dir;
  auto file = dir / "site.tgz";
  testing::writeArchive(file, ArchiveKind::tgz,
                        {testing::file("a.bin", randomBytes(900'000)),
                         testing::file("b.bin", randomBytes(900'000, 9))});
  const auto size = std::filesystem::file_size(file);
  auto source = ArchiveSource::open(file, {});
  ASSERT_TRUE(source);
  std::vector<std::uint64_t> done;
  auto listed =
      (*source)->forEach([](const SourceEntry&, EntryReader&) -> Result<void> { return {}; },
                         [&](std::uint64_t d, std::uint64_t total) {
                           EXPECT_EQ(total, size);
                           done.push_back(d);
                         });
  ASSERT_TRUE(listed) << listed.error().describe();
  ASSERT_GE(done.size(), 3U);
  EXPECT_TRUE(std::is_sorted(done.begin(), done.end()));
  EXPECT_GT(done[1], 0U);
  EXPECT_LT(done[1], size);
  EXPECT_EQ(done.back(), size);
}

TEST(ArchiveSource, AVisitorErrorStopsTheWalkAndIsReturned) {
  TempDir dir;
  auto file = dir / "s.zip";
  testing::writeArchive(file, ArchiveKind::zip, {testing::file("a", "1"), testing::file("b", "2")});
  auto source = ArchiveSource::open(file, {});
  ASSERT_TRUE(source);
  int visits = 0;
  auto done = (*source)->forEach([&](const SourceEntry&, EntryReader&) -> Result<void> {
    ++visits;
    return fail(Errc::io, "disk full");
  });
  EXPECT_EQ(errorOf(done).message, "disk full");
  EXPECT_EQ(visits, 1);
}

// --- refusing what is hostile ----------------------------------------------------------------

struct Refusal {
  Errc code;
  std::string mentions;  // the entry or the problem, as the user reads it
  std::string also;
};

void expectRefused(const std::filesystem::path& file, const Refusal& want,
                   const SourceLimits& limits = {}) {
  auto source = ArchiveSource::open(file, limits);
  Result<std::vector<testing::Seen>> seen =
      source ? readAll(**source) : tl::unexpected(source.error());
  Error e = errorOf(seen);
  EXPECT_EQ(e.code, want.code) << e.describe();
  EXPECT_THAT(e.message, HasSubstr(want.mentions));
  EXPECT_THAT(e.message, HasSubstr(want.also));
  if (source) {
    // Visiting without reading must fail the same way: a skipped entry is no way around the checks.
    auto listed = testing::listAll(**source);
    EXPECT_EQ(errorOf(listed).code, want.code) << errorOf(listed).describe();
  }
}

TEST(ArchiveSource, RefusesEntriesThatLeaveTheSite) {
  TempDir dir;
  expectRefused(
      writeRaw(dir, "dotdot.tar", ustarFile("ok.txt", "1") + ustarFile("../evil", "x") + tarEnd()),
      {Errc::bad_archive, "'../evil'", ".."});
  expectRefused(writeRaw(dir, "deep.tar", ustarFile("a/../../evil", "x") + tarEnd()),
                {Errc::bad_archive, "'a/../../evil'", ".."});
  expectRefused(writeRaw(dir, "abs.tar", ustarFile("/etc/x", "x") + tarEnd()),
                {Errc::bad_archive, "'/etc/x'", "absolute"});
  expectRefused(writeRaw(dir, "bs.tar", ustarFile("a\\..\\b", "x") + tarEnd()),
                {Errc::bad_archive, "a\\..\\b", "backslash"});
  auto zip = dir / "dotdot.zip";
  testing::writeArchive(zip, ArchiveKind::zip, {testing::file("../../etc/passwd", "x")});
  expectRefused(zip, {Errc::bad_archive, "'../../etc/passwd'", ".."});
}

TEST(ArchiveSource, RefusesANameThatIsNotUtf8NamingItEscaped) {
  TempDir dir;
  expectRefused(
      writeRaw(dir, "latin1.tar",
               ustarFile("index.html", "ok") + ustarFile("d/caf\xe9.html", "x") + tarEnd()),
      {Errc::bad_archive, "'d/caf\\xE9.html'", "UTF-8"});
  // A link's name and target are shown escaped too: every message is valid UTF-8.
  auto link = ArchiveSource::open(
      writeRaw(dir, "link.tar", ustarHeader("l\xe9", 0, '2', "t\xe9") + tarEnd()), {});
  ASSERT_TRUE(link);
  auto e = errorOf(readAll(**link));
  EXPECT_EQ(e.code, Errc::bad_archive);
  EXPECT_THAT(e.message, HasSubstr("'l\\xE9'"));
  EXPECT_TRUE(isValidUtf8(e.message)) << e.message;
}

TEST(ArchiveSource, RefusesLinksDevicesAndFifos) {
  TempDir dir;
  expectRefused(writeRaw(dir, "sym.tar", ustarHeader("link", 0, '2', "/etc/passwd") + tarEnd()),
                {Errc::bad_archive, "'link' is a symlink", "/etc/passwd"});
  expectRefused(
      writeRaw(dir, "hard.tar", ustarFile("a", "1") + ustarHeader("b", 0, '1', "a") + tarEnd()),
      {Errc::bad_archive, "'b' is a hard link", "'a'"});
  expectRefused(writeRaw(dir, "chr.tar", ustarHeader("null", 0, '3') + tarEnd()),
                {Errc::bad_archive, "'null' is a character device", ""});
  expectRefused(writeRaw(dir, "blk.tar", ustarHeader("sda", 0, '4') + tarEnd()),
                {Errc::bad_archive, "'sda' is a block device", ""});
  expectRefused(writeRaw(dir, "fifo.tar", ustarHeader("pipe", 0, '6') + tarEnd()),
                {Errc::bad_archive, "'pipe' is a FIFO", ""});
  auto zip = dir / "sym.zip";
  testing::writeArchive(zip, ArchiveKind::zip, {testing::symlink("up", "../..")});
  expectRefused(zip, {Errc::bad_archive, "'up' is a symlink", "../.."});
  auto tgz = dir / "hard.tgz";
  testing::writeArchive(tgz, ArchiveKind::tgz,
                        {testing::file("a", "1"), testing::hardlink("b", "a")});
  expectRefused(tgz, {Errc::bad_archive, "'b' is a hard link", ""});
}

TEST(ArchiveSource, RefusesTwoEntriesForOnePath) {
  TempDir dir;
  expectRefused(
      writeRaw(dir, "dup.tar", ustarFile("a/b.txt", "1") + ustarFile("./a//b.txt", "2") + tarEnd()),
      {Errc::bad_archive, "two entries are named 'a/b.txt'", ""});
  expectRefused(
      writeRaw(dir, "fileandfolder.tar", ustarFile("a", "1") + ustarFile("a/b", "2") + tarEnd()),
      {Errc::bad_archive, "'a/b' is inside 'a', which is a file", ""});
  expectRefused(
      writeRaw(dir, "folderandfile.tar", ustarFile("a/b", "1") + ustarFile("a", "2") + tarEnd()),
      {Errc::bad_archive, "entry 'a' is a file, but other entries are inside it", ""});
  auto zip = dir / "dup.zip";
  testing::writeArchive(zip, ArchiveKind::zip,
                        {testing::file("i.html", "1"), testing::file("i.html", "2")});
  expectRefused(zip, {Errc::bad_archive, "'i.html'", "two entries"});
}

TEST(ArchiveSource, RefusesWhatIsNotAnArchive) {
  TempDir dir;
  expectRefused(writeRaw(dir, "random.bin", randomBytes(10'000)),
                {Errc::bad_archive, "'random.bin' is not a zip, tar or tar.gz archive", ""});
  expectRefused(writeRaw(dir, "empty.zip", ""),
                {Errc::bad_archive, "'empty.zip' is not a zip, tar or tar.gz", "empty"});
  expectRefused(writeRaw(dir, "page.html", "<!doctype html><h1>not an archive</h1>"),
                {Errc::bad_archive, "is not a zip, tar or tar.gz archive", ""});
}

TEST(ArchiveSource, RefusesACutOffZip) {
  TempDir dir;
  auto zip = dir / "cut.zip";
  testing::writeArchive(zip, ArchiveKind::zip,
                        {testing::file("a.bin", randomBytes(200'000)),
                         testing::file("b.bin", randomBytes(200'000, 3))});
  cutInHalf(zip);
  expectRefused(zip, {Errc::bad_archive, "'cut.zip'", "central directory"});
}

TEST(ArchiveSource, RefusesACutOffTarGz) {
  TempDir dir;
  auto tgz = dir / "cut.tgz";
  testing::writeArchive(tgz, ArchiveKind::tgz,
                        {testing::file("a.bin", randomBytes(400'000)),
                         testing::file("b.bin", randomBytes(400'000, 3))});
  cutInHalf(tgz);
  expectRefused(tgz, {Errc::bad_archive, "truncated", "gzip"});
}

TEST(ArchiveSource, RefusesACutOffTar) {
  TempDir dir;
  auto tar = dir / "cut.tar";
  testing::writeArchive(tar, ArchiveKind::tar, {testing::file("a.bin", randomBytes(100'000))});
  cutInHalf(tar);
  expectRefused(tar, {Errc::bad_archive, "a.bin", "Truncated"});
}

TEST(ArchiveSource, RefusesATarCutExactlyBetweenTwoEntries) {
  // libarchive alone would read this as a whole archive holding only the first file.
  TempDir dir;
  expectRefused(writeRaw(dir, "between.tar", ustarFile("a.txt", "first")),
                {Errc::bad_archive, "'between.tar' is truncated", "end-of-archive"});
  // The same inside gzip: the gzip stream is whole, the tar in it is not.
  ASSERT_EQ(std::system(("gzip -c '" + (dir / "between.tar").string() + "' > '" +
                         (dir / "between.tgz").string() + "'")
                            .c_str()),
            0);
  expectRefused(dir / "between.tgz",
                {Errc::bad_archive, "'between.tgz' is truncated", "end-of-archive"});

  auto whole = readAll(writeRaw(dir, "whole.tar", ustarFile("a.txt", "first") + tarEnd()));
  ASSERT_TRUE(whole) << whole.error().describe();
  EXPECT_EQ(whole->size(), 1U);
}

TEST(ArchiveSource, RefusesCorruptData) {
  TempDir dir;
  // A flipped byte inside a zip entry's data fails its CRC.
  auto zip = dir / "flip.zip";
  std::string payload = randomBytes(50'000);
  testing::writeArchive(zip, ArchiveKind::zip, {testing::file("a.bin", payload)});
  std::string bytes = testing::readFile(zip);
  auto at = bytes.find(payload.substr(20'000, 64));  // random bytes are stored, not deflated
  if (at == std::string::npos) at = bytes.size() / 2;
  bytes[at] = static_cast<char>(bytes[at] ^ 0x55);
  testing::writeFile(zip, bytes);
  expectRefused(zip, {Errc::bad_archive, "'a.bin'", "corrupt"});

  // A tar header whose checksum does not match.
  std::string second = ustarHeader("b.txt", 1);
  second[0] = 'c';
  expectRefused(
      writeRaw(dir, "damaged.tar",
               ustarFile("a.txt", "1") + second + std::string(512, 'x') + tarEnd()),
      {Errc::bad_archive, "'damaged.tar' is truncated or corrupt after 1 entry", "Damaged"});
}

TEST(ArchiveSource, RefusesAZipEntryThatInflatesPastItsDeclaredSize) {
  // A zip bomb's trick: the directory promises a small file, the data inflates to far more.
  TempDir dir;
  auto zip = dir / "bomb.zip";
  testing::writeArchive(zip, ArchiveKind::zip,
                        {testing::file("bomb.txt", std::string(1'000'000, 'a'))});
  std::string bytes = testing::readFile(zip);
  auto patchSize = [&](std::string_view signature, std::size_t offset) {
    for (auto at = bytes.find(signature); at != std::string::npos;
         at = bytes.find(signature, at + 1)) {
      if (bytes.compare(at + offset, 4, std::string("\x40\x42\x0f\x00", 4)) == 0) {  // 1'000'000 LE
        bytes.replace(at + offset, 4, std::string("\x0a\x00\x00\x00", 4));           // 10
      }
    }
  };
  patchSize(std::string_view("PK\x03\x04", 4), 22);
  patchSize(std::string_view("PK\x01\x02", 4), 24);
  patchSize(std::string_view("PK\x07\x08", 4), 12);
  testing::writeFile(zip, bytes);
  expectRefused(zip, {Errc::bad_archive, "'bomb.txt'", ""});
}

TEST(ArchiveSource, RefusesEntriesOverTheLimits) {
  TempDir dir;
  auto zip = dir / "limits.zip";
  testing::writeArchive(
      zip, ArchiveKind::zip,
      {testing::file("a.txt", std::string(400, 'a')),
       testing::file("big.txt", std::string(5'000, 'b')),  // deflates to a few bytes
       testing::file("c.txt", "c")});
  expectRefused(zip, {Errc::too_large, "'big.txt'", "max_file_size"},
                SourceLimits{.max_file_bytes = 4'096, .max_total_bytes = 1 << 20, .max_files = 10});
  expectRefused(zip, {Errc::too_large, "'big.txt'", "max_total_size"},
                SourceLimits{.max_file_bytes = 1 << 20, .max_total_bytes = 5'000, .max_files = 10});
  expectRefused(
      zip, {Errc::too_large, "'c.txt'", "more than 2 files (limit: max_files"},
      SourceLimits{.max_file_bytes = 1 << 20, .max_total_bytes = 1 << 20, .max_files = 2});
  auto fits =
      readAll(zip, SourceLimits{.max_file_bytes = 5'000, .max_total_bytes = 5'401, .max_files = 3});
  EXPECT_TRUE(fits) << fits.error().describe();
}

TEST(ArchiveSource, ABogusHugeDeclaredSizeIsRefusedWithoutBeingAllocated) {
  TempDir dir;
  // 64 GiB declared in a GNU base-256 size field would not fit ustar's octal; 7.5 GiB does.
  std::string huge = ustarHeader("huge.bin", 8'000'000'000ULL) + std::string(512, 'x') + tarEnd();
  auto file = writeRaw(dir, "huge.tar", huge);
  expectRefused(file, {Errc::too_large, "'huge.bin'", "max_file_size"});
  // Allowed by the limits, the entry is simply cut short: reading finds the end of the file.
  expectRefused(
      file, {Errc::bad_archive, "huge.bin", "runcated"},
      SourceLimits{.max_file_bytes = 16ULL << 30, .max_total_bytes = 16ULL << 30, .max_files = 10});
}

TEST(ArchiveSource, AReadErrorFailsTheDeployEvenIfTheVisitorIgnoresIt) {
  TempDir dir;
  auto tar = dir / "cut.tar";
  testing::writeArchive(tar, ArchiveKind::tar, {testing::file("a.bin", randomBytes(100'000))});
  cutInHalf(tar);
  auto source = ArchiveSource::open(tar, {});
  ASSERT_TRUE(source);
  auto done = (*source)->forEach([](const SourceEntry&, EntryReader& reader) -> Result<void> {
    std::vector<std::byte> buffer(4096);
    while (true) {
      auto n = reader.read(buffer);
      if (!n || *n == 0) return {};  // swallows the error
    }
  });
  EXPECT_EQ(errorOf(done).code, Errc::bad_archive);
}

TEST(ArchiveSource, DescribesItselfByFileName) {
  TempDir dir;
  auto zip = dir / "site.zip";
  testing::writeArchive(zip, ArchiveKind::zip, {testing::file("a", "1")});
  auto source = ArchiveSource::open(zip, {});
  ASSERT_TRUE(source);
  EXPECT_EQ((*source)->describe(), "site.zip");
}

}  // namespace
}  // namespace cutover
