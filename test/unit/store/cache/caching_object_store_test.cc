#include "store/cache/caching_object_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <latch>
#include <thread>

#include "cutover/common/hash.h"
#include "store/memory/memory_object_store.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using namespace std::chrono_literals;
using cutover::testing::TempDir;

// The remote store as the cache sees it: counts the reads that reach it, can be slow, and can
// be switched down, answering unavailable after `down_delay` the way a connect timeout would.
class RemoteDouble final : public ObjectStore {
 public:
  std::shared_ptr<MemoryObjectStore> inner = std::make_shared<MemoryObjectStore>();
  std::atomic<int> reads{0};
  std::atomic<bool> down{false};
  std::chrono::milliseconds down_delay{0};
  std::chrono::milliseconds open_delay{0};

  std::string add(const std::string& bytes) {
    std::string hash = sha256Hex(bytes);
    inner->storeBlob(hash, bytes);
    return hash;
  }

  Result<BlobHandle> openBlob(const std::string& hash) override {
    if (auto ok = reach(); !ok) return tl::unexpected(ok.error());
    std::this_thread::sleep_for(open_delay);
    return inner->openBlob(hash);
  }
  Result<std::string> readBlob(const std::string& hash) override {
    if (auto ok = reach(); !ok) return tl::unexpected(ok.error());
    return inner->readBlob(hash);
  }
  Result<Manifest> readManifest(const std::string& site, const std::string& version) override {
    if (auto ok = reach(); !ok) return tl::unexpected(ok.error());
    return inner->readManifest(site, version);
  }
  Result<std::unique_ptr<BlobWriter>> newBlob() override { return inner->newBlob(); }
  Result<void> flush() override { return inner->flush(); }
  Result<std::vector<std::string>> missing(std::span<const std::string> hashes) override {
    return inner->missing(hashes);
  }
  Result<void> commitManifest(const Manifest& m) override { return inner->commitManifest(m); }
  Result<std::vector<VersionInfo>> listVersions(const std::string& site) override {
    return inner->listVersions(site);
  }
  Result<std::vector<std::string>> listSites() override { return inner->listSites(); }
  Result<std::vector<std::string>> listBlobs() override { return inner->listBlobs(); }
  Result<void> deleteManifest(const std::string& site, const std::string& version) override {
    return inner->deleteManifest(site, version);
  }
  Result<void> deleteBlob(const std::string& hash) override { return inner->deleteBlob(hash); }
  Result<std::size_t> removeLeftovers() override { return inner->removeLeftovers(); }

 private:
  Result<void> reach() {
    ++reads;
    if (!down) return {};
    std::this_thread::sleep_for(down_delay);
    return fail(Errc::unavailable, "object store down (test)");
  }
};

std::string patterned(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed * 7) % 251);
  return out;
}

std::string readFd(int fd) {
  std::string out;
  char buffer[65536];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

// The bytes a client of openBlob gets, or the error code as text.
std::string served(ObjectStore& store, const std::string& hash) {
  auto handle = store.openBlob(hash);
  if (!handle) return std::string(errcName(handle.error().code));
  std::string bytes = readFd(handle->fd.get());
  EXPECT_EQ(handle->size, bytes.size());
  return bytes;
}

// Bytes of blob files in the cache folder, as the disk sees them.
std::uint64_t folderBytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) total += entry.file_size();
  return total;
}

class CachingObjectStoreTest : public ::testing::Test {
 protected:
  std::shared_ptr<CachingObjectStore> open(CachingObjectStore::Options options = {}) {
    options.dir = dir_ / "cache";
    auto store = CachingObjectStore::open(remote_, options);
    EXPECT_TRUE(store) << store.error().describe();
    return store ? *store : nullptr;
  }

  TempDir dir_;
  std::shared_ptr<RemoteDouble> remote_ = std::make_shared<RemoteDouble>();
};

