// EtcdPointerStore beyond the contract: its URI, a cluster that is down, and watches that survive
// a killed leader, a cut connection and a compaction without missing a change. Against real etcd
// members (test/support/etcd_cluster.h); a TCP proxy cuts one client off while the cluster runs.
#include "pointer/etcd/etcd_pointer_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cutover/common/config_error.h"
#include "pointer/etcd/base64.h"
#include "pointer/etcd/etcd_watch.h"
#include "support/etcd_cluster.h"
#include "support/tcp_proxy.h"

namespace cutover {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::EtcdCluster;

// Every event a watch delivered, in order, and a way to wait for one.
class Recorder {
 public:
  std::function<void(const PointerEvent&)> callback() {
    return [this](const PointerEvent& event) {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      cv_.notify_all();
    };
  }

  // Waits until `key` was delivered with `value`; false after `timeout`.
  bool waitForValue(const std::string& key, const std::optional<std::string>& value,
                    std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (e.key == key && e.value == value) return true;
      }
      return false;
    });
  }

  std::vector<PointerEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

  // The values delivered for `key`, in order ("-" for a removal), from event `from` on.
  std::vector<std::string> valuesOf(const std::string& key, std::size_t from = 0) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (std::size_t i = from; i < events_.size(); ++i) {
      if (events_[i].key == key) out.push_back(events_[i].value.value_or("-"));
    }
    return out;
  }

  // What a watcher that started from `initial` believes the store holds now.
  std::map<std::string, std::string> view(std::map<std::string, std::string> initial = {}) {
    std::lock_guard lock(mutex_);
    for (const auto& e : events_) {
      if (e.value) {
        initial[e.key] = *e.value;
      } else {
        initial.erase(e.key);
      }
    }
    return initial;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<PointerEvent> events_;
};

std::string uniquePrefix(const std::string& what) {
  static std::atomic<int> next = 0;
  return what + "-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + "/";
}

std::shared_ptr<EtcdPointerStore> storeAt(const std::vector<std::string>& endpoints,
                                          const std::string& prefix) {
  EtcdPointerStore::Options options;
  options.connection.endpoints = endpoints;
  options.prefix = prefix;
  return std::make_shared<EtcdPointerStore>(std::move(options));
}

// A loopback port with no listener: connections to it are refused.
std::uint16_t closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// ---- The URI

TEST(EtcdUri, NamesTheMembersAndThePrefix) {
  auto options = EtcdPointerStore::parseUri("etcd://h1:2379,10.0.0.2:2380,[::1]:2381/prod");
  ASSERT_TRUE(options) << options.error().describe();
  EXPECT_EQ(options->connection.endpoints,
            (std::vector<std::string>{"h1:2379", "10.0.0.2:2380", "[::1]:2381"}));
  EXPECT_EQ(options->prefix, "prod/");

  auto defaults = EtcdPointerStore::parseUri("etcd://etcd.internal");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->connection.endpoints, std::vector<std::string>{"etcd.internal:2379"});
  EXPECT_EQ(defaults->prefix, "cutover/");
  EXPECT_EQ(EtcdPointerStore::parseUri("etcd://h/")->prefix, "cutover/");
  EXPECT_EQ(EtcdPointerStore::parseUri("etcd://h/a/b/")->prefix, "a/b/");
}

TEST(EtcdUri, BadUrisSayWhatIsWrong) {
  for (const std::string uri :
       {"etcd://", "etcd://:2379", "etcd://h1:0", "etcd://h1:x", "etcd://h1,,h2", "etcd://h1:99999",
        "etcd://user@h1", "etcd://h1?prefix=x", "etcd://[::1", "etcd://h 1"}) {
    auto options = EtcdPointerStore::parseUri(uri);
    ASSERT_FALSE(options) << uri;
    EXPECT_EQ(options.error().code, Errc::invalid_argument);
    EXPECT_NE(options.error().message.find(uri), std::string::npos) << options.error().message;
  }
  try {
    makePointerStore("etcd://h1:port");
    ADD_FAILURE() << "a bad port was accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("port"), std::string::npos) << error.what();
  }
}

