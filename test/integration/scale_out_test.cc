// Scale-out mode end to end: several `cutover serve` edges, each with its own data folder, share
// one object store in S3 (radosgw) and one pointer store (etcd or Redis), the way a fleet of
// machines would. Deploys and flips come from other processes; the edges must follow every flip,
// keep serving what they have while a store is away, and follow again once it is back.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cutover/pointer/pointer_store.h"
#include "cutover/pointer/records.h"
#include "cutover/store/manifest.h"
#include "cutover/store/object_store.h"
#include "support/etcd_cluster.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/redis_server.h"
#include "support/s3_server.h"
#include "support/tcp_proxy.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using Clock = std::chrono::steady_clock;
using testing::httpRequest;
using testing::ScopedEnv;
using testing::ServerProcess;
using testing::TempDir;
using testing::writeFile;

constexpr char kSite[] = "docs";
constexpr char kHost[] = "docs.localhost";

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// `uri` (which has a query) pointed at another endpoint: the same bucket and prefix through
// another address.
std::string throughEndpoint(const std::string& uri, std::uint16_t port) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") +
         "endpoint=http://127.0.0.1:" + std::to_string(port);
}

// A small site whose every file embeds `tag`, so a body tells which version it came from.
void writeTaggedSite(const std::filesystem::path& root, const std::string& tag) {
  writeFile(root / "index.html", "<!doctype html><title>" + tag + "</title>");
  writeFile(root / "app.js", "console.log('" + tag + "');");
}