TEST_F(CachingObjectStoreTest, HitsServeExactBytesWithoutTouchingTheRemote) {
  auto cache = open();
  std::string big = patterned(700 * 1024, 1), small = "<h1>hi</h1>";
  std::string big_hash = remote_->add(big), small_hash = remote_->add(small);
  ASSERT_TRUE(remote_->commitManifest(
      Manifest{"docs",
               "v1",
               "2026-01-01T00:00:00.000Z",
               "test",
               {{"index.html", FileEntry{small_hash, small.size(), "text/html"}}}}));

  EXPECT_EQ(served(*cache, big_hash), big);
  EXPECT_EQ(cache->readBlob(small_hash).value(), small);
  auto manifest = cache->readManifest("docs", "v1");
  ASSERT_TRUE(manifest) << manifest.error().describe();
  EXPECT_EQ(remote_->reads.load(), 3);

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(served(*cache, big_hash), big);
    EXPECT_EQ(cache->readBlob(big_hash).value(), big);  // from the disk cache
    EXPECT_EQ(cache->readBlob(small_hash).value(), small);
    EXPECT_EQ(cache->readManifest("docs", "v1").value(), *manifest);
  }
  EXPECT_EQ(remote_->reads.load(), 3);
  EXPECT_EQ(cache->diskBytes(), big.size());

  // Absent things stay absent, and are asked again (a version may be committed later).
  EXPECT_EQ(served(*cache, sha256Hex("never stored")), errcName(Errc::not_found));
  EXPECT_EQ(cache->readManifest("docs", "v2").error().code, Errc::not_found);
  EXPECT_EQ(cache->readManifest("docs", "v2").error().code, Errc::not_found);
  EXPECT_EQ(remote_->reads.load(), 6);
}

TEST_F(CachingObjectStoreTest, DiskCacheStaysWithinItsBoundLeastRecentlyUsedFirst) {
  auto cache = open({.disk_bytes = 200 * 1024});
  std::vector<std::string> blobs, hashes;
  for (unsigned i = 0; i < 40; ++i) {
    blobs.push_back(patterned(30 * 1024 + i, i));
    hashes.push_back(remote_->add(blobs.back()));
  }
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    EXPECT_EQ(served(*cache, hashes[i]), blobs[i]);
    EXPECT_EQ(served(*cache, hashes[0]), blobs[0]);  // kept warm: never evicted
    EXPECT_LE(folderBytes(dir_ / "cache"), 200U * 1024);
  }
  EXPECT_EQ(cache->diskBytes(), folderBytes(dir_ / "cache"));
  int before = remote_->reads;
  EXPECT_EQ(served(*cache, hashes[0]), blobs[0]);
  EXPECT_EQ(served(*cache, hashes[39]), blobs[39]);
  EXPECT_EQ(remote_->reads.load(), before);
  EXPECT_EQ(served(*cache, hashes[1]), blobs[1]);  // evicted long ago: fetched again
  EXPECT_EQ(remote_->reads.load(), before + 1);

  // A blob larger than the whole bound is served, and not kept.
  std::string huge = patterned(300 * 1024, 99);
  EXPECT_EQ(served(*cache, remote_->add(huge)), huge);
  EXPECT_LE(folderBytes(dir_ / "cache"), 200U * 1024);
}

TEST_F(CachingObjectStoreTest, MemoryCacheHoldsSmallBlobsLeastRecentlyUsedFirst) {
  auto cache = open({.memory_bytes = 30 * 1024, .memory_blob_max = 10 * 1024});
  std::string a = patterned(10 * 1024, 1), b = patterned(10 * 1024, 2), c = patterned(10 * 1024, 3),
              d = patterned(10 * 1024, 4), large = patterned(10 * 1024 + 1, 5);
  std::string ha = remote_->add(a), hb = remote_->add(b), hc = remote_->add(c),
              hd = remote_->add(d), hl = remote_->add(large);
  for (const auto& h : {ha, hb, hc, ha}) ASSERT_TRUE(cache->readBlob(h));
  EXPECT_EQ(remote_->reads.load(), 3);
  EXPECT_EQ(cache->readBlob(hd).value(), d);  // evicts b, the least recently used
  EXPECT_EQ(cache->readBlob(ha).value(), a);
  EXPECT_EQ(cache->readBlob(hc).value(), c);
  EXPECT_EQ(remote_->reads.load(), 4);
  EXPECT_EQ(cache->readBlob(hb).value(), b);
  EXPECT_EQ(remote_->reads.load(), 5);
  EXPECT_EQ(cache->readBlob(hl).value(), large);  // over memory_blob_max: never held
  EXPECT_EQ(cache->readBlob(hl).value(), large);
  EXPECT_EQ(remote_->reads.load(), 7);
}

