#include "pipeline/precompress.h"

#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <mutex>
#include <random>

#include "cutover/common/hash.h"
#include "read_counting_store.h"
#include "store/memory/memory_object_store.h"
#include "support/faulty_object_store.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::TempDir;

// A page that compresses well, different for each seed.
std::string textPage(int seed, std::size_t size) {
  std::string out = "<!doctype html><title>page " + std::to_string(seed) + "</title>\n";
  for (int i = 0; out.size() < size; ++i) {
    out += "<p class=\"para\">Paragraph " + std::to_string(i) + " of page " + std::to_string(seed) +
           ": the quick brown fox jumps over the lazy dog.</p>\n";
  }
  out.resize(size);
  return out;
}

std::string randomBytes(std::size_t size, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

std::string unbrotli(const std::string& in) {
  BrotliDecoderState* state = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  std::string out;
  const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  std::size_t avail_in = in.size();
  BrotliDecoderResult result = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
  while (result == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
    std::uint8_t buffer[65536];
    std::uint8_t* next_out = buffer;
    std::size_t avail_out = sizeof buffer;
    result =
        BrotliDecoderDecompressStream(state, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<const char*>(buffer), sizeof buffer - avail_out);
  }
  BrotliDecoderDestroyInstance(state);
  EXPECT_EQ(result, BROTLI_DECODER_RESULT_SUCCESS);
  EXPECT_EQ(avail_in, 0U) << "bytes after the end of the brotli stream";
  return out;
}

std::string gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);  // gzip wrapper only
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  int rc = Z_OK;
  while (rc == Z_OK) {
    char buffer[65536];
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  EXPECT_EQ(z.avail_in, 0U) << "bytes after the end of the gzip stream";
  inflateEnd(&z);
  return out;
}

class PrecompressTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::map<std::string, FileEntry> files_;
  PrecompressOptions options_;
  TempDir dir_;

  PrecompressTest() { options_.threads = 2; }

  // Stores `content` as the file `path`, typed by its extension as a deploy would.
  void add(const std::string& path, const std::string& content, const std::string& type) {
    auto writer = objects_->newBlob().value();
    ASSERT_TRUE(writer->write(std::as_bytes(std::span(content.data(), content.size()))));
    auto stored = writer->finish().value();
    files_[path] = FileEntry{stored.hash, content.size(), type, {}, {}};
  }
  std::string blob(const Encoded& form) { return objects_->readBlob(form.hash).value(); }
};

