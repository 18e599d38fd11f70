// gc on a fleet: two data folders (two machines) share one S3 bucket (radosgw) and one etcd, and
// edges serve from them. A gc run from one machine must never break a deploy running on the
// other, and never a page that a tab opened on a version still loads from.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cutover/pointer/pointer_store.h"
#include "cutover/pointer/records.h"
#include "cutover/store/object_store.h"
#include "support/etcd_cluster.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/s3_server.h"
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

// Deploys with no preview link unless `extra` asks for one: these tests are about what else
// keeps a version.
std::string deploy(const std::filesystem::path& data, const std::filesystem::path& folder,
                   std::vector<std::string> extra = {"--preview-expires", "0"}) {
  std::vector<std::string> args{"--data-dir", data.string(), "deploy", folder.string(),
                                "--site",     kSite,         "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = testing::runCutover(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return "";
  return nlohmann::json::parse(r.out).value("version", "");
}

std::unique_ptr<ServerProcess> startEdge(const std::filesystem::path& data) {
  return std::make_unique<ServerProcess>(std::vector<std::string>{
      "--data-dir", data.string(), "serve", "--listen", "127.0.0.1:0", "--threads", "2"});
}

std::string liveVersion(PointerStore& pointers) {
  auto raw = pointers.get(liveKey(kSite));
  if (!raw || !*raw) return "";
  auto live = LivePointer::fromJson(**raw);
  return live ? live->version : "";
}

// Which blobs `version`'s manifest names that the store does not hold ("no manifest" if the
// version itself is gone).
std::vector<std::string> missingBlobs(ObjectStore& objects, const std::string& version) {
  auto manifest = objects.readManifest(kSite, version);
  if (!manifest) return {"no manifest: " + manifest.error().describe()};
  std::vector<std::string> hashes;
  for (const auto& [path, file] : manifest->files) {
    hashes.push_back(file.hash);
    if (file.br.present()) hashes.push_back(file.br.hash);
    if (file.gzip.present()) hashes.push_back(file.gzip.hash);
  }
  auto missing = objects.missing(hashes);
  if (!missing) return {"cannot list: " + missing.error().describe()};
  return *missing;
}

// A site of `files` files in 20 folders; files whose index is a multiple of `changed_every`
// name `tag`, the rest are the same in every round (reused blobs).
void writeBigSite(const std::filesystem::path& root, const std::string& tag, int files,
                  int changed_every) {
  std::filesystem::remove_all(root);
  writeFile(root / "index.html", "<!doctype html><title>" + tag + "</title>");
  for (int i = 0; i < files; ++i) {
    std::string body = "file " + std::to_string(i) + " of a large site";
    if (i % changed_every == 0) body += " in " + tag;
    writeFile(root / ("d" + std::to_string(i % 20)) / ("f" + std::to_string(i) + ".txt"), body);
  }
}

// Machine A deploys a large site that reuses most of the blobs already stored, three times, while
// machine B runs `gc --keep 0` over and over on the same bucket and etcd. Every version that was
// committed must stay complete until gc may take it, and the live one always: each deploy goes
// live with every file.
TEST(GcFleetTest, GcOnAnotherMachineNeverBreaksARunningDeploy) {
  constexpr int kFiles = 1500;
  constexpr int kRounds = 3;
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  if (!testing::EtcdCluster::installedOrSkip()) return;
  testing::EtcdCluster etcd(1);
  TempDir dir;
  std::string store_uri = s3->uniqueUri();
  ScopedEnv env{{"CUTOVER_STORE", store_uri}, {"CUTOVER_POINTERS", etcd.uri()}};
  auto objects = makeObjectStore(store_uri);
  auto pointers = makePointerStore(etcd.uri());

  writeBigSite(dir / "site", "round-0", kFiles, 10);
  auto first = deploy(dir / "machine-a", dir / "site");
  ASSERT_FALSE(first.empty());

  for (int round = 1; round <= kRounds; ++round) {
    std::string tag = "round-" + std::to_string(round);
    writeBigSite(dir / "site", tag, kFiles, 10);
    // gc runs back to back, so one is under way whenever the deploy is, however fast either is
    // on this machine; a run counts as overlapping if the deploy ran at its start or its end.
    std::atomic<bool> stop{false};
    std::atomic<bool> deploying{false};
    std::atomic<int> gc_runs{0};
    std::atomic<int> overlapping{0};
    std::string gc_failure;
    std::thread gc([&] {
      while (!stop) {
        bool during = deploying;
        auto r =
            testing::runCutover({"--data-dir", (dir / "machine-b").string(), "gc", "--keep", "0"});
        if (r.exit_code != 0 && gc_failure.empty()) gc_failure = r.err;
        if (during || deploying) ++overlapping;
        ++gc_runs;
      }
    });
    // The first run done, gc is warm: its next run is under way when the deploy starts.
    for (int i = 0; i < 6000 && gc_runs == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    deploying = true;
    auto version = deploy(dir / "machine-a", dir / "site");
    deploying = false;
    stop = true;
    gc.join();
    EXPECT_TRUE(gc_failure.empty()) << gc_failure;
    ASSERT_FALSE(version.empty()) << "round " << round;
    EXPECT_GE(overlapping.load(), 1) << "no gc ran during the deploy; the test proved nothing";
    ASSERT_EQ(liveVersion(*pointers), version) << "round " << round;
    auto missing = missingBlobs(*objects, version);
    ASSERT_TRUE(missing.empty()) << "round " << round << ": the live version " << version
                                 << " lacks " << missing.size() << " blobs, e.g. " << missing[0];
    // And after gc has run on with nothing else going on, still complete.
    auto after =
        testing::runCutover({"--data-dir", (dir / "machine-b").string(), "gc", "--keep", "0"});
    ASSERT_EQ(after.exit_code, 0) << after.err;
    missing = missingBlobs(*objects, version);
    ASSERT_TRUE(missing.empty()) << "round " << round << ": " << missing.size() << " missing";
  }
}

// Tabs open on two edges: gc from another machine leaves the version they were loaded from while
// it is within the pin window; once a version is deleted (versions delete, or gc with no window),
// both edges answer its pinned requests from the live version, never with a 5xx.
TEST(GcFleetTest, OpenTabsAndPreviewLinksOnTwoEdgesSurviveGcAndADeletedVersionIsNeverA5xx) {
  auto s3 = testing::S3TestService::fromEnvOrSkip();
  if (!s3) return;
  if (!testing::EtcdCluster::installedOrSkip()) return;
  testing::EtcdCluster etcd(1);
  TempDir dir;
  std::string store_uri = s3->uniqueUri();
  ScopedEnv env{{"CUTOVER_STORE", store_uri}, {"CUTOVER_POINTERS", etcd.uri()}};

  std::vector<std::string> versions;
  for (const std::string tag : {"one", "two", "three"}) {
    writeFile(dir / tag / "index.html", "<title>" + tag + "</title>");
    writeFile(dir / tag / "assets" / ("chunk-" + tag + ".js"), "chunk " + tag);
  }
  versions.push_back(deploy(dir / "deployer", dir / "one"));
  ASSERT_FALSE(versions.back().empty());
  std::vector<std::unique_ptr<ServerProcess>> edges;
  for (int e = 0; e < 2; ++e) edges.push_back(startEdge(dir / ("edge" + std::to_string(e))));
  // A tab opens on "one" at each edge: its navigation sets the pin cookie.
  std::vector<std::string> cookies;
  for (auto& edge : edges) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    testing::HttpResponse page;
    while (Clock::now() < deadline) {
      page = httpRequest(edge->port(), kHost, "/", {"Sec-Fetch-Mode: navigate"});
      if (page.status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(page.status, 200);
    auto cookie = page.headers["set-cookie"];
    ASSERT_FALSE(cookie.empty());
    cookies.push_back("Cookie: " + cookie.substr(0, cookie.find(';')));
  }
  versions.push_back(deploy(dir / "deployer", dir / "two"));
  versions.push_back(
      deploy(dir / "deployer", dir / "three"));  // "one" is neither live nor previous
  auto chunk = [&](std::size_t e) {
    return httpRequest(edges[e]->port(), kHost, "/assets/chunk-one.js",
                       {cookies[e], "Sec-Fetch-Mode: no-cors"});
  };

  auto gc = testing::runCutover({"--data-dir", (dir / "other").string(), "gc", "--keep", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  for (std::size_t e = 0; e < edges.size(); ++e) {
    auto r = chunk(e);
    EXPECT_EQ(r.status, 200) << "edge " << e << ": " << r.body;
    EXPECT_EQ(r.body, "chunk one");
  }

  // Deleted on purpose: both edges answer as if "one" had never been stored.
  auto deleted = testing::runCutover(
      {"--data-dir", (dir / "other").string(), "versions", "delete", kSite, versions[0]});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  for (std::size_t e = 0; e < edges.size(); ++e) {
    auto deadline = Clock::now() + std::chrono::seconds(5);
    testing::HttpResponse r = chunk(e);
    while (r.status == 200 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      r = chunk(e);
    }
    EXPECT_EQ(r.status, 404) << "edge " << e << ": " << r.body;
    EXPECT_EQ(r.headers["x-cutover-version"], versions[2]);
  }

  // gc with no pin window takes "two" (retired, not previous after another deploy): pinned
  // requests for it at both edges, cached on the edge or not, are never a 5xx.
  for (auto& edge : edges) {
    auto r = httpRequest(edge->port(), kHost, "/assets/chunk-two.js?dpl=" + versions[1]);
    ASSERT_EQ(r.status, 200) << r.body;  // "two" is now in each edge's memory
  }
  versions.push_back(deploy(dir / "deployer", dir / "one"));  // new id, same files as "one"
  gc = testing::runCutover(
      {"--data-dir", (dir / "other").string(), "gc", "--keep", "0", "--pin-window", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  ASSERT_NE(gc.out.find(versions[1]), std::string::npos) << gc.out;
  for (std::size_t e = 0; e < edges.size(); ++e) {
    for (const char* path : {"/assets/chunk-two.js", "/index.html", "/"}) {
      auto r = httpRequest(edges[e]->port(), kHost, std::string(path) + "?dpl=" + versions[1]);
      EXPECT_LT(r.status, 500) << "edge " << e << " " << path << ": " << r.body;
    }
  }

  // A version stored for review, its preview link sent to someone: gc keeps it while the link is
  // open, both edges answer at its preview host until the link is closed, and then gc takes it.
  auto reviewed =
      deploy(dir / "deployer", dir / "two", {"--no-activate", "--preview-expires", "1h"});
  ASSERT_FALSE(reviewed.empty());
  std::string preview_host = reviewed + "--" + kSite + ".localhost";
  gc = testing::runCutover(
      {"--data-dir", (dir / "other").string(), "gc", "--keep", "0", "--pin-window", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(gc.out.find(reviewed), std::string::npos) << gc.out;
  for (auto& edge : edges) {
    auto r = httpRequest(edge->port(), preview_host, "/assets/chunk-two.js");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "chunk two");
  }
  auto closed = testing::runCutover({"--data-dir", (dir / "other").string(), "versions", "preview",
                                     kSite, reviewed, "--expires", "0"});
  ASSERT_EQ(closed.exit_code, 0) << closed.err;
  for (std::size_t e = 0; e < edges.size(); ++e) {
    auto deadline = Clock::now() + std::chrono::seconds(5);
    auto r = httpRequest(edges[e]->port(), preview_host, "/assets/chunk-two.js");
    while (r.status == 200 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      r = httpRequest(edges[e]->port(), preview_host, "/assets/chunk-two.js");
    }
    EXPECT_EQ(r.status, 404) << "edge " << e << ": " << r.body;
  }
  gc = testing::runCutover(
      {"--data-dir", (dir / "other").string(), "gc", "--keep", "0", "--pin-window", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_NE(gc.out.find(reviewed), std::string::npos) << gc.out;
}

}  // namespace
}  // namespace cutover
