// What the embedded store adds to the contract: several processes, kills, the files on disk.
#include "pointer/embedded/embedded_pointer_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace cutover {
namespace {

using namespace std::chrono_literals;
using Map = std::map<std::string, std::string>;

std::shared_ptr<EmbeddedPointerStore> openStore(
    const std::filesystem::path& folder,
    EmbeddedPointerStore::Options options = EmbeddedPointerStore::Options{}) {
  auto store = EmbeddedPointerStore::open(folder, options);
  if (!store) ADD_FAILURE() << store.error().describe();
  return store ? *store : nullptr;
}

// Runs `body` in a child process; its exit status is 0 if it returned true.
pid_t spawn(const std::function<bool()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body() ? 0 : 1);
  return pid;
}

int waitExit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool increment(PointerStore& store, const std::string& key) {
  while (true) {
    auto current = store.get(key);
    if (!current || !*current) return false;
    auto result = store.compareAndSet(key, *current, std::to_string(std::stoi(**current) + 1));
    if (result) return true;
    if (result.error().code != Errc::conflict) return false;
  }
}

std::set<std::string> filesIn(const std::filesystem::path& folder) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

TEST(EmbeddedPointerStore, RejectsBadKeysAndValues) {
  testing::TempDir dir;
  auto store = openStore(dir.path());
  ASSERT_TRUE(store);
  for (const std::string& key :
       {std::string(), std::string(513, 'k'), std::string("a\nb"), std::string("tab\there"),
        std::string("del\x7f"), std::string("caf\xc3\xa9")}) {
    auto set = store->compareAndSet(key, std::nullopt, "v");
    ASSERT_FALSE(set) << "accepted key " << key;
    EXPECT_EQ(set.error().code, Errc::invalid_argument);
    auto got = store->get(key);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, Errc::invalid_argument);
  }
  auto big = store->compareAndSet("k", std::nullopt, std::string(64 * 1024 + 1, 'v'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::invalid_argument);
  EXPECT_TRUE(store->compareAndSet("k", std::nullopt, std::string(64 * 1024, 'v')));
  EXPECT_TRUE(store->compareAndSet(std::string(512, 'k'), std::nullopt, "v"));
}

TEST(EmbeddedPointerStore, KeysWithSlashesRoundTripThroughListAndReopen) {
  testing::TempDir dir;
  Map written{{"live/docs", "v1"},
              {"live/docs/preview/feature-x", "v2"},
              {"site/docs", "{\"hosts\":[\"docs.example.com\"]}"},
              {"/leading/and/trailing/", "v3"},
              {".hidden/..", "v4"},
              {"%2F", "not a slash"},
              {"~tilde", "v5"},
              {std::string(300, '/'), "long, stored under a hashed name"}};
  {
    auto store = openStore(dir.path());
    ASSERT_TRUE(store);
    for (const auto& [key, value] : written) {
      ASSERT_TRUE(store->compareAndSet(key, std::nullopt, value)) << key;
    }
    auto all = store->list("");
    ASSERT_TRUE(all);
    EXPECT_EQ(*all, written);
  }
  auto reopened = openStore(dir.path());
  ASSERT_TRUE(reopened);
  auto all = reopened->list("");
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, written);
  auto live = reopened->list("live/");
  ASSERT_TRUE(live);
  EXPECT_EQ(*live, (Map{{"live/docs", "v1"}, {"live/docs/preview/feature-x", "v2"}}));
  for (const auto& [key, value] : written) {
    EXPECT_EQ(*reopened->get(key), value) << key;
    std::string name = EmbeddedPointerStore::fileNameOf(key);
    EXPECT_LE(name.size(), 255U);
    EXPECT_EQ(name.find('/'), std::string::npos);
    EXPECT_NE(name[0], '.');
  }
  // One file per key, plus the lock; nothing else stays behind.
  auto names = filesIn(dir.path());
  EXPECT_EQ(names.size(), written.size() + 1);
  EXPECT_TRUE(names.contains(".lock"));
  EXPECT_TRUE(names.contains("live%2Fdocs"));
}