TEST_F(PrecompressTest, FormsDecompressToTheOriginal) {
  std::map<std::string, std::string> originals{
      {"index.html", textPage(1, 50'000)},
      {"app.js", textPage(2, 3'000)},
      {"data.json", "[" + std::string(20'000, '1') + "]"},
      {"icon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\">" + textPage(3, 5'000) + "</svg>"},
      {"big.css", textPage(4, 600'000)},  // past brotli_large_from: the faster quality
  };
  const std::map<std::string, std::string> types{{"index.html", "text/html; charset=utf-8"},
                                                 {"app.js", "text/javascript; charset=utf-8"},
                                                 {"data.json", "application/json"},
                                                 {"icon.svg", "image/svg+xml"},
                                                 {"big.css", "text/css; charset=utf-8"}};
  for (const auto& [path, content] : originals) add(path, content, types.at(path));

  auto report = precompress(*objects_, nullptr, files_, options_);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->candidates, 5U);
  EXPECT_EQ(report->files, 5U);
  EXPECT_EQ(report->compressed, 5U);
  EXPECT_EQ(report->read_back, 5U) << "no local copies: every content came from the store";
  for (const auto& [path, content] : originals) {
    const auto& entry = files_.at(path);
    ASSERT_TRUE(entry.br.present()) << path;
    ASSERT_TRUE(entry.gzip.present()) << path;
    auto br = blob(entry.br);
    auto gz = blob(entry.gzip);
    EXPECT_EQ(br.size(), entry.br.size) << path;
    EXPECT_EQ(gz.size(), entry.gzip.size) << path;
    EXPECT_EQ(sha256Hex(br), entry.br.hash);
    EXPECT_LT(entry.br.size, content.size() / 2) << path;
    EXPECT_LT(entry.gzip.size, content.size() / 2) << path;
    EXPECT_EQ(unbrotli(br), content) << path;
    EXPECT_EQ(gunzip(gz), content) << path;
    // The original is untouched.
    EXPECT_EQ(blob(Encoded{entry.hash, entry.size}), content);
  }
  std::uint64_t br_bytes = 0;
  for (const auto& [path, entry] : files_) br_bytes += entry.br.size;
  EXPECT_EQ(report->br_bytes, br_bytes);
}

TEST_F(PrecompressTest, GzipFormIsAFileGzipReads) {
  auto page = textPage(7, 20'000);
  add("index.html", page, "text/html; charset=utf-8");
  ASSERT_TRUE(precompress(*objects_, nullptr, files_, options_));
  const auto& gz = files_.at("index.html").gzip;
  ASSERT_TRUE(gz.present());
  testing::writeFile(dir_ / "index.html.gz", blob(gz));
  std::string command = "gzip -t " + (dir_ / "index.html.gz").string() + " && gzip -d " +
                        (dir_ / "index.html.gz").string();
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(testing::readFile(dir_ / "index.html"), page);
}

TEST_F(PrecompressTest, SmallAndIncompressibleFilesGetNoForms) {
  add("small.html", textPage(1, 1024), "text/html; charset=utf-8");  // not over 1 KB
  add("random.js", randomBytes(100'000), "text/javascript; charset=utf-8");
  add("random-small.css", randomBytes(2'000, 2), "text/css; charset=utf-8");
  // Compresses by less than 32 bytes: not worth a form.
  add("barely.txt", randomBytes(3'000, 3) + std::string(20, 'a'), "text/plain; charset=utf-8");
  testing::FaultyObjectStore counting(objects_, 0);

  auto report = precompress(counting, nullptr, files_, options_);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->candidates, 3U);
  EXPECT_EQ(report->files, 0U);
  for (const auto& [path, entry] : files_) {
    EXPECT_FALSE(entry.br.present()) << path;
    EXPECT_FALSE(entry.gzip.present()) << path;
  }
  EXPECT_EQ(counting.calls(), 0U) << "no form was worth storing, so nothing was written";
}

TEST_F(PrecompressTest, AlreadyCompressedTypesAreSkipped) {
  // Text content under binary types: the type decides, not the bytes.
  auto text = textPage(5, 10'000);
  add("photo.png", text, "image/png");
  add("font.woff2", text + "1", "font/woff2");
  add("bundle.zip", text + "2", "application/zip");
  add("blob.bin", text + "3", "application/octet-stream");
  add("movie.mp4", text + "4", "video/mp4");
  testing::FaultyObjectStore counting(objects_, 0);

  auto report = precompress(counting, nullptr, files_, options_);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->candidates, 0U);
  for (const auto& [path, entry] : files_) EXPECT_FALSE(entry.br.present()) << path;
  EXPECT_EQ(counting.calls(), 0U);
}

TEST(CompressibleMediaType, TextStructuredAndUncompressedBinaryFormats) {
  for (const char* type :
       {"text/html; charset=utf-8", "text/css; charset=utf-8", "text/javascript; charset=utf-8",
        "text/plain", "text/csv; charset=utf-8", "application/json", "application/ld+json",
        "application/manifest+json", "application/xml", "application/rss+xml",
        "application/xhtml+xml", "image/svg+xml", "application/wasm", "application/javascript",
        "font/ttf", "font/otf", "application/vnd.ms-fontobject", "image/bmp", "image/x-icon"}) {
    EXPECT_TRUE(isCompressibleMediaType(type)) << type;
  }
  for (const char* type : {"image/png", "image/jpeg", "image/webp", "image/avif", "image/gif",
                           "font/woff", "font/woff2", "application/zip", "application/gzip",
                           "application/zstd", "application/x-7z-compressed", "video/mp4",
                           "audio/mpeg", "application/pdf", "application/octet-stream", ""}) {
    EXPECT_FALSE(isCompressibleMediaType(type)) << type;
  }
}

TEST_F(PrecompressTest, SameContentUnderManyPathsIsCompressedOnce) {
  auto page = textPage(9, 8'000);
  add("a/index.html", page, "text/html; charset=utf-8");
  add("b/index.html", page, "text/html; charset=utf-8");
  add("c/copy.txt", page, "text/plain; charset=utf-8");
  auto report = precompress(*objects_, nullptr, files_, options_);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->compressed, 1U);
  EXPECT_EQ(report->files, 3U);
  EXPECT_EQ(report->new_blobs, 2U);
  EXPECT_EQ(files_.at("a/index.html").br, files_.at("c/copy.txt").br);
  EXPECT_EQ(files_.at("a/index.html").gzip, files_.at("b/index.html").gzip);
}

TEST_F(PrecompressTest, CacheMeansUnchangedContentIsNeverCompressedAgain) {
  auto cache = CompressCache::open(dir_ / "compresscache.sqlite").value();
  for (int i = 0; i < 20; ++i) {
    add("page" + std::to_string(i) + ".html", textPage(i, 5'000 + i), "text/html; charset=utf-8");
  }
  add("random.js", randomBytes(50'000), "text/javascript; charset=utf-8");
  testing::FaultyObjectStore counting(objects_, 0);

  auto first = precompress(counting, cache.get(), files_, options_);
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(first->compressed, 21U);
  EXPECT_EQ(first->files, 20U);
  auto first_files = files_;
  auto first_calls = counting.calls();
  EXPECT_EQ(first_calls, 20U * 2 * 3 + 1);  // newBlob, write, finish per form; one flush

  // The next deploy's files: same content, no forms yet.
  for (auto& [path, entry] : files_) entry.br = entry.gzip = {};
  auto second = precompress(counting, cache.get(), files_, options_);
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_EQ(second->compressed, 0U);
  EXPECT_EQ(second->cached, 21U);  // the incompressible file too: not tried again
  EXPECT_EQ(second->files, 20U);
  EXPECT_EQ(counting.calls(), first_calls) << "the second run wrote to the store";
  EXPECT_EQ(files_, first_files);

  // Another file joins: only it is compressed.
  add("new.html", textPage(99, 4'000), "text/html; charset=utf-8");
  for (auto& [path, entry] : files_) entry.br = entry.gzip = {};
  auto third = precompress(counting, cache.get(), files_, options_);
  ASSERT_TRUE(third) << third.error().describe();
  EXPECT_EQ(third->compressed, 1U);
  EXPECT_EQ(third->cached, 21U);
  EXPECT_TRUE(files_.at("new.html").br.present());
}

TEST_F(PrecompressTest, CachedFormThatGcRemovedIsMadeAgain) {
  auto cache = CompressCache::open(dir_ / "compresscache.sqlite").value();
  auto page = textPage(3, 9'000);
  add("index.html", page, "text/html; charset=utf-8");
  ASSERT_TRUE(precompress(*objects_, cache.get(), files_, options_));
  auto br = files_.at("index.html").br;
  ASSERT_TRUE(objects_->deleteBlob(br.hash));

  files_.at("index.html").br = files_.at("index.html").gzip = {};
  auto again = precompress(*objects_, cache.get(), files_, options_);
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->compressed, 1U);
  EXPECT_EQ(files_.at("index.html").br, br);
  EXPECT_EQ(unbrotli(blob(br)), page);
}

TEST_F(PrecompressTest, OtherLevelsAreNotServedFromTheCache) {
  auto cache = CompressCache::open(dir_ / "compresscache.sqlite").value();
  add("index.html", textPage(3, 9'000), "text/html; charset=utf-8");
  ASSERT_TRUE(precompress(*objects_, cache.get(), files_, options_));
  options_.brotli_quality = 5;
  options_.gzip_level = 1;
  auto other = precompress(*objects_, cache.get(), files_, options_);
  ASSERT_TRUE(other) << other.error().describe();
  EXPECT_EQ(other->compressed, 1U);
  EXPECT_EQ(other->cached, 0U);
}

TEST_F(PrecompressTest, AFailingStoreWriteFailsTheStepNamingTheFile) {
  add("index.html", textPage(1, 6'000), "text/html; charset=utf-8");
  add("app.js", textPage(2, 9'000), "text/javascript; charset=utf-8");
  std::uint64_t total = 0;
  {
    auto probe = std::make_shared<MemoryObjectStore>();
    for (const auto& [path, entry] : files_) {
      auto writer = probe->newBlob().value();
      auto content = objects_->readBlob(entry.hash).value();
      ASSERT_TRUE(writer->write(std::as_bytes(std::span(content.data(), content.size()))));
      ASSERT_TRUE(writer->finish());
    }
    testing::FaultyObjectStore counting(probe, 0);
    auto copy = files_;
    ASSERT_TRUE(precompress(counting, nullptr, copy, options_));
    total = counting.calls();
  }
  ASSERT_EQ(total, 2U * 2 * 3 + 1);

  auto cache = CompressCache::open(dir_ / "compresscache.sqlite").value();
  for (std::uint64_t n = 1; n <= total; ++n) {
    testing::FaultyObjectStore faulty(objects_, n);
    auto copy = files_;
    auto result = precompress(faulty, cache.get(), copy, options_);
    ASSERT_FALSE(result) << "call " << n << " failed, yet precompression succeeded";
    EXPECT_EQ(result.error().code, Errc::io);
    EXPECT_NE(result.error().message.find("injected failure"), std::string::npos);
    if (n < total) {  // the last call is the flush, which names no file
      EXPECT_TRUE(result.error().message.starts_with("precompressing index.html: ") ||
                  result.error().message.starts_with("precompressing app.js: "))
          << result.error().message;
    }
    EXPECT_EQ(copy, files_) << "a failed step changed the files";
  }
  // Nothing was recorded in the cache by the failed runs: a good run compresses everything.
  auto good = precompress(*objects_, cache.get(), files_, options_);
  ASSERT_TRUE(good) << good.error().describe();
  EXPECT_EQ(good->compressed, 2U);
}

// A deploy from a folder or an archive has the content at hand: compressing it must not read
// the blobs back from the store, which on S3 costs a GET per file.
TEST_F(PrecompressTest, LocalCopiesAreCompressedWithoutReadingTheStore) {
  LocalContent local;
  std::map<std::string, std::string> originals;
  for (int i = 0; i < 6; ++i) {
    auto path = "page" + std::to_string(i) + ".html";
    originals[path] = textPage(i, 3'000 + 500 * i);
    add(path, originals[path], "text/html; charset=utf-8");
    testing::writeFile(dir_ / path, originals[path]);
    local.files.emplace(files_.at(path).hash, dir_ / path);
  }
  for (int i = 0; i < 4; ++i) {
    auto path = "app" + std::to_string(i) + ".js";
    originals[path] = textPage(100 + i, 20'000);
    add(path, originals[path], "text/javascript; charset=utf-8");
    local.bytes.emplace(files_.at(path).hash, originals[path]);
  }
  testing::ReadCountingObjectStore counting(objects_);

  auto report = precompress(counting, nullptr, files_, options_, {}, &local);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->compressed, 10U);
  EXPECT_EQ(report->files, 10U);
  EXPECT_EQ(report->read_back, 0U);
  EXPECT_EQ(counting.blobReads(), 0U) << "precompression read blobs back from the store";
  for (const auto& [path, content] : originals) {
    const auto& entry = files_.at(path);
    ASSERT_TRUE(entry.br.present()) << path;
    ASSERT_TRUE(entry.gzip.present()) << path;
    EXPECT_EQ(unbrotli(blob(entry.br)), content) << path;
    EXPECT_EQ(gunzip(blob(entry.gzip)), content) << path;
  }
}

// A folder's file may change between storing it and compressing it: its forms must still be
// those of the content the version names, taken from the store.
TEST_F(PrecompressTest, ALocalFileChangedSinceItWasStoredIsReadFromTheStore) {
  LocalContent local;
  auto stored_page = textPage(1, 8'000);
  add("same-size.html", stored_page, "text/html; charset=utf-8");
  auto edited = stored_page;
  edited[100] = 'X';
  testing::writeFile(dir_ / "same-size.html", edited);
  local.files.emplace(files_.at("same-size.html").hash, dir_ / "same-size.html");

  auto stored_css = textPage(2, 6'000);
  add("grown.css", stored_css, "text/css; charset=utf-8");
  testing::writeFile(dir_ / "grown.css", stored_css + "/* more */");
  local.files.emplace(files_.at("grown.css").hash, dir_ / "grown.css");

  auto stored_js = textPage(3, 5'000);
  add("gone.js", stored_js, "text/javascript; charset=utf-8");
  local.files.emplace(files_.at("gone.js").hash, dir_ / "gone.js");  // never written

  testing::ReadCountingObjectStore counting(objects_);
  auto report = precompress(counting, nullptr, files_, options_, {}, &local);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->files, 3U);
  EXPECT_EQ(report->read_back, 3U);
  EXPECT_EQ(counting.blobReads(), 3U);
  EXPECT_EQ(unbrotli(blob(files_.at("same-size.html").br)), stored_page);
  EXPECT_EQ(gunzip(blob(files_.at("same-size.html").gzip)), stored_page);
  EXPECT_EQ(unbrotli(blob(files_.at("grown.css").br)), stored_css);
  EXPECT_EQ(unbrotli(blob(files_.at("gone.js").br)), stored_js);
}

TEST_F(PrecompressTest, ManyFilesOnManyThreads) {
  for (int i = 0; i < 60; ++i) {
    add("p/" + std::to_string(i) + ".html", textPage(i, 1'500 + 37 * i),
        "text/html; charset=utf-8");
  }
  options_.threads = 8;
  options_.brotli_quality = 5;  // the threads are under test here, not the ratio
  std::uint64_t last_done = 0, calls = 0, files_total = 0;
  std::mutex mutex;
  auto report =
      precompress(*objects_, nullptr, files_, options_,
                  [&](std::uint64_t done, std::uint64_t, std::uint64_t, std::uint64_t total) {
                    std::lock_guard lock(mutex);
                    last_done = std::max(last_done, done);
                    files_total = total;
                    ++calls;
                  });
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->files, 60U);
  EXPECT_GT(calls, 0U);
  EXPECT_EQ(files_total, 60U);
  for (const auto& [path, entry] : files_) {
    ASSERT_EQ(gunzip(blob(entry.gzip)), blob(Encoded{entry.hash, entry.size})) << path;
  }
}

}  // namespace
}  // namespace cutover
