// S3ObjectStore against a real radosgw (scripts/radosgw; see support/s3_server.h): what the
// contract suite does not cover — long listings, multipart uploads, leftovers, refused
// credentials, a missing bucket, damaged blobs and a gateway that goes away.
#include "store/s3/s3_object_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <latch>
#include <optional>
#include <thread>

#include "cutover/common/hash.h"
#include "store/s3/s3_client.h"
#include "support/s3_server.h"
#include "support/tcp_proxy.h"

namespace cutover {
namespace {

using namespace std::chrono_literals;
using testing::S3TestService;

Result<StoredBlob> put(ObjectStore& store, std::string_view bytes, std::size_t chunk = 1 << 16) {
  auto writer = store.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    auto piece = bytes.substr(at, chunk);
    if (auto ok = (*writer)->write(std::as_bytes(std::span(piece.data(), piece.size()))); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  return (*writer)->finish();
}

std::string patterned(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed * 7) % 251);
  return out;
}

std::unique_ptr<S3ObjectStore> open(const std::string& uri) {
  auto config = parseS3Uri(uri);
  if (!config) {
    ADD_FAILURE() << config.error().describe();
    return nullptr;
  }
  return std::make_unique<S3ObjectStore>(std::move(*config));
}

// Removes what a test stored under its prefix.
void cleanUp(ObjectStore& store) {
  for (const auto& hash : store.listBlobs().value_or(std::vector<std::string>{})) {
    (void)store.deleteBlob(hash);
  }
  for (const auto& site : store.listSites().value_or(std::vector<std::string>{})) {
    for (const auto& v : store.listVersions(site).value_or(std::vector<VersionInfo>{})) {
      (void)store.deleteManifest(site, v.version);
    }
  }
  (void)store.removeLeftovers();
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { service_ = S3TestService::fromEnvOrSkip(); }
  void TearDown() override {
    for (auto& store : stores_) cleanUp(*store);
  }
  // A store on a fresh prefix (with `options` added to the service's URI), owned by the test and
  // cleaned up after it.
  S3ObjectStore* fresh(std::string_view options = {}) {
    return keep(open(service_->uniqueUri(options)));
  }
  S3ObjectStore* keep(std::unique_ptr<S3ObjectStore> store) {
    if (!store) return nullptr;
    stores_.push_back(std::move(store));
    return stores_.back().get();
  }

  std::optional<S3TestService> service_;
  std::vector<std::unique_ptr<S3ObjectStore>> stores_;
};

TEST_F(S3StoreTest, ListingsFollowContinuationTokensAcrossSmallPages) {
  auto* store = fresh("page_size=3");
  std::vector<std::string> stored;
  for (int i = 0; i < 10; ++i)
    stored.push_back(put(*store, "blob " + std::to_string(i)).value().hash);
  for (const char* site : {"a", "b", "c", "d"}) {
    for (int v = 0; v < 4; ++v) {
      Manifest m{site,
                 "v" + std::to_string(v),
                 "2026-01-0" + std::to_string(v + 1) + "T00:00:00Z",
                 "test",
                 {}};
      ASSERT_TRUE(store->commitManifest(m));
    }
  }
  auto blobs = store->listBlobs().value();
  std::sort(blobs.begin(), blobs.end());
  std::sort(stored.begin(), stored.end());
  EXPECT_EQ(blobs, stored);
  EXPECT_EQ(store->listSites().value(), (std::vector<std::string>{"a", "b", "c", "d"}));
  auto versions = store->listVersions("c").value();
  ASSERT_EQ(versions.size(), 4U);
  EXPECT_EQ(versions.front().version, "v3");
  EXPECT_EQ(versions.back().version, "v0");
}

TEST_F(S3StoreTest, MoreThanAThousandBlobsAreListedAndCheckedInOneGo) {
  auto* store = fresh();
  constexpr int kBlobs = 1100;
  constexpr int kThreads = 8;
  std::vector<std::string> hashes(kBlobs);
  std::vector<std::jthread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kBlobs; i += kThreads) {
        auto stored = put(*store, "small blob number " + std::to_string(i));
        if (!stored) {
          ++failures;
          continue;
        }
        hashes[static_cast<std::size_t>(i)] = stored->hash;
      }
    });
  }
  threads.clear();
  ASSERT_EQ(failures.load(), 0);
  auto listed = store->listBlobs().value();  // two pages of 1,000
  EXPECT_EQ(listed.size(), static_cast<std::size_t>(kBlobs));

  // Asked about many hashes, missing() lists instead of asking one by one; same answer.
  std::vector<std::string> asked = hashes;
  asked.insert(asked.begin() + 500, sha256Hex("never stored"));
  auto absent = store->missing(asked);
  ASSERT_TRUE(absent) << absent.error().describe();
  EXPECT_EQ(*absent, std::vector<std::string>{sha256Hex("never stored")});
}