TEST(EmbeddedPointerStore, LeftoverTempFilesAreNotKeysAndGoAwayOnOpen) {
  testing::TempDir dir;
  {
    auto store = openStore(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->compareAndSet("live/docs", std::nullopt, "v1"));
  }
  // What writers killed between create and rename leave behind.
  testing::writeFile(dir / ".tmp-write", "live/docs\nhalf-writ");
  testing::writeFile(dir / ".tmp-12345", "live/blog\nv9");
  auto store = openStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_FALSE(std::filesystem::exists(dir / ".tmp-write"));
  EXPECT_FALSE(std::filesystem::exists(dir / ".tmp-12345"));
  auto all = store->list("");
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (Map{{"live/docs", "v1"}}));
}

TEST(EmbeddedPointerStore, ProcessesIncrementingOneCounterLoseNoUpdate) {
  constexpr int kChildren = 4;
  constexpr int kIncrements = 30;  // each write waits for two fsyncs
  testing::TempDir dir;
  auto store = openStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->compareAndSet("counter", std::nullopt, "0"));
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    children.push_back(spawn([&] {
      auto own = EmbeddedPointerStore::open(dir.path());  // each process opens its own
      if (!own) return false;
      for (int i = 0; i < kIncrements; ++i) {
        if (!increment(**own, "counter")) return false;
      }
      return true;
    }));
  }
  for (int i = 0; i < kIncrements; ++i) ASSERT_TRUE(increment(*store, "counter"));
  for (pid_t child : children) EXPECT_EQ(waitExit(child), 0);
  EXPECT_EQ(*store->get("counter"), std::to_string((kChildren + 1) * kIncrements));
}

TEST(EmbeddedPointerStore, WatcherSeesAWriteFromAnotherProcess) {
  testing::TempDir dir;
  auto store = openStore(dir.path());
  ASSERT_TRUE(store);
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<PointerEvent> events;
  auto handle = store->watch("live/", [&](const PointerEvent& event) {
    std::lock_guard lock(mutex);
    events.push_back(event);
    cv.notify_all();
  });
  ASSERT_TRUE(handle);
  pid_t child = spawn([&] {
    auto own = EmbeddedPointerStore::open(dir.path());
    return own && (*own)->compareAndSet("site/docs", std::nullopt, "s1") &&
           (*own)->compareAndSet("live/docs", std::nullopt, "v1") &&
           (*own)->compareAndSet("live/docs", "v1", "v2") &&
           (*own)->compareAndSet("live/old", std::nullopt, "o1") &&
           (*own)->compareAndSet("live/old", "o1", std::nullopt);
  });
  ASSERT_EQ(waitExit(child), 0);
  std::unique_lock lock(mutex);
  auto last = [&](const std::string& key) {
    std::optional<std::optional<std::string>> value;
    for (const auto& e : events) {
      if (e.key == key) value = e.value;
    }
    return value;
  };
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] {
    return last("live/docs") == std::make_optional(std::optional<std::string>("v2")) &&
           last("live/old") == std::make_optional(std::optional<std::string>());
  }));
  EXPECT_FALSE(last("site/docs"));
}

TEST(EmbeddedPointerStore, KilledWriterLeavesACompleteValueAndNoLock) {
  constexpr std::size_t kSize = 32 * 1024;
  constexpr int kKills = 50;
  testing::TempDir dir;
  auto store = openStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->compareAndSet("live/docs", std::nullopt, std::string(kSize, 'a')));
  std::mt19937 random(12345);
  std::set<char> seen;
  for (int kill = 0; kill < kKills; ++kill) {
    pid_t child = spawn([&] {
      auto own = EmbeddedPointerStore::open(dir.path());
      if (!own) return false;
      for (int i = 0;; ++i) {
        auto current = (*own)->get("live/docs");
        if (!current || !*current) return false;
        char next = static_cast<char>('a' + ((**current)[0] - 'a' + 1) % 26);
        if (!(*own)->compareAndSet("live/docs", *current, std::string(kSize, next))) return false;
      }
    });
    // A write takes a few ms (two fsyncs): kill at any point of one, or of the first.
    std::this_thread::sleep_for(std::chrono::microseconds(500 + random() % 30000));
    ::kill(child, SIGKILL);
    ASSERT_EQ(waitExit(child), 128 + SIGKILL) << "the writer stopped before it was killed";

    auto value = store->get("live/docs");
    ASSERT_TRUE(value) << value.error().describe();
    ASSERT_TRUE(*value);
    ASSERT_EQ((*value)->size(), kSize);
    ASSERT_EQ((*value)->find_first_not_of((**value)[0]), std::string::npos) << "torn value";
    seen.insert((**value)[0]);
    auto listed = store->list("live/");
    ASSERT_TRUE(listed);
    ASSERT_EQ(*listed, (Map{{"live/docs", **value}}));

    // The lock died with the writer: the next compare-and-set goes through at once.
    auto start = std::chrono::steady_clock::now();
    std::string rewritten(kSize, (**value)[0]);
    ASSERT_TRUE(store->compareAndSet("live/docs", *value, rewritten));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  }
  EXPECT_GT(seen.size(), 1U) << "the writer never got a write through";
}

