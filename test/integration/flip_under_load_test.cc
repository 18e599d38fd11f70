// The atomic-flip promise, under load: client threads load a page and then its assets (carrying
// the page's cookie, as a browser does) while the site flips between two versions 200 times.
// Every file of each version embeds a tag of that version, so a response whose body disagrees
// with its X-Cutover-Version, or a page load whose assets came from another version than its
// HTML, is caught.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::httpRequest;
using testing::TempDir;
using testing::writeFile;

constexpr int kFlips = 200;
constexpr int kClients = 4;

const char* const kAssets[] = {"/app.js", "/style.css", "/data/config.json"};

void writeVersion(const std::filesystem::path& root, const std::string& tag) {
  writeFile(
      root / "index.html",
      "<!doctype html><script src=/app.js></script><link rel=stylesheet href=/style.css>" + tag);
  writeFile(root / "app.js", "console.log('" + tag + "');");
  writeFile(root / "style.css", "body::after{content:'" + tag + "'}");
  writeFile(root / "data" / "config.json", "{\"build\":\"" + tag + "\"}");
}

struct Tally {
  std::atomic<int> page_loads{0};
  std::atomic<int> server_errors{0};
  std::atomic<int> connection_errors{0};
  std::atomic<int> body_mismatches{0};
  std::atomic<int> mixed_page_loads{0};
  std::mutex mutex;
  std::map<std::string, int> loads_by_version;
  std::vector<std::string> examples;  // the first few failures, for the message

  void note(const std::string& what) {
    std::lock_guard lock(mutex);
    if (examples.size() < 5) examples.push_back(what);
  }
};

TEST(FlipUnderLoadTest, NoErrorNoMismatchAndNoMixedPageLoadAcross200Flips) {
  TempDir dir;
  std::string data = (dir / "data").string();
  std::map<std::string, std::string> tag_of;  // version id → the tag its files embed
  std::vector<std::string> versions;
  for (std::string tag : {"build-AAAA", "build-BBBB"}) {
    writeVersion(dir / tag, tag);
    auto r = testing::runCutover(
        {"--data-dir", data, "deploy", (dir / tag).string(), "--site", "docs", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string version = nlohmann::json::parse(r.out).value("version", "");
    ASSERT_FALSE(version.empty());
    tag_of[version] = tag;
    versions.push_back(version);
  }
  testing::ServerProcess server(
      {"--data-dir", data, "serve", "--listen", "127.0.0.1:0", "--threads", "2"});

  Tally tally;
  std::atomic<bool> done{false};
  auto check = [&](const testing::HttpResponse& r, const std::string& what) -> std::string {
    if (r.status == 0) {
      tally.connection_errors++;
      tally.note(what + ": " + r.error);
      return "";
    }
    if (r.status >= 500) {
      tally.server_errors++;
      tally.note(what + ": status " + std::to_string(r.status));
      return "";
    }
    std::string version =
        r.headers.count("x-cutover-version") ? r.headers.at("x-cutover-version") : "";
    auto tag = tag_of.find(version);
    if (r.status != 200 || tag == tag_of.end() || r.body.find(tag->second) == std::string::npos) {
      tally.body_mismatches++;
      tally.note(what + ": status " + std::to_string(r.status) + ", version '" + version +
                 "', body '" + r.body.substr(0, 80) + "'");
      return "";
    }
    return version;
  };

  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      while (!done.load()) {
        auto page = httpRequest(server.port(), "docs.localhost", "/",
                                {"Sec-Fetch-Mode: navigate", "Accept: text/html"});
        std::string page_version = check(page, "page");
        if (page_version.empty()) continue;
        std::string cookie = page.headers.count("set-cookie") ? page.headers.at("set-cookie") : "";
        cookie = cookie.substr(0, cookie.find(';'));  // "cutover_pin=<version>.<time>"
        bool mixed = false;
        for (const char* asset : kAssets) {
          auto r = httpRequest(server.port(), "docs.localhost", asset,
                               {"Sec-Fetch-Mode: no-cors", "Cookie: " + cookie});
          std::string version = check(r, asset);
          if (!version.empty() && version != page_version) mixed = true;
        }
        if (mixed) {
          tally.mixed_page_loads++;
          tally.note("a page load of " + page_version + " got assets of another version");
        }
        tally.page_loads++;
        std::lock_guard lock(tally.mutex);
        tally.loads_by_version[page_version]++;
      }
    });
  }

  int flips_ok = 0;
  for (int i = 0; i < kFlips; ++i) {
    auto r = testing::runCutover(
        {"--data-dir", data, "activate", "docs", versions[static_cast<std::size_t>(i % 2)]});
    if (r.exit_code == 0) ++flips_ok;
  }
  done = true;
  for (auto& t : clients) t.join();

  std::string examples;
  for (const auto& e : tally.examples) examples += "\n  " + e;
  EXPECT_EQ(flips_ok, kFlips);
  EXPECT_EQ(tally.server_errors.load(), 0) << examples;
  EXPECT_EQ(tally.connection_errors.load(), 0) << examples;
  EXPECT_EQ(tally.body_mismatches.load(), 0) << examples;
  EXPECT_EQ(tally.mixed_page_loads.load(), 0) << examples;
  // The load really did span flips: both versions served whole page loads.
  EXPECT_GT(tally.loads_by_version[versions[0]], 0);
  EXPECT_GT(tally.loads_by_version[versions[1]], 0);
  EXPECT_GT(tally.page_loads.load(), kClients);
  std::printf("%d page loads across %d flips: %d of %s, %d of %s\n", tally.page_loads.load(),
              kFlips, tally.loads_by_version[versions[0]], versions[0].c_str(),
              tally.loads_by_version[versions[1]], versions[1].c_str());
}

}  // namespace
}  // namespace cutover
