// The PointerStore contract's tests; see pointer_store_contract.h.
#include "pointer_store_contract.h"

#include <atomic>
#include <stdexcept>

namespace cutover::contract {
namespace {

using namespace std::chrono_literals;

TEST_P(PointerStoreContract, GetOfAbsentKeyIsEmpty) {
  EXPECT_EQ(get("live/docs"), std::nullopt);
  EXPECT_EQ(list(""), Map{});
}

TEST_P(PointerStoreContract, CreateIfAbsentSucceedsOnceOnly) {
  set("live/docs", std::nullopt, "v1");
  EXPECT_EQ(get("live/docs"), "v1");

  auto second = store_->compareAndSet("live/docs", std::nullopt, "v2");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::conflict);
  EXPECT_EQ(get("live/docs"), "v1");
}

TEST_P(PointerStoreContract, CompareAndSetChecksTheExpectedValue) {
  set("live/docs", std::nullopt, "v1");
  set("live/docs", "v1", "v2");
  EXPECT_EQ(get("live/docs"), "v2");

  auto stale = store_->compareAndSet("live/docs", "v1", "v3");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::conflict);
  EXPECT_EQ(get("live/docs"), "v2");

  // An empty value is a value, not an absence.
  set("live/docs", "v2", "");
  EXPECT_EQ(get("live/docs"), "");
  auto asAbsent = store_->compareAndSet("live/docs", std::nullopt, "v4");
  ASSERT_FALSE(asAbsent);
  EXPECT_EQ(asAbsent.error().code, Errc::conflict);
}

TEST_P(PointerStoreContract, CompareAndSetToNothingRemoves) {
  set("live/docs", std::nullopt, "v1");
  auto wrong = store_->compareAndSet("live/docs", "v0", std::nullopt);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::conflict);
  EXPECT_EQ(get("live/docs"), "v1");

  set("live/docs", "v1", std::nullopt);
  EXPECT_EQ(get("live/docs"), std::nullopt);
  EXPECT_EQ(list(""), Map{});

  auto again = store_->compareAndSet("live/docs", "v1", std::nullopt);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict);
  set("live/docs", std::nullopt, "v2");  // and it can be created again
  EXPECT_EQ(get("live/docs"), "v2");
}

TEST_P(PointerStoreContract, ListReturnsExactlyThePrefixSorted) {
  for (const char* key :
       {"live/docs", "live/doc", "live/docs2", "live/docs/preview", "site/docs", "live", "lived"}) {
    set(key, std::nullopt, std::string("value of ") + key);
  }
  EXPECT_EQ(list("live/docs"), (Map{{"live/docs", "value of live/docs"},
                                    {"live/docs/preview", "value of live/docs/preview"},
                                    {"live/docs2", "value of live/docs2"}}));
  EXPECT_EQ(list("live/docs/"), (Map{{"live/docs/preview", "value of live/docs/preview"}}));
  auto live = list("live/");
  std::vector<std::string> keys;
  for (const auto& [key, value] : live) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"live/doc", "live/docs", "live/docs/preview", "live/docs2"}));
  EXPECT_EQ(list("").size(), 7U);
  EXPECT_EQ(list("nothing"), Map{});
}

TEST_P(PointerStoreContract, KeysAndValuesRoundTripByteForByte) {
  std::string oddKey = "site/a b%2F.~:?#[]@!$&'()*+,;=\\\"<>{}|^`";
  std::string longKey(512, 'k');
  std::string binary("\0\n\xff value\r\n", 11);
  std::string big(64 * 1024, 'x');
  set(oddKey, std::nullopt, binary);
  set(longKey, std::nullopt, big);
  EXPECT_EQ(get(oddKey), binary);
  EXPECT_EQ(get(longKey), big);
  EXPECT_EQ(list(""), (Map{{oddKey, binary}, {longKey, big}}));
}

TEST_P(PointerStoreContract, WatchSeesChangesUnderItsPrefixOnly) {
  Recorder recorder;
  auto handle = watch("live/", recorder);
  set("site/docs", std::nullopt, "settings");
  set("livex", std::nullopt, "not under live/");
  set("live/docs", std::nullopt, "v1");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v1"));
  set("live/docs", "v1", std::nullopt);
  ASSERT_TRUE(recorder.waitForValue("live/docs", std::nullopt));
  set("site/docs", "settings", "settings 2");
  set("live/blog", std::nullopt, "b1");
  ASSERT_TRUE(recorder.waitForValue("live/blog", "b1"));

  for (const auto& event : recorder.events()) {
    EXPECT_TRUE(event.key.starts_with("live/")) << "delivered " << event.key;
  }
  EXPECT_EQ(recorder.lastValue("live/docs"), std::make_optional(std::optional<std::string>{}));
}

