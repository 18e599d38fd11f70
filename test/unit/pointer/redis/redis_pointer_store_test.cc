// What the Redis store adds to the contract, against a real redis-server: outages and hangs,
// reconnects, changes missed while cut off, several stores on one Redis, prefixes, passwords.
#include "pointer/redis/redis_pointer_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "contract/pointer_store_contract.h"
#include "support/redis_server.h"

namespace cutover {
namespace {

using namespace std::chrono_literals;
using contract::Recorder;
using Map = std::map<std::string, std::string>;
using Clock = std::chrono::steady_clock;

class RedisPointerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::RedisServer::installedOrSkip()) return;
    server_ = std::make_unique<testing::RedisServer>(serverArgs());
  }

  virtual std::vector<std::string> serverArgs() { return {}; }

  // Short timeouts and waits, so outages show within a test's patience.
  RedisConfig config(const std::string& prefix = "test:") {
    auto parsed = parseRedisUri(server_->uri(), nullptr);
    EXPECT_TRUE(parsed);
    RedisConfig config = *parsed;
    config.prefix = prefix;
    config.connect_timeout = 500ms;
    config.command_timeout = 500ms;
    config.reconnect_min = 20ms;
    config.reconnect_max = 200ms;
    return config;
  }

  // A plain connection, for what the store does not do: CLIENT KILL, PUBSUB, raw keys.
  RedisConnection raw() {
    auto connection = RedisConnection::open(config(), "test");
    EXPECT_TRUE(connection) << connection.error().describe();
    return std::move(*connection);
  }

  static void set(PointerStore& store, const std::string& key,
                  const std::optional<std::string>& expected,
                  const std::optional<std::string>& desired) {
    auto result = store.compareAndSet(key, expected, desired);
    ASSERT_TRUE(result) << result.error().describe();
  }

  static WatchHandlePtr watch(PointerStore& store, const std::string& prefix, Recorder& recorder) {
    auto handle = store.watch(prefix, recorder.callback());
    EXPECT_TRUE(handle) << handle.error().describe();
    return handle ? std::move(*handle) : nullptr;
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  std::unique_ptr<testing::RedisServer> server_;
};

// Runs `call`, and checks it failed with unavailable, naming the address, within 3 s.
template <class Call>
void expectUnavailableFast(Call call, const std::string& address) {
  auto start = Clock::now();
  auto result = call();
  auto took = Clock::now() - start;
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::unavailable) << result.error().describe();
  EXPECT_NE(result.error().message.find(address), std::string::npos) << result.error().message;
  EXPECT_LT(took, 3s);
}

TEST_F(RedisPointerStoreTest, StoppedRedisFailsFastWithUnavailableNamingTheAddress) {
  auto store = RedisPointerStore::open(config());
  set(*store, "live/docs", std::nullopt, "v1");
  Recorder recorder;
  auto handle = watch(*store, "live/", recorder);
  server_->stop();

  expectUnavailableFast([&] { return store->get("live/docs"); }, address());
  expectUnavailableFast([&] { return store->compareAndSet("live/docs", "v1", "v2"); }, address());
  expectUnavailableFast([&] { return store->list("live/"); }, address());
  expectUnavailableFast([&] { return store->get("live/docs"); }, address());  // while backing off
  auto other = RedisPointerStore::open(config());
  expectUnavailableFast([&] { return other->watch("live/", [](const PointerEvent&) {}); },
                        address());
  EXPECT_NE(handle, nullptr);
}

