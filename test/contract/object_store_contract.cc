// The ObjectStore contract's tests; see object_store_contract.h.
#include "object_store_contract.h"

namespace cutover::contract {
namespace {

TEST_P(ObjectStoreContract, PutNamesTheBlobBySha256AndStoresItOnce) {
  auto first = put(*store_, "hello");
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(first->hash, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_TRUE(first->created);

  auto again = put(*store_, "hello", {}, 2);  // same bytes, written in other pieces
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->hash, first->hash);
  EXPECT_FALSE(again->created);

  auto blobs = store_->listBlobs();
  ASSERT_TRUE(blobs);
  EXPECT_EQ(*blobs, std::vector<std::string>{first->hash});
  EXPECT_EQ(store_->readBlob(first->hash).value(), "hello");
}

TEST_P(ObjectStoreContract, StreamedAndEmptyBlobsReadBackExactly) {
  std::string big = patterned(3 * 1024 * 1024 + 17, 1);
  auto stored = put(*store_, big, {}, 64 * 1024);
  ASSERT_TRUE(stored) << stored.error().describe();
  EXPECT_EQ(stored->hash, sha256Hex(big));
  EXPECT_EQ(store_->readBlob(stored->hash).value(), big);

  auto empty = put(*store_, "");
  ASSERT_TRUE(empty) << empty.error().describe();
  EXPECT_EQ(empty->hash, sha256Hex(""));
  EXPECT_EQ(store_->readBlob(empty->hash).value(), "");
  auto handle = store_->openBlob(empty->hash);
  ASSERT_TRUE(handle);
  EXPECT_EQ(handle->size, 0U);
}

TEST_P(ObjectStoreContract, ExpectedHashMismatchStoresNothing) {
  auto stored = put(*store_, "changed while deploying", sha256Hex("what was hashed first"));
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::invalid_argument);

  std::vector<std::string> both{sha256Hex("changed while deploying"),
                                sha256Hex("what was hashed first")};
  EXPECT_EQ(store_->missing(both).value(), both);
  EXPECT_TRUE(store_->listBlobs().value().empty());
  EXPECT_EQ(store_->removeLeftovers().value(), 0U);

  auto matching = put(*store_, "steady", sha256Hex("steady"));
  ASSERT_TRUE(matching) << matching.error().describe();
  EXPECT_TRUE(matching->created);
}

TEST_P(ObjectStoreContract, MissingReportsExactlyTheAbsentInTheOrderGiven) {
  std::string a = put(*store_, "a").value().hash;
  std::string c = put(*store_, "c").value().hash;
  std::vector<std::string> asked{sha256Hex("d"), a, sha256Hex("b"), c, sha256Hex("e")};
  EXPECT_EQ(store_->missing(asked).value(),
            (std::vector<std::string>{sha256Hex("d"), sha256Hex("b"), sha256Hex("e")}));
  EXPECT_TRUE(store_->missing(std::vector<std::string>{a, c}).value().empty());
  EXPECT_TRUE(store_->missing({}).value().empty());
}

TEST_P(ObjectStoreContract, OpenBlobGivesAnFdAtTheStartAndTheSize) {
  std::string bytes = patterned(100000, 2);
  std::string hash = put(*store_, bytes).value().hash;
  for (int round = 0; round < 2; ++round) {  // each handle starts at 0, whatever others did
    auto handle = store_->openBlob(hash);
    ASSERT_TRUE(handle) << handle.error().describe();
    EXPECT_EQ(handle->size, bytes.size());
    std::string read(bytes.size() + 10, '\0');
    std::size_t done = 0;
    while (true) {
      ssize_t n = ::read(handle->fd.get(), read.data() + done, read.size() - done);
      ASSERT_GE(n, 0);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    read.resize(done);
    EXPECT_EQ(read, bytes);
  }
}

TEST_P(ObjectStoreContract, AbsentThingsAreNotFound) {
  std::string absent = sha256Hex("never stored");
  EXPECT_EQ(store_->openBlob(absent).error().code, Errc::not_found);
  EXPECT_EQ(store_->readBlob(absent).error().code, Errc::not_found);
  EXPECT_EQ(store_->readManifest("docs", "v1").error().code, Errc::not_found);
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "v1", "2026-01-01T00:00:00.000Z")));
  EXPECT_EQ(store_->readManifest("docs", "v2").error().code, Errc::not_found);
  EXPECT_EQ(store_->readManifest("blog", "v1").error().code, Errc::not_found);
  EXPECT_TRUE(store_->listVersions("blog").value().empty());
}