// `cutover deploy` from a data folder of its own, with the stores the environment names; the
// version id, or "" after recording a failure.
std::string deploy(const std::filesystem::path& data, const std::filesystem::path& folder,
                   bool activate = true) {
  std::vector<std::string> args{"--data-dir", data.string(), "deploy", folder.string(),
                                "--site",     kSite,         "--json"};
  if (!activate) args.emplace_back("--no-activate");
  auto r = testing::runCutover(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return "";
  return nlohmann::json::parse(r.out).value("version", "");
}

std::unique_ptr<ServerProcess> startEdge(const std::filesystem::path& data) {
  return std::make_unique<ServerProcess>(std::vector<std::string>{
      "--data-dir", data.string(), "serve", "--listen", "127.0.0.1:0", "--threads", "2"});
}

std::string versionOf(const testing::HttpResponse& r) {
  auto it = r.headers.find("x-cutover-version");
  return it != r.headers.end() ? it->second : std::string();
}

// What an edge answers for the site's home page, for messages: "200 <version>" or the failure.
std::string describe(const testing::HttpResponse& r) {
  if (r.status == 0) return "no response (" + r.error + ")";
  return std::to_string(r.status) + " " + versionOf(r);
}

// Polls the edge until it answers `version` with that version's page; how long it took in ms
// from `since`, or nullopt if it did not within `limit`. `last` gets the last answer.
std::optional<double> waitForVersion(std::uint16_t port, const std::string& version,
                                     const std::string& tag, Clock::time_point since,
                                     std::chrono::milliseconds limit, std::string* last = nullptr) {
  while (true) {
    auto r = httpRequest(port, kHost, "/");
    bool ok = r.status == 200 && versionOf(r) == version && r.body.find(tag) != std::string::npos;
    if (ok) return msSince(since);
    if (last != nullptr) *last = describe(r);
    if (Clock::now() - since > limit) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// Writes live/<site> = `version` straight into the pointer store, exactly as `cutover activate`
// does (compare-and-set against what is there), retrying while the store is unavailable, for up
// to `limit`. Returns the value written, or nullopt after recording a failure.
std::optional<std::string> flip(PointerStore& pointers, const std::string& version,
                                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = Clock::now() + limit;
  std::string last_error;
  while (Clock::now() < deadline) {
    auto raw = pointers.get(liveKey(kSite));
    if (raw) {
      LivePointer next{version, "", nowRfc3339(), "activate"};
      if (*raw) {
        if (auto current = LivePointer::fromJson(**raw)) next.previous = current->version;
      }
      std::string json = next.toJson();
      auto set = pointers.compareAndSet(liveKey(kSite), *raw, json);
      if (set) return json;
      last_error = set.error().describe();
    } else {
      last_error = raw.error().describe();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "could not write live/" << kSite << " = " << version << ": " << last_error;
  return std::nullopt;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(at, values.size() - 1)];
}

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Requests the home page from every edge for `duration`: how many answers were not `version`'s
// page (with the first few in `examples`).
int requestsOffVersion(const std::vector<std::unique_ptr<ServerProcess>>& edges,
                       const std::string& version, const std::string& tag,
                       std::chrono::milliseconds duration, int* requests,
                       std::vector<std::string>* examples) {
  int off = 0;
  auto end = Clock::now() + duration;
  while (Clock::now() < end) {
    for (std::size_t e = 0; e < edges.size(); ++e) {
      auto r = httpRequest(edges[e]->port(), kHost, "/");
      ++*requests;
      if (r.status == 200 && versionOf(r) == version && r.body.find(tag) != std::string::npos) {
        continue;
      }
      ++off;
      if (examples->size() < 5) {
        examples->push_back("edge " + std::to_string(e) + ": " + describe(r));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return off;
}

std::string join(const std::vector<std::string>& lines_of_text) {
  std::string out;
  for (const auto& line : lines_of_text) out += "\n  " + line;
  return out;
}

// Every blob the stored manifests of every site name (files and their precompressed forms).
std::set<std::string> namedBlobs(ObjectStore& objects) {
  std::set<std::string> named;
  auto sites = objects.listSites();
  EXPECT_TRUE(sites) << sites.error().describe();
  if (!sites) return named;
  for (const auto& site : *sites) {
    auto versions = objects.listVersions(site);
    EXPECT_TRUE(versions) << versions.error().describe();
    if (!versions) continue;
    for (const auto& info : *versions) {
      auto manifest = objects.readManifest(site, info.version);
      EXPECT_TRUE(manifest) << manifest.error().describe();
      if (!manifest) continue;
      for (const auto& [path, file] : manifest->files) {
        named.insert(file.hash);
        if (file.br.present()) named.insert(file.br.hash);
        if (file.gzip.present()) named.insert(file.gzip.hash);
      }
    }
  }
  return named;
}

std::set<std::string> storedBlobs(ObjectStore& objects) {
  auto blobs = objects.listBlobs();
  EXPECT_TRUE(blobs) << blobs.error().describe();
  return blobs ? std::set<std::string>(blobs->begin(), blobs->end()) : std::set<std::string>();
}

// Three edges, one etcd, one S3 prefix; a fourth process deploys two versions, then the test
// flips between them 200 times and times how long each edge takes to answer each new version.
TEST(ScaleOutTest, ThreeEdgesOnEtcdAndS3ConvergeOnEachOf200Flips) {
  constexpr int kFlips = 200;
  constexpr int kEdges = 3;
  constexpr auto kStuck = std::chrono::seconds(5);
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  if (!testing::EtcdCluster::installedOrSkip()) return;
  testing::EtcdCluster etcd(1);
  TempDir dir;
  ScopedEnv env{{"CUTOVER_STORE", s3->uniqueUri()}, {"CUTOVER_POINTERS", etcd.uri()}};

  const std::vector<std::string> tags{"build-AAAA", "build-BBBB"};
  std::vector<std::string> versions;
  for (const auto& tag : tags) {
    writeTaggedSite(dir / tag, tag);
    versions.push_back(deploy(dir / "deployer", dir / tag));
    ASSERT_FALSE(versions.back().empty());
  }
  std::vector<std::unique_ptr<ServerProcess>> edges;
  for (int e = 0; e < kEdges; ++e) edges.push_back(startEdge(dir / ("edge" + std::to_string(e))));
  for (int e = 0; e < kEdges; ++e) {
    std::string last;
    ASSERT_TRUE(waitForVersion(edges[static_cast<std::size_t>(e)]->port(), versions[1], tags[1],
                               Clock::now(), std::chrono::seconds(10), &last))
        << "edge " << e << " never served the deployed version; it answers " << last;
  }

  auto pointers = makePointerStore(etcd.uri());
  // propagation[e]: for each flip, pointer write started → edge e answered the new version.
  std::vector<std::vector<double>> propagation(kEdges);
  std::vector<double> writes;  // how long the compare-and-set itself took
  for (int i = 0; i < kFlips; ++i) {
    std::size_t to = static_cast<std::size_t>(i % 2);  // B is live: flip to A, then B, ...
    auto start = Clock::now();
    ASSERT_TRUE(flip(*pointers, versions[to])) << "flip " << i;
    writes.push_back(msSince(start));
    std::vector<std::optional<double>> took(kEdges);
    std::vector<std::string> last(kEdges);
    std::vector<std::thread> pollers;
    for (std::size_t e = 0; e < kEdges; ++e) {
      pollers.emplace_back([&, e] {
        took[e] = waitForVersion(edges[e]->port(), versions[to], tags[to], start, kStuck, &last[e]);
      });
    }
    for (auto& t : pollers) t.join();
    for (std::size_t e = 0; e < kEdges; ++e) {
      // A stuck edge would make every later flip wait out the limit too: stop at the first.
      ASSERT_TRUE(took[e]) << "flip " << i << " to " << versions[to] << ": edge " << e
                           << " still answers " << last[e] << " after " << kStuck.count()
                           << " s\nits log:\n"
                           << edges[e]->errors();
      propagation[e].push_back(*took[e]);
    }
  }

  std::vector<double> all;
  for (const auto& p : propagation) all.insert(all.end(), p.begin(), p.end());
  auto over50 = std::count_if(all.begin(), all.end(), [](double ms) { return ms > 50; });
  std::printf(
      "propagation, pointer write -> edge answers the new version, %d flips x %d edges "
      "(goal: 50 ms):\n  all edges: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %ld of %zu over 50 ms\n",
      kFlips, kEdges, percentile(all, 0.5), percentile(all, 0.99), percentile(all, 1.0),
      static_cast<long>(over50), all.size());
  for (int e = 0; e < kEdges; ++e) {
    const auto& p = propagation[static_cast<std::size_t>(e)];
    std::printf("  edge %d:    p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", e, percentile(p, 0.5),
                percentile(p, 0.99), percentile(p, 1.0));
  }
  std::printf("  the etcd compare-and-set alone: p50 %.1f ms, p99 %.1f ms\n",
              percentile(writes, 0.5), percentile(writes, 0.99));
  std::fflush(stdout);
}

// A site whose pointer store goes away: edges serving A keep serving A, with no error, for as
// long as it is away; once it is back, a flip to B reaches every edge.
struct OutageFleet {
  TempDir dir;
  std::vector<std::string> tags{"build-AAAA", "build-BBBB"};
  std::vector<std::string> versions;  // A (live), B (stored, not live)
  std::vector<std::unique_ptr<ServerProcess>> edges;

  // Deploys A and B (B not activated) and starts `count` edges serving A, with the stores the
  // environment names. False after recording a failure.
  bool start(int count) {
    for (std::size_t v = 0; v < tags.size(); ++v) {
      writeTaggedSite(dir / tags[v], tags[v]);
      versions.push_back(deploy(dir / "deployer", dir / tags[v], v == 0));
      if (versions.back().empty()) return false;
    }
    for (int e = 0; e < count; ++e) edges.push_back(startEdge(dir / ("edge" + std::to_string(e))));
    for (std::size_t e = 0; e < edges.size(); ++e) {
      std::string last;
      if (!waitForVersion(edges[e]->port(), versions[0], tags[0], Clock::now(),
                          std::chrono::seconds(10), &last)) {
        ADD_FAILURE() << "edge " << e << " never served " << versions[0] << "; it answers " << last;
        return false;
      }
    }
    return true;
  }

  // Every edge answers A for `duration`, with no error.
  void expectServingA(std::chrono::milliseconds duration, const std::string& when) {
    int requests = 0;
    std::vector<std::string> examples;
    int off = requestsOffVersion(edges, versions[0], tags[0], duration, &requests, &examples);
    EXPECT_EQ(off, 0) << when << ": " << off << " of " << requests
                      << " requests were not answered with " << versions[0] << join(examples);
    EXPECT_GT(requests, static_cast<int>(edges.size()));
  }

  // Every edge answers B within `limit` of `since`; prints how long each took.
  void expectReachB(Clock::time_point since, std::chrono::milliseconds limit,
                    const std::string& when) {
    for (std::size_t e = 0; e < edges.size(); ++e) {
      std::string last;
      auto took = waitForVersion(edges[e]->port(), versions[1], tags[1], since, limit, &last);
      EXPECT_TRUE(took) << when << ": edge " << e << " still answers " << last << " after "
                        << limit.count() << " ms\nits log:\n"
                        << edges[e]->errors();
      if (took) std::printf("%s: edge %zu answered B after %.1f ms\n", when.c_str(), e, *took);
    }
    std::fflush(stdout);
  }

  std::vector<std::size_t> logLines() {
    std::vector<std::size_t> out;
    for (auto& edge : edges) out.push_back(lines(edge->errors()));
    return out;
  }

  // An outage must show in an edge's log (`must_say`, e.g. that the store is unreachable and
  // then that it answers again), and a few times at most, not once per retry.
  void expectFewLogLines(const std::vector<std::size_t>& before, std::size_t bound,
                         const std::vector<std::string>& must_say) {
    for (std::size_t e = 0; e < edges.size(); ++e) {
      std::string log = edges[e]->errors();
      for (const auto& words : must_say) {
        EXPECT_NE(log.find(words), std::string::npos)
            << "edge " << e << " never said \"" << words << "\"; its log:\n"
            << log;
      }
      std::printf("edge %zu logged %zu lines from the outage on\n", e, lines(log) - before[e]);
      EXPECT_LE(lines(log) - before[e], bound)
          << "edge " << e << " logged " << lines(log) - before[e]
          << " lines about one outage; its log:\n"
          << log;
    }
  }
};

// Two tabs across a deploy, seen by two edges on S3 and etcd: one edge saw the flip, the other
// started after it and knows the previous version only from the live pointer. The first tab's
// lazy chunk, asked for under the second tab's pin, comes from the version that has it.
TEST(ScaleOutTest, TwoEdgesAnswerAFirstTabsHashedChunkAfterASecondTabMovedThePin) {
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  if (!testing::EtcdCluster::installedOrSkip()) return;
  testing::EtcdCluster etcd(1);
  ScopedEnv env{{"CUTOVER_STORE", s3->uniqueUri()}, {"CUTOVER_POINTERS", etcd.uri()}};
  TempDir dir;
  // Two builds of one app, as Vite names them: each has its own About chunk.
  writeFile(dir / "r1" / "index.html", "<p>release 1</p>");
  writeFile(dir / "r1" / "assets" / "About-BBH89ct8.js", "export default 'about 1';");
  writeFile(dir / "r1" / "secret.txt", "SECRET=1");
  writeFile(dir / "r2" / "index.html", "<p>release 2</p>");
  writeFile(dir / "r2" / "assets" / "About-B8slI0pE.js", "export default 'about 2';");

  auto seen_flip = startEdge(dir / "edge-a");
  std::string v1 = deploy(dir / "deployer", dir / "r1");
  ASSERT_FALSE(v1.empty());
  ASSERT_TRUE(
      waitForVersion(seen_flip->port(), v1, "release 1", Clock::now(), std::chrono::seconds(10)));
  std::string v2 = deploy(dir / "deployer", dir / "r2");
  ASSERT_FALSE(v2.empty());
  auto started_after = startEdge(dir / "edge-b");
  for (auto* edge : {seen_flip.get(), started_after.get()}) {
    ASSERT_TRUE(
        waitForVersion(edge->port(), v2, "release 2", Clock::now(), std::chrono::seconds(10)));
    std::string pin = "Cookie: cutover_pin=" + v2 + "." + std::to_string(std::time(nullptr));
    auto chunk = httpRequest(edge->port(), kHost, "/assets/About-BBH89ct8.js",
                             {pin, "Sec-Fetch-Mode: cors", "Accept: */*"});
    EXPECT_EQ(chunk.status, 200) << edge->port();
    EXPECT_EQ(chunk.body, "export default 'about 1';");
    EXPECT_EQ(versionOf(chunk), v1);
    // A file removed on purpose stays gone (v1's own pages still have it).
    std::string pin1 = "Cookie: cutover_pin=" + v1 + "." + std::to_string(std::time(nullptr));
    EXPECT_EQ(
        httpRequest(edge->port(), kHost, "/secret.txt", {pin1, "Sec-Fetch-Mode: cors"}).status,
        200);
    EXPECT_EQ(httpRequest(edge->port(), kHost, "/secret.txt", {pin, "Sec-Fetch-Mode: cors"}).status,
              404);
  }
}

TEST(ScaleOutTest, EdgesServeOnThroughAnEtcdOutageAndFollowTheNextFlip) {
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  if (!testing::EtcdCluster::installedOrSkip()) return;
  testing::EtcdCluster etcd(1);
  ScopedEnv env{{"CUTOVER_STORE", s3->uniqueUri()}, {"CUTOVER_POINTERS", etcd.uri()}};
  OutageFleet fleet;
  ASSERT_TRUE(fleet.start(3));

  auto log_before = fleet.logLines();
  etcd.kill(0);
  fleet.expectServingA(std::chrono::seconds(2), "while etcd is down");
  etcd.restart(0);
  fleet.expectServingA(std::chrono::milliseconds(300), "after etcd came back");

  auto pointers = makePointerStore(etcd.uri());
  auto start = Clock::now();
  ASSERT_TRUE(flip(*pointers, fleet.versions[1]));
  fleet.expectReachB(start, std::chrono::seconds(10), "flip after the etcd outage");
  fleet.expectFewLogLines(log_before, 10, {"unreachable", "answers again"});
}

TEST(ScaleOutTest, EdgesServeOnThroughARedisRestartThatLostEveryPointer) {
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  if (!testing::RedisServer::installedOrSkip()) return;
  testing::RedisServer redis;
  ScopedEnv env{{"CUTOVER_STORE", s3->uniqueUri()}, {"CUTOVER_POINTERS", redis.uri()}};
  OutageFleet fleet;
  ASSERT_TRUE(fleet.start(3));

  auto log_before = fleet.logLines();
  redis.stop();
  fleet.expectServingA(std::chrono::seconds(2), "while Redis is down");
  redis.restart();  // empty: live/docs is gone

  // Each edge's watch reconnects, re-lists, finds live/docs gone and says so; meanwhile and
  // afterwards it must go on serving A: a store that lost its data must not take the site down.
  auto restarted = Clock::now();
  std::vector<bool> noticed(fleet.edges.size(), false);
  while (Clock::now() - restarted < std::chrono::seconds(10) &&
         std::find(noticed.begin(), noticed.end(), false) != noticed.end()) {
    fleet.expectServingA(std::chrono::milliseconds(100), "after Redis restarted empty");
    for (std::size_t e = 0; e < fleet.edges.size(); ++e) {
      noticed[e] = fleet.edges[e]->errors().find("vanished") != std::string::npos;
    }
  }
  for (std::size_t e = 0; e < fleet.edges.size(); ++e) {
    EXPECT_TRUE(noticed[e]) << "edge " << e
                            << " did not report within 10 s that live/docs vanished from the "
                               "restarted Redis; its log:\n"
                            << fleet.edges[e]->errors();
  }
  std::printf("every edge noticed the empty Redis %.0f ms after it restarted\n",
              msSince(restarted));
  fleet.expectServingA(std::chrono::milliseconds(500), "after the edges saw Redis empty");

  // The next activation writes the pointer again (A, as it was), then flips to B.
  auto pointers = makePointerStore(redis.uri());
  ASSERT_TRUE(flip(*pointers, fleet.versions[0]));
  fleet.expectServingA(std::chrono::milliseconds(300), "after A was written again");
  auto start = Clock::now();
  ASSERT_TRUE(flip(*pointers, fleet.versions[1]));
  fleet.expectReachB(start, std::chrono::seconds(10), "flip after the Redis restart");
  fleet.expectFewLogLines(log_before, 10, {"unreachable", "answers again"});
}

// An edge reads S3 through a proxy the test can cut: what it has cached serves on, the rest
// gets a quick 503 rather than a hang, and all of it serves again once S3 is reachable.
TEST(ScaleOutTest, CutOffFromS3AnEdgeServesWhatItCachedAndAnswers503ForTheRest) {
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  TempDir dir;
  testing::TcpProxy proxy(s3->port());
  std::string store = s3->uniqueUri();
  std::string pointers = (dir / "pointers").string();  // shared by the deployer and the edge

  std::map<std::string, std::string> files{
      {"/index.html", "<!doctype html><title>cached home</title>"},
      {"/a.txt", "cached a"},
      {"/big.bin", std::string(300 * 1024, 'b')},  // larger than the memory cache holds one
      {"/uncached.txt", "never read before the outage"},
  };
  for (const auto& [path, body] : files) writeFile(dir / "site" / path.substr(1), body);
  std::string version;
  {
    ScopedEnv env{{"CUTOVER_STORE", store}, {"CUTOVER_POINTERS", pointers}};
    version = deploy(dir / "deployer", dir / "site");
    ASSERT_FALSE(version.empty());
  }
  ScopedEnv env{{"CUTOVER_STORE", throughEndpoint(store, proxy.port())},
                {"CUTOVER_POINTERS", pointers}};
  auto edge = startEdge(dir / "edge");
  for (const char* path : {"/index.html", "/a.txt", "/big.bin"}) {
    auto r = httpRequest(edge->port(), kHost, path);
    ASSERT_EQ(r.status, 200) << path << ": " << describe(r) << "\n" << edge->errors();
    ASSERT_EQ(r.body, files[path]) << path;
    ASSERT_EQ(versionOf(r), version);
  }

  proxy.cut();
  for (int round = 0; round < 2; ++round) {  // also once the edge knows S3 is away
    for (const char* path : {"/index.html", "/a.txt", "/big.bin"}) {
      auto r = httpRequest(edge->port(), kHost, path);
      EXPECT_EQ(r.status, 200) << path << " with S3 cut off: " << describe(r);
      EXPECT_EQ(r.body, files[path]) << path << " with S3 cut off";
    }
    auto start = Clock::now();
    auto r = httpRequest(edge->port(), kHost, "/uncached.txt");
    double took = msSince(start);
    EXPECT_EQ(r.status, 503) << "an uncached file with S3 cut off: " << describe(r);
    EXPECT_LT(took, 5000) << "the 503 took too long";
    std::printf("uncached file with S3 cut off (request %d): %ld after %.1f ms\n", round + 1,
                r.status, took);
    // A path the (cached) manifest does not name is the site's 404, not an outage.
    EXPECT_EQ(httpRequest(edge->port(), kHost, "/missing.txt").status, 404);
  }

  proxy.restore();
  auto restored = Clock::now();
  testing::HttpResponse r;
  while (Clock::now() - restored < std::chrono::seconds(10)) {
    r = httpRequest(edge->port(), kHost, "/uncached.txt");
    if (r.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.status, 200) << "10 s after S3 came back: " << describe(r) << "\n" << edge->errors();
  EXPECT_EQ(r.body, files["/uncached.txt"]);
  std::printf("uncached file served again %.0f ms after S3 came back\n", msSince(restored));
  std::fflush(stdout);
}

// A deploy into S3 killed part-way through its uploads leaves blobs no manifest names. Nothing
// live changes; `cutover gc` removes exactly those blobs, and the live version still serves.
TEST(ScaleOutTest, KilledDeployChangesNothingLiveAndGcRemovesItsOrphanedBlobs) {
  constexpr int kFiles = 300;
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  TempDir dir;
  std::string store = s3->uniqueUri();
  std::string pointers_uri = (dir / "pointers").string();
  ScopedEnv env{{"CUTOVER_STORE", store}, {"CUTOVER_POINTERS", pointers_uri}};
  auto objects = makeObjectStore(store);
  auto pointers = makePointerStore(pointers_uri);

  std::map<std::string, std::string> live_files{
      {"/index.html", "<!doctype html><title>build-AAAA</title>"},
      {"/app.js", "console.log('build-AAAA');"},
  };
  for (const auto& [path, body] : live_files) writeFile(dir / "live" / path.substr(1), body);
  std::string live = deploy(dir / "deployer", dir / "live");
  ASSERT_FALSE(live.empty());
  auto edge = startEdge(dir / "edge");
  std::string last;
  ASSERT_TRUE(waitForVersion(edge->port(), live, "build-AAAA", Clock::now(),
                             std::chrono::seconds(10), &last))
      << "the edge answers " << last;

  // 300 files of incompressible bytes, different in every run, so every one is a new upload.
  std::mt19937_64 random(std::random_device{}());
  for (int i = 0; i < kFiles; ++i) {
    std::string body(64 * 1024, '\0');
    for (auto& c : body) c = static_cast<char>(random());
    writeFile(dir / "big" / ("f" + std::to_string(i) + ".bin"), body);
  }
  std::size_t before = storedBlobs(*objects).size();
  // The deploy reaches S3 through a proxy that forwards its first 2 MB and then holds the rest,
  // so it is stalled a few dozen blobs into its 19 MB of uploads however fast this machine is.
  testing::TcpProxy proxy(s3->port());
  proxy.holdAfter(2 << 20);
  pid_t deployer = 0;
  {
    ScopedEnv through{{"CUTOVER_STORE", throughEndpoint(store, proxy.port())}};
    deployer = testing::spawnCutover({"--data-dir", (dir / "deployer").string(), "deploy",
                                      (dir / "big").string(), "--site", kSite});
  }
  // Once the proxy holds it and the bucket has stopped growing, kill it.
  auto started = Clock::now();
  std::size_t seen = before;
  auto grew = Clock::now();
  bool exited = false;
  int status = 0;
  while (Clock::now() - started < std::chrono::seconds(60)) {
    if (::waitpid(deployer, &status, WNOHANG) == deployer) {
      exited = true;
      break;
    }
    std::size_t now = storedBlobs(*objects).size();
    if (now != seen) {
      seen = now;
      grew = Clock::now();
    }
    if (proxy.holding() && seen > before && Clock::now() - grew > std::chrono::milliseconds(500)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!exited) {
    ::kill(deployer, SIGKILL);
    ::waitpid(deployer, &status, 0);
  }
  ASSERT_FALSE(exited) << "the deploy ended (status " << status
                       << ") before it could be interrupted";
  ASSERT_TRUE(WIFSIGNALED(status));
  std::size_t after_kill = storedBlobs(*objects).size();
  std::printf("deploy killed %.0f ms after it started, with %zu of its %d blobs in the bucket\n",
              msSince(started), after_kill - before, kFiles);
  ASSERT_GT(after_kill, before) << "the deploy was killed before it stored anything";

  // Nothing live changed: the pointer and every answer still name the live version.
  auto raw = pointers->get(liveKey(kSite));
  ASSERT_TRUE(raw && *raw);
  EXPECT_EQ(LivePointer::fromJson(**raw).value().version, live);
  auto r = httpRequest(edge->port(), kHost, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(versionOf(r), live) << "after the killed deploy";

  std::set<std::string> stored = storedBlobs(*objects);
  std::set<std::string> named = namedBlobs(*objects);
  std::vector<std::string> orphans;
  std::set_difference(stored.begin(), stored.end(), named.begin(), named.end(),
                      std::back_inserter(orphans));
  ASSERT_FALSE(orphans.empty()) << "the killed deploy left no blob that no manifest names";

  auto gc = testing::runCutover({"--data-dir", (dir / "deployer").string(), "gc"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  std::printf("gc: %s", gc.out.c_str());

  std::set<std::string> left = storedBlobs(*objects);
  for (const auto& hash : orphans) {
    EXPECT_FALSE(left.contains(hash)) << "gc left orphaned blob " << hash;
  }
  for (const auto& hash : namedBlobs(*objects)) {
    EXPECT_TRUE(left.contains(hash)) << "gc removed blob " << hash << ", which a manifest names";
  }
  auto versions = objects->listVersions(kSite);
  ASSERT_TRUE(versions);
  ASSERT_FALSE(versions->empty());
  EXPECT_EQ(versions->front().version, live);

  // The live version serves whole, from the edge that cached it and from a fresh one that has
  // to read every file from the bucket.
  auto fresh = startEdge(dir / "fresh-edge");
  for (const auto* server : {edge.get(), fresh.get()}) {
    for (const auto& [path, body] : live_files) {
      auto got = httpRequest(server->port(), kHost, path);
      EXPECT_EQ(got.status, 200) << path << ": " << describe(got);
      EXPECT_EQ(got.body, body) << path;
      EXPECT_EQ(versionOf(got), live) << path;
    }
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace cutover