// ---- What the gateway's bytes become

TEST(EtcdBase64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t size = 0; size <= 7; ++size) {
    std::string bytes = all.substr(250 - size, size);
    EXPECT_EQ(etcd::base64Decode(etcd::base64Encode(bytes)), bytes);
  }
  EXPECT_EQ(etcd::base64Encode("a/x"), "YS94");
  EXPECT_EQ(etcd::base64Decode(etcd::base64Encode(all)), all);
  EXPECT_EQ(etcd::base64Decode("YS9"), std::nullopt);
  EXPECT_EQ(etcd::base64Decode("Y$94"), std::nullopt);
}

TEST(EtcdWatchStream, ObjectsSplitAnywhereAreReassembled) {
  std::string stream =
      "{\"result\":{\"created\":true}}\n{\"result\":{\"a\":\"}{\\\"\",\"b\":[{}]}}\n"
      "{\"error\":{\"message\":\"no leader\"}}\n";
  std::vector<std::string> objects;
  etcd::JsonObjectSplitter splitter;
  for (char c : stream) {  // one byte at a time: the worst a chunked stream can do
    ASSERT_TRUE(splitter.feed(std::string_view(&c, 1), [&](std::string_view object) {
      objects.emplace_back(object);
      return true;
    }));
  }
  ASSERT_EQ(objects.size(), 3U);
  EXPECT_EQ(objects[1], "{\"result\":{\"a\":\"}{\\\"\",\"b\":[{}]}}");
  for (const auto& object : objects) {
    EXPECT_FALSE(nlohmann::json::parse(object, nullptr, false).is_discarded()) << object;
  }
}

TEST(EtcdPrefixEnd, CoversExactlyThePrefix) {
  EXPECT_EQ(etcd::prefixEnd("a/"), "a0");
  EXPECT_EQ(etcd::prefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(etcd::prefixEnd(std::string("\xff", 1)), std::string(1, '\0'));
}

// ---- A cluster that is not there

TEST(EtcdDown, EveryCallFailsFastWithUnavailableNamingTheEndpoints) {
  std::vector<std::string> endpoints = {"127.0.0.1:" + std::to_string(closedPort()),
                                        "127.0.0.1:" + std::to_string(closedPort())};
  auto store = storeAt(endpoints, "down/");
  auto check = [&](const Error& error, const char* call) {
    EXPECT_EQ(error.code, Errc::unavailable) << call << ": " << error.describe();
    for (const auto& endpoint : endpoints) {
      EXPECT_NE(error.message.find(endpoint), std::string::npos) << call << ": " << error.message;
    }
  };
  auto start = Clock::now();
  auto got = store->get("live/docs");
  ASSERT_FALSE(got);
  check(got.error(), "get");
  auto set = store->compareAndSet("live/docs", std::nullopt, "v1");
  ASSERT_FALSE(set);
  check(set.error(), "compareAndSet");
  auto listed = store->list("live/");
  ASSERT_FALSE(listed);
  check(listed.error(), "list");
  auto watched = store->watch("live/", [](const PointerEvent&) {});
  ASSERT_FALSE(watched);
  check(watched.error(), "watch");
  EXPECT_LT(Clock::now() - start, 1s) << "a store that refuses connections must fail at once";
}

// ---- Outages of a real cluster

TEST(EtcdOutage, CallsFailFastWhileDownAndAWatchCatchesUpAfterRestart) {
  if (!EtcdCluster::installedOrSkip()) return;
  EtcdCluster cluster(1);
  auto store = makePointerStore(cluster.uri(uniquePrefix("outage")));
  Recorder recorder;
  auto handle = store->watch("live/", recorder.callback());
  ASSERT_TRUE(handle) << handle.error().describe();
  ASSERT_TRUE(store->compareAndSet("live/docs", std::nullopt, "v1"));
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v1"));

  cluster.kill(0);
  auto start = Clock::now();
  auto got = store->get("live/docs");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::unavailable);
  EXPECT_NE(got.error().message.find(cluster.endpoint(0)), std::string::npos)
      << got.error().message;
  auto set = store->compareAndSet("live/docs", "v1", "v2");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code, Errc::unavailable) << set.error().describe();
  EXPECT_LT(Clock::now() - start, 1s);
  std::this_thread::sleep_for(300ms);  // the watch retries meanwhile, and must not give up

  cluster.restart(0);
  auto flipped = store->compareAndSet("live/docs", "v1", "v2");
  ASSERT_TRUE(flipped) << flipped.error().describe();
  EXPECT_TRUE(recorder.waitForValue("live/docs", "v2"))
      << "the watch did not resume after the store came back";
  EXPECT_EQ(recorder.valuesOf("live/docs"), (std::vector<std::string>{"v1", "v2"}));
}