TEST_P(ObjectStoreContract, ManifestReadsBackAsCommitted) {
  Manifest m = makeManifest("docs", "v1", "2026-11-27T19:55:29.123Z",
                            {{"index.html", "<h1>hi</h1>"}, {"css/site.css", "body{}"}});
  ASSERT_TRUE(store_->flush());
  ASSERT_TRUE(store_->commitManifest(m));
  auto read = store_->readManifest("docs", "v1");
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_EQ(*read, m);
}

TEST_P(ObjectStoreContract, CommitNeverOverwritesAVersion) {
  Manifest first = makeManifest("docs", "v1", "2026-01-01T00:00:00.000Z", {{"a.txt", "one"}});
  Manifest second = makeManifest("docs", "v1", "2026-01-02T00:00:00.000Z", {{"b.txt", "two"}});
  ASSERT_TRUE(store_->commitManifest(first));
  auto again = store_->commitManifest(second);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_exists);
  EXPECT_EQ(store_->readManifest("docs", "v1").value(), first);
  EXPECT_EQ(store_->listVersions("docs").value().size(), 1U);
  EXPECT_EQ(store_->removeLeftovers().value(), 0U);

  // The same version id of another site is another version.
  EXPECT_TRUE(store_->commitManifest(makeManifest("blog", "v1", "2026-01-02T00:00:00.000Z")));
}

TEST_P(ObjectStoreContract, OneOfManyConcurrentCommitsOfAVersionWins) {
  constexpr int kThreads = 8;
  std::atomic<int> won{0}, lost{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Manifest m =
          makeManifest("docs", "v1", "2026-01-01T00:00:00.000Z", {{"who.txt", std::to_string(i)}});
      start.arrive_and_wait();
      auto ok = store_->commitManifest(m);
      if (ok) {
        ++won;
      } else if (ok.error().code == Errc::already_exists) {
        ++lost;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), kThreads - 1);
  EXPECT_TRUE(store_->readManifest("docs", "v1"));
}

TEST_P(ObjectStoreContract, ListVersionsIsNewestFirstByCreatedThenId) {
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "b", "2026-03-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "a", "2026-03-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "z", "2026-01-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "c", "2026-05-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("blog", "x", "2027-01-01T00:00:00.000Z")));
  auto versions = store_->listVersions("docs");
  ASSERT_TRUE(versions) << versions.error().describe();
  std::vector<std::string> ids;
  for (const auto& v : *versions) ids.push_back(v.version);
  EXPECT_EQ(ids, (std::vector<std::string>{"c", "b", "a", "z"}));
  EXPECT_EQ(versions->front().created, "2026-05-01T00:00:00.000Z");
}

TEST_P(ObjectStoreContract, ListSitesIsSortedAndOnlySitesWithVersions) {
  EXPECT_TRUE(store_->listSites().value().empty());
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "v1", "2026-01-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("blog", "v1", "2026-01-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("blog", "v2", "2026-01-02T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("gone", "v1", "2026-01-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->deleteManifest("gone", "v1"));
  EXPECT_EQ(store_->listSites().value(), (std::vector<std::string>{"blog", "docs"}));
}