TEST_P(PointerStoreContract, LastValueOfABurstIsAlwaysDelivered) {
  Recorder recorder;
  auto handle = watch("live/", recorder);
  std::optional<std::string> previous;
  for (int i = 0; i < 100; ++i) {
    std::string value = "v" + std::to_string(i);
    set("live/docs", previous, value);
    previous = value;
  }
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v99"));
  std::this_thread::sleep_for(50ms);  // nothing older may arrive after it
  EXPECT_EQ(recorder.lastValue("live/docs"), std::optional<std::string>("v99"));
}

TEST_P(PointerStoreContract, SeveralWatchesEachGetTheirChanges) {
  Recorder live;
  Recorder site;
  Recorder all;
  auto h1 = watch("live/", live);
  auto h2 = watch("site/", site);
  auto h3 = watch("", all);
  set("live/docs", std::nullopt, "v1");
  set("site/docs", std::nullopt, "s1");
  ASSERT_TRUE(live.waitForValue("live/docs", "v1"));
  ASSERT_TRUE(site.waitForValue("site/docs", "s1"));
  ASSERT_TRUE(all.waitForValue("live/docs", "v1"));
  ASSERT_TRUE(all.waitForValue("site/docs", "s1"));
  EXPECT_FALSE(live.lastValue("site/docs"));
  EXPECT_FALSE(site.lastValue("live/docs"));
}

TEST_P(PointerStoreContract, AWatcherThatThrowsFailsOnlyItsOwnCallback) {
  std::atomic<int> thrown{0};
  auto throwing = store_->watch("live/", [&](const PointerEvent&) {
    ++thrown;
    throw std::runtime_error("a broken watcher");
  });
  ASSERT_TRUE(throwing);
  Recorder recorder;
  auto handle = watch("live/", recorder);
  set("live/docs", std::nullopt, "v1");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v1"));
  // The process and the dispatcher go on: later changes still reach every watcher.
  set("live/docs", "v1", "v2");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v2"));
  EXPECT_GE(thrown.load(), 1);
}

TEST_P(PointerStoreContract, DestroyedHandleGetsNoMoreCallbacks) {
  std::atomic<int> calls = 0;
  std::atomic<bool> inside = false;
  auto handle = store_->watch("live/", [&](const PointerEvent&) {
    inside = true;
    std::this_thread::sleep_for(30ms);
    ++calls;
    inside = false;
  });
  ASSERT_TRUE(handle);
  set("live/docs", std::nullopt, "v1");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!inside && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(inside);

  handle->reset();  // waits for the running callback: what it captured may go away next
  EXPECT_FALSE(inside);
  int after = calls;
  set("live/docs", "v1", "v2");
  set("live/blog", std::nullopt, "b1");
  Recorder other;  // a later watch still works, and proves the writes were dispatched
  auto otherHandle = watch("live/", other);
  set("live/docs", "v2", "v3");
  ASSERT_TRUE(other.waitForValue("live/docs", "v3"));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls, after);
  EXPECT_FALSE(inside);
}

TEST_P(PointerStoreContract, HandleMayBeDestroyedFromItsOwnCallback) {
  std::mutex mutex;
  WatchHandlePtr self;
  std::atomic<int> calls = 0;
  {
    std::lock_guard lock(mutex);
    auto handle = store_->watch("live/", [&](const PointerEvent&) {
      ++calls;
      std::lock_guard inner(mutex);
      self.reset();
    });
    ASSERT_TRUE(handle);
    self = std::move(*handle);
  }
  Recorder recorder;
  auto other = watch("live/", recorder);
  set("live/docs", std::nullopt, "v1");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v1"));
  set("live/docs", "v1", "v2");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v2"));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls, 1);
  std::lock_guard lock(mutex);
  EXPECT_EQ(self, nullptr);
}

TEST_P(PointerStoreContract, ConcurrentIncrementsLoseNoUpdate) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 200;
  set("counter", std::nullopt, "0");
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        while (true) {
          auto current = store_->get("counter");
          if (!current || !*current) {
            ++failures;
            return;
          }
          auto next = std::to_string(std::stoi(**current) + 1);
          auto result = store_->compareAndSet("counter", *current, next);
          if (result) break;
          if (result.error().code != Errc::conflict) {
            ++failures;
            return;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(get("counter"), std::to_string(kThreads * kIncrements));
}

}  // namespace
}  // namespace cutover::contract