TEST(EtcdOutage, ChangesMadeWhileCutOffArriveInOrderAfterReconnecting) {
  if (!EtcdCluster::installedOrSkip()) return;
  EtcdCluster cluster(1);
  testing::TcpProxy proxy(cluster.clientPort(0));
  std::string prefix = uniquePrefix("resume");
  auto watcher = storeAt({"127.0.0.1:" + std::to_string(proxy.port())}, prefix);
  auto writer = storeAt({cluster.endpoint(0)}, prefix);
  Recorder recorder;
  auto handle = watcher->watch("live/", recorder.callback());
  ASSERT_TRUE(handle) << handle.error().describe();
  ASSERT_TRUE(writer->compareAndSet("live/docs", std::nullopt, "v1"));
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v1"));

  proxy.cut();
  std::size_t before = recorder.events().size();
  ASSERT_TRUE(writer->compareAndSet("live/docs", "v1", "v2"));
  ASSERT_TRUE(writer->compareAndSet("live/docs", "v2", "v3"));
  ASSERT_TRUE(writer->compareAndSet("live/blog", std::nullopt, "b1"));
  ASSERT_TRUE(writer->compareAndSet("live/docs", "v3", std::nullopt));
  ASSERT_TRUE(writer->compareAndSet("live/blog", "b1", "b2"));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(recorder.events().size(), before) << "the proxy did not cut the watch off";

  proxy.restore();
  ASSERT_TRUE(recorder.waitForValue("live/blog", "b2")) << "the watch did not reconnect";
  std::vector<std::string> delivered;
  auto events = recorder.events();
  for (std::size_t i = before; i < events.size(); ++i) {
    delivered.push_back(events[i].key + "=" + events[i].value.value_or("-"));
  }
  // Every change, once, in the order it was made: resumed from the revision after the last seen.
  EXPECT_EQ(delivered, (std::vector<std::string>{"live/docs=v2", "live/docs=v3", "live/blog=b1",
                                                 "live/docs=-", "live/blog=b2"}));
}

TEST(EtcdOutage, AfterACompactionTheWatchRelistsAndDeliversTheDifferences) {
  if (!EtcdCluster::installedOrSkip()) return;
  EtcdCluster cluster(1);
  testing::TcpProxy proxy(cluster.clientPort(0));
  std::string prefix = uniquePrefix("compacted");
  auto watcher = storeAt({"127.0.0.1:" + std::to_string(proxy.port())}, prefix);
  auto writer = storeAt({cluster.endpoint(0)}, prefix);
  Recorder recorder;
  auto handle = watcher->watch("live/", recorder.callback());
  ASSERT_TRUE(handle) << handle.error().describe();
  ASSERT_TRUE(writer->compareAndSet("live/docs", std::nullopt, "v1"));
  ASSERT_TRUE(writer->compareAndSet("live/gone", std::nullopt, "g1"));
  ASSERT_TRUE(writer->compareAndSet("live/stays", std::nullopt, "s1"));
  ASSERT_TRUE(recorder.waitForValue("live/stays", "s1"));

  proxy.cut();
  std::size_t before = recorder.events().size();
  ASSERT_TRUE(writer->compareAndSet("live/docs", "v1", "v2"));
  ASSERT_TRUE(writer->compareAndSet("live/gone", "g1", std::nullopt));
  ASSERT_TRUE(writer->compareAndSet("live/new", std::nullopt, "n1"));
  ASSERT_TRUE(writer->compareAndSet("live/docs", "v2", "v3"));
  // Compact away every revision the watch could resume from.
  auto range = nlohmann::json::parse(cluster.post(0, "/v3/kv/range", R"({"key":"AA=="})"));
  std::string revision = range["header"]["revision"];
  auto compacted =
      cluster.post(0, "/v3/kv/compaction", R"({"revision":")" + revision + R"(","physical":true})");
  ASSERT_NE(compacted, "") << "etcd did not compact";

  proxy.restore();
  ASSERT_TRUE(recorder.waitForValue("live/docs", "v3")) << "the watch did not recover";
  ASSERT_TRUE(recorder.waitForValue("live/gone", std::nullopt));
  ASSERT_TRUE(recorder.waitForValue("live/new", "n1"));
  EXPECT_EQ(recorder.view(), (std::map<std::string, std::string>{
                                 {"live/docs", "v3"}, {"live/new", "n1"}, {"live/stays", "s1"}}));
  // The differences only: docs jumps to its value now (v2 is compacted away), stays is unchanged.
  EXPECT_EQ(recorder.valuesOf("live/docs", before), std::vector<std::string>{"v3"});
  EXPECT_EQ(recorder.valuesOf("live/stays", before), std::vector<std::string>{});
}