TEST_F(S3StoreTest, ALargeBlobGoesUpInPartsAndReadsBackExactly) {
  auto* store = fresh("multipart_above=5MiB&part_size=5MiB");
  std::string big = patterned((12 << 20) + 17, 5);  // three parts: 5 + 5 + 2 MiB
  auto stored = put(*store, big, 1 << 20);
  ASSERT_TRUE(stored) << stored.error().describe();
  EXPECT_EQ(stored->hash, sha256Hex(big));
  EXPECT_TRUE(stored->created);

  auto handle = store->openBlob(stored->hash);
  ASSERT_TRUE(handle) << handle.error().describe();
  EXPECT_EQ(handle->size, big.size());
  std::string read(big.size(), '\0');
  std::size_t done = 0;
  while (done < read.size()) {
    ssize_t n = ::read(handle->fd.get(), read.data() + done, read.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(read, big);
  EXPECT_EQ(store->readBlob(stored->hash).value(), big);

  auto again = put(*store, big, 1 << 20);  // HEAD finds it: nothing uploaded
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(store->removeLeftovers().value(), 0U);
}

TEST_F(S3StoreTest, RemoveLeftoversAbortsUploadsThatNeverCompleted) {
  auto* store = fresh();
  S3Client client(store->config());
  std::string key = store->config().prefix + "blobs/" + sha256Hex("interrupted");
  auto started = client.send({.method = "POST", .key = key, .query = "uploads="});
  ASSERT_TRUE(started && started->ok());
  EXPECT_EQ(store->removeLeftovers().value(), 1U);
  EXPECT_EQ(store->removeLeftovers().value(), 0U);
}

TEST_F(S3StoreTest, ADamagedBlobIsNeverHandedOut) {
  auto* store = fresh();
  S3Client client(store->config());
  std::string hash = sha256Hex("the real bytes");
  auto planted = client.send(
      {.method = "PUT", .key = store->config().prefix + "blobs/" + hash, .body = "other bytes"});
  ASSERT_TRUE(planted && planted->ok());
  auto handle = store->openBlob(hash);
  ASSERT_FALSE(handle);
  EXPECT_EQ(handle.error().code, Errc::io);
  EXPECT_NE(handle.error().message.find("damaged"), std::string::npos) << handle.error().message;
  EXPECT_FALSE(store->readBlob(hash));
}

TEST_F(S3StoreTest, WrongCredentialsAreRefusedWithAClearMessageAndNoRetry) {
  const char* old = std::getenv("AWS_SECRET_ACCESS_KEY");
  std::string saved = old != nullptr ? old : "";
  ::setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
  auto store = open(service_->uniqueUri());
  ::setenv("AWS_SECRET_ACCESS_KEY", saved.c_str(), 1);
  ASSERT_NE(store, nullptr);

  auto start = std::chrono::steady_clock::now();
  auto stored = put(*store, "x");
  ASSERT_FALSE(stored);
  EXPECT_NE(stored.error().message.find("refused the credentials"), std::string::npos)
      << stored.error().message;
  EXPECT_NE(stored.error().message.find("SignatureDoesNotMatch"), std::string::npos)
      << stored.error().message;
  auto listed = store->listVersions("docs");
  ASSERT_FALSE(listed);
  EXPECT_NE(listed.error().message.find("refused the credentials"), std::string::npos)
      << listed.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);  // 4xx: no backing off
}

TEST_F(S3StoreTest, AMissingBucketIsNamed) {
  auto uri = service_->uniqueUri();
  auto store = open("s3://no-such-bucket-here" + uri.substr(uri.find('/', 5)));
  ASSERT_NE(store, nullptr);
  auto committed = store->commitManifest({"docs", "v1", "2026-01-01T00:00:00Z", "test", {}});
  ASSERT_FALSE(committed);
  EXPECT_NE(committed.error().message.find("bucket no-such-bucket-here does not exist"),
            std::string::npos)
      << committed.error().message;
  auto read = store->readManifest("docs", "v1");
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().code, Errc::not_found);
}

TEST_F(S3StoreTest, AGatewayThatGoesAwayFailsFastWithUnavailableAndIsUsedAgainOnReturn) {
  testing::TcpProxy proxy(service_->port());
  std::string uri =
      service_->uniqueUri("endpoint=http://127.0.0.1:" + std::to_string(proxy.port()));
  auto* store = keep(open(uri));
  ASSERT_NE(store, nullptr);
  std::string before = put(*store, "before the outage").value().hash;

  proxy.cut();
  auto start = std::chrono::steady_clock::now();
  auto stored = put(*store, "during the outage");
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::unavailable) << stored.error().describe();
  EXPECT_NE(stored.error().message.find("could not be reached"), std::string::npos)
      << stored.error().message;
  auto missing = store->missing(std::vector<std::string>{before});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);

  proxy.restore();
  EXPECT_TRUE(put(*store, "after the outage"));
  EXPECT_TRUE(store->missing(std::vector<std::string>{before}).value().empty());
}

}  // namespace
}  // namespace cutover