TEST_F(RedisPointerStoreTest, HungRedisTimesOutInsteadOfHanging) {
  auto store = RedisPointerStore::open(config());
  set(*store, "live/docs", std::nullopt, "v1");
  server_->pause();
  expectUnavailableFast([&] { return store->get("live/docs"); }, address());
  auto start = Clock::now();
  auto set = store->compareAndSet("live/docs", "v1", "v2");
  EXPECT_LT(Clock::now() - start, 3s);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code, Errc::unavailable);
  server_->resume();

  // Back by itself once Redis answers again; the interrupted write may or may not have landed.
  std::optional<std::string> value;
  auto deadline = Clock::now() + 3s;
  while (Clock::now() < deadline) {
    if (auto got = store->get("live/docs")) {
      value = *got;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(value == "v1" || value == "v2") << value.value_or("(none)");
}

TEST_F(RedisPointerStoreTest, WatchSurvivesARestartAndCatchesUpByItself) {
  auto store = RedisPointerStore::open(config());
  Recorder recorder;
  auto handle = watch(*store, "live/", recorder);
  set(*store, "live/docs", std::nullopt, "v1");
  set(*store, "live/blog", std::nullopt, "b1");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v1"));
  ASSERT_TRUE(recorder.waitForValue("live/blog", "b1"));

  server_->stop();
  std::this_thread::sleep_for(300ms);  // the watcher retries meanwhile
  ASSERT_NE(handle, nullptr);
  server_->restart();  // same port, no data

  auto writer = RedisPointerStore::open(config());
  set(*writer, "live/docs", std::nullopt, "v2");
  EXPECT_TRUE(recorder.waitForValue("live/docs", "v2"));
  EXPECT_TRUE(recorder.waitForValue("live/blog", std::nullopt));  // gone with the data

  // The store's own commands come back too.
  std::optional<std::string> value;
  auto deadline = Clock::now() + 3s;
  while (Clock::now() < deadline && !value) {
    if (auto got = store->get("live/docs")) value = *got;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(value, "v2");
}

TEST_F(RedisPointerStoreTest, ChangesMadeWhileTheSubscriberWasCutOffArriveAfterReconnect) {
  auto watching = config();
  // Long enough for the writes below to land while cut off, even on a loaded machine (the first
  // retry waits between half of this and all of it).
  watching.reconnect_min = 1500ms;
  watching.reconnect_max = 1500ms;
  auto store = RedisPointerStore::open(watching);
  auto writer = RedisPointerStore::open(config());
  Recorder recorder;
  auto handle = watch(*store, "live/", recorder);
  set(*writer, "live/docs", std::nullopt, "v1");
  set(*writer, "live/blog", std::nullopt, "b1");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v1"));
  ASSERT_TRUE(recorder.waitForValue("live/blog", "b1"));

  auto admin = raw();
  auto killed = admin.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  ASSERT_TRUE(killed);
  ASSERT_EQ((*killed)->type, REDIS_REPLY_INTEGER);
  EXPECT_GE((*killed)->integer, 1);
  set(*writer, "live/docs", "v1", "v2");
  set(*writer, "live/blog", "b1", std::nullopt);
  set(*writer, "live/new", std::nullopt, "n1");
  // Nobody was subscribed when those were published: the notices reached no one.
  std::string channel = watching.channel();
  auto subscribers = admin.command({"PUBSUB", "NUMSUB", channel});
  ASSERT_TRUE(subscribers);
  ASSERT_EQ((*subscribers)->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ((*subscribers)->elements, 2U);
  EXPECT_EQ((*subscribers)->element[1]->integer, 0);

  EXPECT_TRUE(recorder.waitForValue("live/docs", "v2"));
  EXPECT_TRUE(recorder.waitForValue("live/blog", std::nullopt));
  EXPECT_TRUE(recorder.waitForValue("live/new", "n1"));
  // And the subscription stands again: the next change comes as a notice.
  set(*writer, "live/docs", "v2", "v3");
  EXPECT_TRUE(recorder.waitForValue("live/docs", "v3"));
}

TEST_F(RedisPointerStoreTest, TwoStoresSeeEachOthersChanges) {
  auto a = RedisPointerStore::open(config());
  auto b = RedisPointerStore::open(config());
  Recorder seenByA;
  Recorder seenByB;
  auto ha = watch(*a, "live/", seenByA);
  auto hb = watch(*b, "live/", seenByB);
  set(*a, "live/docs", std::nullopt, "from a");
  EXPECT_TRUE(seenByB.waitForValue("live/docs", "from a"));
  set(*b, "live/docs", "from a", "from b");
  EXPECT_TRUE(seenByA.waitForValue("live/docs", "from b"));
  auto stale = a->compareAndSet("live/docs", "from a", "again");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::conflict);
  EXPECT_EQ(*a->get("live/docs"), "from b");
}

TEST_F(RedisPointerStoreTest, PrefixesKeepInstallsApartEvenWithGlobCharacters) {
  auto globby = RedisPointerStore::open(config("p*:"));
  auto other = RedisPointerStore::open(config("pother:"));
  set(*other, "live/docs", std::nullopt, "other's");
  set(*globby, "live/a?", std::nullopt, "q");
  set(*globby, "live/ab", std::nullopt, "b");
  set(*globby, "live/[x]", std::nullopt, "x");

  EXPECT_EQ(*globby->list(""), (Map{{"live/a?", "q"}, {"live/ab", "b"}, {"live/[x]", "x"}}));
  EXPECT_EQ(*globby->list("live/a?"), (Map{{"live/a?", "q"}}));
  EXPECT_EQ(*globby->list("live/["), (Map{{"live/[x]", "x"}}));
  EXPECT_EQ(*other->list(""), (Map{{"live/docs", "other's"}}));
  EXPECT_EQ(*globby->get("live/docs"), std::nullopt);

  Recorder recorder;
  auto handle = watch(*other, "", recorder);
  set(*globby, "live/ab", "b", "b2");
  set(*other, "live/docs", "other's", "other's 2");
  ASSERT_TRUE(recorder.waitForValue("live/docs", "other's 2"));
  EXPECT_FALSE(recorder.lastValue("live/ab"));

  // In Redis, each key is the prefix and the key.
  auto admin = raw();
  auto stored = admin.command({"GET", "pother:live/docs"});
  ASSERT_TRUE(stored);
  ASSERT_EQ((*stored)->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string((*stored)->str, (*stored)->len), "other's 2");
}

TEST_F(RedisPointerStoreTest, DatabasesKeepStoresApart) {
  auto zero = RedisPointerStore::open(config());
  auto oneConfig = config();
  oneConfig.db = 1;
  auto one = RedisPointerStore::open(oneConfig);
  Recorder recorder;
  auto handle = watch(*one, "", recorder);
  set(*zero, "live/docs", std::nullopt, "in db 0");
  set(*one, "live/blog", std::nullopt, "in db 1");
  ASSERT_TRUE(recorder.waitForValue("live/blog", "in db 1"));
  EXPECT_EQ(*one->get("live/docs"), std::nullopt);
  EXPECT_FALSE(recorder.lastValue("live/docs"));
}

TEST_F(RedisPointerStoreTest, BadKeysAndValuesAreRefusedBeforeReachingRedis) {
  auto store = RedisPointerStore::open(config());
  auto empty = store->compareAndSet("", std::nullopt, "v");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::invalid_argument);
  auto control = store->get("live/\n");
  ASSERT_FALSE(control);
  EXPECT_EQ(control.error().code, Errc::invalid_argument);
  auto big = store->compareAndSet("live/docs", std::nullopt, std::string(64 * 1024 + 1, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::invalid_argument);
  EXPECT_EQ(*store->list(""), Map{});
}

class RedisWithPasswordTest : public RedisPointerStoreTest {
 protected:
  std::vector<std::string> serverArgs() override { return {"--requirepass", "s3cret"}; }
};

TEST_F(RedisWithPasswordTest, PasswordFromUriOrEnvironmentAndClearErrorsWithout) {
  std::string hostPort = "127.0.0.1:" + std::to_string(server_->port());
  ::unsetenv("REDIS_PASSWORD");
  auto without = makePointerStore("redis://" + hostPort);
  auto refused = without->get("live/docs");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::unavailable);
  EXPECT_NE(refused.error().message.find("REDIS_PASSWORD"), std::string::npos)
      << refused.error().message;

  auto wrong = makePointerStore("redis://:not-it@" + hostPort);
  auto denied = wrong->get("live/docs");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::unavailable);
  EXPECT_NE(denied.error().message.find("WRONGPASS"), std::string::npos) << denied.error().message;
  EXPECT_EQ(denied.error().message.find("not-it"), std::string::npos) << denied.error().message;

  auto byUri = makePointerStore("redis://:s3cret@" + hostPort);
  ASSERT_TRUE(byUri->compareAndSet("live/docs", std::nullopt, "v1"));
  ::setenv("REDIS_PASSWORD", "s3cret", 1);
  auto byEnvironment = makePointerStore("redis://" + hostPort);
  ::unsetenv("REDIS_PASSWORD");
  auto value = byEnvironment->get("live/docs");
  ASSERT_TRUE(value) << value.error().describe();
  EXPECT_EQ(*value, "v1");
}

}  // namespace
}  // namespace cutover