TEST(EtcdFailover, KillingTheLeaderMidwayLosesNoFlip) {
  if (!EtcdCluster::installedOrSkip()) return;
  EtcdCluster cluster(3);
  // The leader first, for the writer and the watcher alike: killing it breaks both their
  // connections, so the writes fail over and the watch resumes on another member.
  int leader = cluster.leader();
  std::vector<std::string> endpoints = {cluster.endpoint(leader)};
  for (int i = 0; i < cluster.size(); ++i) {
    if (i != leader) endpoints.push_back(cluster.endpoint(i));
  }
  std::string prefix = uniquePrefix("failover");
  auto writer = storeAt(endpoints, prefix);
  auto watcher = storeAt(endpoints, prefix);
  Recorder recorder;
  auto handle = watcher->watch("live/", recorder.callback());
  ASSERT_TRUE(handle) << handle.error().describe();

  constexpr int kFlips = 100;
  std::atomic<int> done = 0;
  std::atomic<int> retries = 0;
  std::string failure;
  std::thread flipper([&] {
    std::optional<std::string> previous;
    auto deadline = Clock::now() + 60s;
    for (int i = 0; i < kFlips; ++i) {
      std::string value = "v" + std::to_string(i);
      while (true) {
        auto set = writer->compareAndSet("live/docs", previous, value);
        if (set) break;
        if (Clock::now() > deadline) {
          failure = "flip " + value + " still failing after 60 s: " + set.error().describe();
          return;
        }
        // Unavailable (or a conflict after a retry whose first try did land): read what the
        // key holds, as a deploy that retries would.
        ++retries;
        std::this_thread::sleep_for(20ms);
        auto now = writer->get("live/docs");
        if (!now) continue;
        if (*now == value) break;  // the earlier try was applied
        if (*now != previous) {
          failure = "flip " + value + ": the key holds " + now->value_or("nothing") + " after " +
                    set.error().describe();
          return;
        }
      }
      previous = value;
      done = i + 1;
    }
  });
  while (done < kFlips / 3 && failure.empty()) std::this_thread::sleep_for(1ms);
  cluster.kill(leader);
  flipper.join();
  ASSERT_EQ(failure, "");

  ASSERT_TRUE(recorder.waitForValue("live/docs", "v" + std::to_string(kFlips - 1)));
  std::this_thread::sleep_for(100ms);  // nothing may arrive after the last value
  std::vector<std::string> expected;
  for (int i = 0; i < kFlips; ++i) expected.push_back("v" + std::to_string(i));
  EXPECT_EQ(recorder.valuesOf("live/docs"), expected)
      << "every successful flip, once and in order (the writer retried " << retries << " times)";
  auto last = writer->get("live/docs");
  ASSERT_TRUE(last) << last.error().describe();
  EXPECT_EQ(*last, expected.back());
}

}  // namespace
}  // namespace cutover