TEST_P(ObjectStoreContract, DeleteManifestIsIdempotent) {
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "v1", "2026-01-01T00:00:00.000Z")));
  ASSERT_TRUE(store_->commitManifest(makeManifest("docs", "v2", "2026-01-02T00:00:00.000Z")));
  ASSERT_TRUE(store_->deleteManifest("docs", "v1"));
  EXPECT_EQ(store_->readManifest("docs", "v1").error().code, Errc::not_found);
  EXPECT_TRUE(store_->readManifest("docs", "v2"));
  EXPECT_EQ(store_->listVersions("docs").value().size(), 1U);
  EXPECT_TRUE(store_->deleteManifest("docs", "v1"));
  EXPECT_TRUE(store_->deleteManifest("never", "v9"));
  // A deleted id can be committed again (gc removed it; the id was never live).
  EXPECT_TRUE(store_->commitManifest(makeManifest("docs", "v1", "2026-01-03T00:00:00.000Z")));
}

TEST_P(ObjectStoreContract, DeleteBlobIsIdempotent) {
  std::string keep = put(*store_, "keep").value().hash;
  std::string drop = put(*store_, "drop").value().hash;
  ASSERT_TRUE(store_->deleteBlob(drop));
  EXPECT_EQ(store_->readBlob(drop).error().code, Errc::not_found);
  EXPECT_EQ(store_->missing(std::vector<std::string>{keep, drop}).value(),
            std::vector<std::string>{drop});
  EXPECT_EQ(store_->listBlobs().value(), std::vector<std::string>{keep});
  EXPECT_TRUE(store_->deleteBlob(drop));
  EXPECT_TRUE(store_->deleteBlob(sha256Hex("never stored")));

  auto again = put(*store_, "drop");
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->created);
  EXPECT_EQ(store_->readBlob(drop).value(), "drop");
}

TEST_P(ObjectStoreContract, AWriterDroppedWithoutFinishLeavesNothing) {
  {
    auto writer = store_->newBlob();
    ASSERT_TRUE(writer);
    ASSERT_TRUE((*writer)->write(asBytes("half a file")));
  }
  EXPECT_TRUE(store_->listBlobs().value().empty());
  EXPECT_EQ(store_->missing(std::vector<std::string>{sha256Hex("half a file")}).value().size(), 1U);
  EXPECT_EQ(store_->removeLeftovers().value(), 0U);  // nothing left behind to clean up
  EXPECT_TRUE(store_->flush());
}

TEST_P(ObjectStoreContract, ConcurrentWritersOfOneBlobAllSucceedWithOneIntactCopy) {
  constexpr int kThreads = 8;
  const std::string bytes = patterned(512 * 1024, 3);
  std::vector<Result<StoredBlob>> results(kThreads, fail(Errc::io, "not run"));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[static_cast<std::size_t>(i)] = put(*store_, bytes, sha256Hex(bytes), 16 * 1024);
    });
  }
  for (auto& t : threads) t.join();
  int created = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->hash, sha256Hex(bytes));
    created += r->created ? 1 : 0;
  }
  EXPECT_EQ(created, 1);
  ASSERT_TRUE(store_->flush());
  EXPECT_EQ(store_->listBlobs().value(), std::vector<std::string>{sha256Hex(bytes)});
  EXPECT_EQ(store_->readBlob(sha256Hex(bytes)).value(), bytes);
  EXPECT_EQ(store_->removeLeftovers().value(), 0U);
}

TEST_P(ObjectStoreContract, ConcurrentWritersOfManyBlobsAreAllStored) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::latch start(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        // Half the blobs are shared between threads, half are each thread's own.
        unsigned seed = static_cast<unsigned>(i % 2 == 0 ? i : 1000 + t * kPerThread + i);
        if (!put(*store_, patterned(1000 + static_cast<std::size_t>(i), seed))) ++failures;
      }
      if (!store_->flush()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<std::string> expected;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      unsigned seed = static_cast<unsigned>(i % 2 == 0 ? i : 1000 + t * kPerThread + i);
      expected.push_back(sha256Hex(patterned(1000 + static_cast<std::size_t>(i), seed)));
    }
  }
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  auto listed = store_->listBlobs().value();
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, expected);
  EXPECT_TRUE(store_->missing(expected).value().empty());
}

}  // namespace
}  // namespace cutover::contract