TEST(EmbeddedPointerStore, InotifyOverflowStillDeliversTheLatestState) {
  int maxQueued = 0;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> maxQueued;
  if (maxQueued <= 0 || maxQueued > 65536) GTEST_SKIP() << "max_queued_events is " << maxQueued;

  testing::TempDir dir;
  // Durability is beside the point here and would make the writes take seconds.
  auto store = openStore(dir.path(), EmbeddedPointerStore::Options{.durable = false});
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->compareAndSet("k/gone", std::nullopt, "here"));
  ASSERT_TRUE(store->compareAndSet("k/first", std::nullopt, "0"));

  std::mutex mutex;
  std::condition_variable cv;
  bool blocked = false;
  bool release = false;
  std::map<std::string, std::optional<std::string>> latest;
  auto handle = store->watch("k/", [&](const PointerEvent& event) {
    std::unique_lock lock(mutex);
    latest[event.key] = event.value;
    blocked = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });  // hold the dispatcher while the queue overflows
  });
  ASSERT_TRUE(handle);
  // A second store object stands for another process: its writes reach only through inotify.
  auto writer = openStore(dir.path(), EmbeddedPointerStore::Options{.durable = false});
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->compareAndSet("k/first", "0", "1"));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return blocked; }));
  }
  // Create and remove keys in turn: three events a pair (the temp file moved from, the key moved
  // to, the key deleted). A rename over an existing file would be as good, but ext4 flushes the
  // file on each such rename, which makes the loop take seconds.
  constexpr int kKeys = 10;
  std::vector<std::optional<std::string>> values(kKeys);
  for (int i = 0; i < maxQueued * 2 / 3 + 205; ++i) {
    std::string key = "k/" + std::to_string(i % kKeys);
    auto& value = values[i % kKeys];
    std::optional<std::string> next;
    if (!value) next = std::to_string(i);
    ASSERT_TRUE(writer->compareAndSet(key, value, next));
    value = next;
  }
  ASSERT_TRUE(writer->compareAndSet("k/gone", "here", std::nullopt));
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();

  std::unique_lock lock(mutex);
  auto upToDate = [&] {
    for (int k = 0; k < kKeys; ++k) {
      auto it = latest.find("k/" + std::to_string(k));
      if (it == latest.end() || it->second != values[k]) return false;
    }
    auto gone = latest.find("k/gone");
    return gone != latest.end() && gone->second == std::nullopt;
  };
  EXPECT_TRUE(cv.wait_for(lock, 5s, upToDate));
}

TEST(EmbeddedPointerStore, HandleOutlivingItsStoreIsSafe) {
  testing::TempDir dir;
  auto store = openStore(dir.path());
  ASSERT_TRUE(store);
  std::atomic<int> calls = 0;
  auto handle = store->watch("", [&](const PointerEvent&) { ++calls; });
  ASSERT_TRUE(handle);
  store.reset();
  auto writer = openStore(dir.path());
  ASSERT_TRUE(writer->compareAndSet("live/docs", std::nullopt, "v1"));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls, 0);
  handle->reset();
}

}  // namespace
}  // namespace cutover