TEST_F(CachingObjectStoreTest, CorruptRemoteBlobIsRefusedAndNotCached) {
  auto cache = open();
  std::string hash = sha256Hex("the real bytes");
  remote_->inner->storeBlob(hash, "tampered bytes");
  auto opened = cache->openBlob(hash);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::io);
  EXPECT_NE(opened.error().message.find("corrupt"), std::string::npos);
  auto read = cache->readBlob(hash);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::io);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "cache"));  // no temp file left either
  EXPECT_EQ(cache->diskBytes(), 0U);

  // Once the remote holds the right bytes, they are served.
  ASSERT_TRUE(remote_->deleteBlob(hash));
  remote_->add("the real bytes");
  EXPECT_EQ(served(*cache, hash), "the real bytes");
}

TEST_F(CachingObjectStoreTest, RemoteDownServesCachedEntriesAndFailsFastOtherwise) {
  remote_->down_delay = 300ms;  // what a remote that does not answer costs a request
  auto cache = open({.retry_after = 500ms});
  std::string cached_hash = remote_->add("cached"), small_hash = remote_->add("small"),
              other_hash = remote_->add("not cached");
  ASSERT_TRUE(remote_->commitManifest(Manifest{"docs", "v1", "2026-01-01T00:00:00.000Z", "t", {}}));
  ASSERT_TRUE(cache->openBlob(cached_hash));
  ASSERT_TRUE(cache->readBlob(small_hash));
  ASSERT_TRUE(cache->readManifest("docs", "v1"));

  remote_->down = true;
  auto first = cache->openBlob(other_hash);  // reaches the remote, which fails
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, Errc::unavailable);
  int reads = remote_->reads;

  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(served(*cache, cached_hash), "cached");
  EXPECT_EQ(cache->readBlob(small_hash).value(), "small");
  EXPECT_TRUE(cache->readManifest("docs", "v1"));
  EXPECT_EQ(served(*cache, other_hash), errcName(Errc::unavailable));
  EXPECT_EQ(cache->readBlob(other_hash).error().code, Errc::unavailable);
  EXPECT_EQ(cache->readManifest("docs", "v2").error().code, Errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(remote_->reads.load(), reads);  // the breaker kept every request off the remote

  // Back up: the breaker lets one request try after retry_after, and then everything flows.
  remote_->down = false;
  EXPECT_EQ(served(*cache, other_hash), errcName(Errc::unavailable));
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(served(*cache, other_hash), "not cached");
  EXPECT_EQ(cache->readManifest("docs", "v2").error().code, Errc::not_found);
}

TEST_F(CachingObjectStoreTest, ConcurrentMissesOfOneBlobFetchItOnce) {
  remote_->open_delay = 100ms;
  auto cache = open();
  std::string bytes = patterned(500 * 1024, 7), hash = remote_->add(bytes);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::string> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      got[static_cast<std::size_t>(i)] = served(*cache, hash);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, bytes);
  EXPECT_EQ(remote_->reads.load(), 1);
}

TEST_F(CachingObjectStoreTest, RestartAdoptsTheDiskCacheAndChecksIt) {
  std::string a = patterned(50000, 1), b = patterned(60000, 2);
  std::string ha = remote_->add(a), hb = remote_->add(b);
  {
    auto cache = open();
    EXPECT_EQ(served(*cache, ha), a);
    EXPECT_EQ(served(*cache, hb), b);
  }
  testing::writeFile(dir_ / "cache" / ("tmp." + ha.substr(0, 16) + ".1.0"), "half a download");
  testing::writeFile(dir_ / "cache" / "notes.txt", "not ours");
  testing::writeFile(dir_ / "cache" / hb, "cut short by a crash");

  remote_->reads = 0;
  auto cache = open();
  EXPECT_EQ(cache->diskBytes(), a.size() + std::string("cut short by a crash").size());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "cache" / ("tmp." + ha.substr(0, 16) + ".1.0")));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "cache" / "notes.txt"));
  EXPECT_EQ(served(*cache, ha), a);
  EXPECT_EQ(remote_->reads.load(), 0);
  EXPECT_EQ(served(*cache, hb), b);  // the damaged file is dropped and fetched again
  EXPECT_EQ(remote_->reads.load(), 1);
  EXPECT_EQ(cache->diskBytes(), a.size() + b.size());
}

TEST_F(CachingObjectStoreTest, AnUnusableFolderIsAClearError) {
  testing::writeFile(dir_ / "file", "x");
  auto store = CachingObjectStore::open(remote_, {.dir = dir_ / "file" / "cache"});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::io);
  EXPECT_NE(store.error().message.find("cache folder"), std::string::npos);
}

}  // namespace
}  // namespace cutover
