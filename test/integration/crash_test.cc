// Kills a real `cutover deploy` with SIGKILL at many moments: the live site must keep answering
// the old version completely, no pointer may name a partial version, and gc must remove the rest.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::httpRequest;
using testing::TempDir;
using testing::writeFile;

constexpr int kFiles = 1500;

void writeBigSite(const std::filesystem::path& root, const std::string& tag) {
  std::string padding(4000, 'x');
  for (int i = 0; i < kFiles; ++i) {
    writeFile(root / ("d" + std::to_string(i % 20)) / ("f" + std::to_string(i) + ".html"),
              tag + " " + std::to_string(i) + " " + padding);
  }
  writeFile(root / "index.html", tag);
}

std::size_t countFiles(const std::filesystem::path& dir) {
  std::size_t n = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    n += e.is_regular_file() ? 1 : 0;
  return n;
}

TEST(CrashTest, KilledDeploysLeaveTheLiveSiteWholeAndGcCleansUp) {
  TempDir dir;
  std::string data = (dir / "data").string();
  writeBigSite(dir / "v1", "v1");
  writeBigSite(dir / "v2", "v2");
  auto first = testing::runCutover(
      {"--data-dir", data, "deploy", (dir / "v1").string(), "--site", "docs", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string v1 = nlohmann::json::parse(first.out)["version"];
  std::size_t v1_blobs = countFiles(dir / "data" / "objects" / "blobs");

  testing::ServerProcess server(
      {"--data-dir", data, "serve", "--listen", "127.0.0.1:0", "--threads", "2"});
  // From before the deploy has opened anything to late in storing its blobs. Kills after a delay
  // land early; kills once some of its blobs are stored land mid-way however slow the machine
  // (a sanitizer build, a loaded CI runner) makes the deploy.
  struct Kill {
    int delay_ms;
    std::size_t new_blobs;  // wait until this many more blobs are stored (0: just the delay)
  };
  const Kill kills[] = {{5, 0}, {30, 0}, {0, 1}, {0, 50}, {0, 100}, {0, 150}, {0, 200}, {0, 250}};
  int killed_mid_way = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::size_t blobs_before = countFiles(dir / "data" / "objects" / "blobs");
    pid_t pid = testing::spawnCutover(
        {"--data-dir", data, "deploy", (dir / "v2").string(), "--site", "docs"});
    std::this_thread::sleep_for(std::chrono::milliseconds(kills[attempt].delay_ms));
    int status = 0;
    bool exited = false;  // reaped already: the deploy finished before it could be killed
    if (kills[attempt].new_blobs > 0) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (std::chrono::steady_clock::now() < deadline &&
             countFiles(dir / "data" / "objects" / "blobs") <
                 blobs_before + kills[attempt].new_blobs) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          exited = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (!exited) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    if (WIFSIGNALED(status)) ++killed_mid_way;

    auto sites = testing::runCutover({"--data-dir", data, "sites", "--json"});
    ASSERT_EQ(sites.exit_code, 0) << sites.err;
    std::string live = nlohmann::json::parse(sites.out)[0]["live"];
    if (live != v1) {
      // The deploy finished before the kill: that is allowed, but then v2 must be complete.
      auto r = httpRequest(server.port(), "docs.localhost", "/");
      ASSERT_EQ(r.body, "v2");
      break;
    }
    // Every file of v1 still answers, with v1's bytes.
    for (int i = 0; i < kFiles; i += 97) {
      auto r = httpRequest(server.port(), "docs.localhost",
                           "/d" + std::to_string(i % 20) + "/f" + std::to_string(i) + ".html");
      ASSERT_EQ(r.status, 200) << "attempt " << attempt << " file " << i;
      ASSERT_EQ(r.body.rfind("v1 " + std::to_string(i) + " ", 0), 0U);
      ASSERT_EQ(r.headers["x-cutover-version"], v1);
    }
  }
  EXPECT_GT(killed_mid_way, 0) << "no deploy was killed mid-way; the test proved nothing";

  auto deploys = testing::runCutover({"--data-dir", data, "deploys", "docs"});
  EXPECT_NE(deploys.out.find("interrupted"), std::string::npos) << deploys.out;

  // Roll everything back to v1 alone; gc then leaves exactly v1's blobs and no temp files.
  auto sites = testing::runCutover({"--data-dir", data, "sites", "--json"});
  if (nlohmann::json::parse(sites.out)[0]["live"] != v1) {
    ASSERT_EQ(testing::runCutover({"--data-dir", data, "activate", "docs", v1}).exit_code, 0);
    ASSERT_EQ(testing::runCutover({"--data-dir", data, "activate", "docs", v1}).exit_code, 0);
  }
  auto gc = testing::runCutover({"--data-dir", data, "gc", "--keep", "0", "--pin-window", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(countFiles(dir / "data" / "objects" / "blobs"), v1_blobs) << gc.out;
  EXPECT_EQ(countFiles(dir / "data" / "objects" / "tmp"), 0U);
  EXPECT_EQ(httpRequest(server.port(), "docs.localhost", "/").body, "v1");
}

}  // namespace
}  // namespace cutover
