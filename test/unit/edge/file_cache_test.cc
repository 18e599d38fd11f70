#include "edge/file_cache.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace cutover::edge {
namespace {

TEST(FileCache, ReturnsWhatWasInserted) {
  FileCache cache(1000, 1);
  EXPECT_EQ(cache.find("h1"), nullptr);
  auto stored = cache.insert("h1", "hello");
  EXPECT_EQ(*stored, "hello");
  ASSERT_NE(cache.find("h1"), nullptr);
  EXPECT_EQ(*cache.find("h1"), "hello");
  EXPECT_EQ(cache.bytes(), 5U);
}

TEST(FileCache, EvictsTheLeastRecentlyUsedWithinItsBound) {
  FileCache cache(30, 1);
  cache.insert("a", std::string(10, 'a'));
  cache.insert("b", std::string(10, 'b'));
  cache.insert("c", std::string(10, 'c'));
  ASSERT_NE(cache.find("a"), nullptr);  // a is now the most recently used
  cache.insert("d", std::string(10, 'd'));
  EXPECT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(cache.find("b"), nullptr);
  EXPECT_NE(cache.find("c"), nullptr);
  EXPECT_NE(cache.find("d"), nullptr);
  EXPECT_LE(cache.bytes(), 30U);
}

TEST(FileCache, DoesNotCacheWhatCannotFit) {
  FileCache cache(10, 1);
  cache.insert("a", "12345");
  auto big = cache.insert("big", std::string(11, 'x'));
  EXPECT_EQ(big->size(), 11U);  // still handed back to send
  EXPECT_EQ(cache.find("big"), nullptr);
  EXPECT_NE(cache.find("a"), nullptr);
}

TEST(FileCache, KeepsTheFirstCopyOfAHash) {
  FileCache cache(100, 1);
  auto first = cache.insert("h", "same");
  auto second = cache.insert("h", "same");
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(cache.bytes(), 4U);
}

TEST(FileCache, StaysBoundedUnderConcurrentUse) {
  FileCache cache(4096, 4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string hash = std::to_string((i * 7 + t) % 300);
        auto hit = cache.find(hash);
        if (!hit) hit = cache.insert(hash, std::string(64, static_cast<char>('a' + t)));
        EXPECT_EQ(hit->size(), 64U);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(cache.bytes(), 4096U);
}

}  // namespace
}  // namespace cutover::edge
