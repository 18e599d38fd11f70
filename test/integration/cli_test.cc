// Runs the real cutover binary in a temp data folder and talks HTTP to a real `cutover serve`.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "unit/edge/http_client.h"

namespace cutover {
namespace {

using testing::httpRequest;
using testing::HttpResponse;
using testing::RunResult;
using testing::TempDir;
using testing::writeFile;

void writeSite(const std::filesystem::path& root, const std::string& tag) {
  writeFile(root / "index.html", "<h1>" + tag + "</h1>");
  writeFile(root / "about.html", "about " + tag);
  writeFile(root / "guide" / "index.html", "guide " + tag);
  writeFile(root / "404.html", "not found in " + tag);
  writeFile(root / "assets" / "app.js", "console.log('" + tag + "');");
}

class CliTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string data_ = (dir_ / "data").string();

  RunResult cutover(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_});
    return testing::runCutover(args);
  }
  std::string deployOk(const std::string& source, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"deploy", source, "--site", "docs", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = cutover(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return "";
    return j.value("version", "");
  }
  std::unique_ptr<testing::ServerProcess> serve() {
    return std::make_unique<testing::ServerProcess>(std::vector<std::string>{
        "--data-dir", data_, "serve", "--listen", "127.0.0.1:0", "--threads", "2"});
  }
  // Polls until the site answers `/` with `body`, for up to 20 s (a loaded machine is slow).
  static bool waitForBody(std::uint16_t port, const std::string& body) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (httpRequest(port, "docs.localhost", "/").body == body) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
};

TEST_F(CliTest, DeployServeFlipRollbackActivate) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  writeSite(dir_ / "v3", "v3");
  std::string v1 = deployOk((dir_ / "v1").string());
  ASSERT_FALSE(v1.empty());
  auto server = serve();

  auto first = httpRequest(server->port(), "docs.localhost", "/");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "<h1>v1</h1>");
  EXPECT_EQ(first.headers["x-cutover-version"], v1);
  EXPECT_EQ(first.headers["content-type"], "text/html; charset=utf-8");

  // A deploy from another process is served without a restart.
  std::string v2 = deployOk((dir_ / "v2").string());
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v2</h1>"));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/about").body, "about v2");

  auto back = cutover({"rollback", "docs"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_NE(back.out.find(v1), std::string::npos);
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v1</h1>"));

  std::string v3 = deployOk((dir_ / "v3").string(), {"--no-activate"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v1</h1>");
  auto activated = cutover({"activate", "docs", v3});
  ASSERT_EQ(activated.exit_code, 0) << activated.err;
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v3</h1>"));

  auto versions = cutover({"versions", "docs"});
  ASSERT_EQ(versions.exit_code, 0);
  for (const auto& v : {v1, v2, v3}) EXPECT_NE(versions.out.find(v), std::string::npos);
  EXPECT_NE(versions.out.find("* live     " + v3), std::string::npos) << versions.out;
}

// A version that leaked a file must be gone at once: previews, ?dpl= and pins stop reaching it,
// and the edge answers as if it had never been stored. The live version cannot be deleted.
TEST_F(CliTest, VersionsDeleteTakesAVersionAwayAtOnce) {
  writeSite(dir_ / "v1", "v1");
  writeFile(dir_ / "v1" / "leaked.txt", "the database password");
  writeSite(dir_ / "v2", "v2");
  std::string v1 = deployOk((dir_ / "v1").string());
  std::string v2 = deployOk((dir_ / "v2").string());
  ASSERT_FALSE(v1.empty());
  ASSERT_FALSE(v2.empty());
  auto server = serve();
  auto preview = v1 + "--docs.localhost";
  // The edge holds v1 in memory, and the leaked file in its file cache.
  ASSERT_EQ(httpRequest(server->port(), preview, "/leaked.txt").status, 200);
  ASSERT_EQ(httpRequest(server->port(), "docs.localhost", "/leaked.txt?dpl=" + v1).status, 200);

  auto refused = cutover({"versions", "delete", "docs", v2});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("is live"), std::string::npos) << refused.err;
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v2</h1>");

  auto deleted = cutover({"versions", "delete", "docs", v1});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline &&
         httpRequest(server->port(), preview, "/leaked.txt").status != 404) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(httpRequest(server->port(), preview, "/leaked.txt").status, 404);
  auto pinned = httpRequest(server->port(), "docs.localhost", "/leaked.txt?dpl=" + v1);
  EXPECT_EQ(pinned.status, 404) << pinned.body;
  EXPECT_EQ(pinned.headers["x-cutover-version"], v2);
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/?dpl=" + v1).body, "<h1>v2</h1>");
  EXPECT_EQ(cutover({"versions", "docs"}).out.find(v1), std::string::npos);
  auto rollback = cutover({"rollback", "docs"});
  EXPECT_NE(rollback.exit_code, 0);  // nothing to return to
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v2</h1>");
}

// `site set --protect previews`, `previews link` and `previews bypass` as a user runs them: the
// preview host refuses until the printed link is opened (which leaves a cookie) or the printed
// bypass secret is sent; the site's own host stays public.
TEST_F(CliTest, AProtectedPreviewOpensWithThePrintedLinkOrBypassSecret) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  auto staged =
      cutover({"deploy", (dir_ / "v1").string(), "--site", "docs", "--no-activate", "--json"});
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  std::string v1 = nlohmann::json::parse(staged.out).value("version", "");
  deployOk((dir_ / "v2").string());
  auto server = serve();
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v2</h1>"));
  auto unprotected = cutover({"previews", "link", "docs", v1});
  EXPECT_NE(unprotected.exit_code, 0);
  EXPECT_NE(unprotected.err.find("--protect previews"), std::string::npos) << unprotected.err;

  auto set = cutover({"site", "set", "docs", "--protect", "previews"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(set.out.find("protected: previews"), std::string::npos) << set.out;
  const std::string host = v1 + "--docs.localhost";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline &&
         httpRequest(server->port(), host, "/").status != 403) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(httpRequest(server->port(), host, "/").status, 403);
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v2</h1>");

  auto link = cutover({"previews", "link", "docs", v1, "--for", "1h"});
  ASSERT_EQ(link.exit_code, 0) << link.err;
  auto at = link.out.find("/?cutover_share=");
  ASSERT_NE(at, std::string::npos) << link.out;
  EXPECT_EQ(link.out.substr(0, at), v1 + "--docs.<preview domain>");
  std::string target = link.out.substr(at, link.out.find('\n') - at);
  auto opened = httpRequest(server->port(), host, target);
  EXPECT_EQ(opened.status, 303) << opened.body;
  EXPECT_EQ(opened.headers["location"], "/");
  std::string cookie =
      opened.headers["set-cookie"].substr(0, opened.headers["set-cookie"].find(';'));
  auto page = httpRequest(server->port(), host, "/", {"Cookie: " + cookie});
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "<h1>v1</h1>");

  auto bypass = cutover({"previews", "bypass", "docs"});
  ASSERT_EQ(bypass.exit_code, 0) << bypass.err;
  std::string secret = bypass.out.substr(0, bypass.out.find('\n'));
  EXPECT_EQ(httpRequest(server->port(), host, "/", {"X-Cutover-Bypass: " + secret}).status, 200);
  EXPECT_EQ(httpRequest(server->port(), host, "/", {"X-Cutover-Bypass: nope"}).status, 403);
}

// `cutover schedule`: the running server flips the pointer when the time comes, within a
// second, and records it; a cancelled one never happens; bad times are refused.
TEST_F(CliTest, AScheduledActivationHappensOnTimeAndACancelledOneNever) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  writeSite(dir_ / "v3", "v3");
  std::string v1 = deployOk((dir_ / "v1").string());
  // No preview link: only the schedule keeps v2 from gc below.
  std::string v2 = deployOk((dir_ / "v2").string(), {"--no-activate", "--preview-expires", "0"});
  std::string v3 = deployOk((dir_ / "v3").string(), {"--no-activate", "--preview-expires", "0"});
  auto server = serve();
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v1</h1>"));

  auto past = cutover({"schedule", "docs", v2, "2020-01-01T00:00:00Z"});
  EXPECT_NE(past.exit_code, 0);
  EXPECT_NE(past.err.find("in the past"), std::string::npos) << past.err;
  auto garbled = cutover({"schedule", "docs", v2, "tomorrowish"});
  EXPECT_NE(garbled.exit_code, 0);
  EXPECT_NE(garbled.err.find("neither a UTC time"), std::string::npos) << garbled.err;
  auto unknown = cutover({"schedule", "docs", "20200101-000000-abcdef", "1m"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("has no version"), std::string::npos) << unknown.err;

  // Cancelled: it never goes live.
  ASSERT_EQ(cutover({"schedule", "docs", v3, "1s"}).exit_code, 0);
  auto cancelled = cutover({"schedule", "cancel", "docs"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_NE(cancelled.out.find(v3), std::string::npos) << cancelled.out;
  EXPECT_NE(cutover({"schedule", "cancel", "docs"}).exit_code, 0);  // nothing left to cancel

  auto scheduled = cutover({"schedule", "docs", v2, "2s"});
  ASSERT_EQ(scheduled.exit_code, 0) << scheduled.err;
  // "V goes live on docs at 2026-12-06T03:40:02Z (in 2s)": the time it is due.
  std::tm due{};
  auto at_text = scheduled.out.find(" at ");
  ASSERT_NE(at_text, std::string::npos) << scheduled.out;
  ASSERT_NE(strptime(scheduled.out.c_str() + at_text + 4, "%Y-%m-%dT%H:%M:%SZ", &due), nullptr)
      << scheduled.out;
  auto at = std::chrono::system_clock::from_time_t(timegm(&due));
  EXPECT_NE(cutover({"schedule", "list"}).out.find(v2), std::string::npos);
  // `gc` keeps what is scheduled, even with nothing else to keep it.
  auto gc = cutover({"gc", "--keep", "0", "--pin-window", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_NE(gc.out.find("removed version docs/" + v3), std::string::npos) << gc.out;  // unkept
  EXPECT_EQ(gc.out.find(v2), std::string::npos) << gc.out;
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v2</h1>"));
  auto flipped = std::chrono::system_clock::now();
  // Due at a whole second; the server looks every 200 ms (the margin is for a loaded machine).
  EXPECT_GE(flipped, at);
  EXPECT_LE(flipped, at + std::chrono::milliseconds(2500));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v2</h1>");
  EXPECT_TRUE(cutover({"schedule", "list"}).out.empty());
  auto shown = nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out);
  EXPECT_EQ(shown[0]["trigger"], "schedule") << shown.dump();
  EXPECT_EQ(shown[0]["version"], v2);
}

TEST_F(CliTest, APreviewLinkOpensWithTheDeployAndIsRenewedOrClosedByVersionsPreview) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  writeSite(dir_ / "v3", "v3");
  auto staged = cutover({"deploy", (dir_ / "v1").string(), "--site", "docs", "--no-activate",
                         "--preview-expires", "2h", "--json"});
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  auto report = nlohmann::json::parse(staged.out);
  std::string v1 = report.value("version", "");
  EXPECT_FALSE(report.value("preview_until", "").empty()) << staged.out;
  std::string v2 = deployOk((dir_ / "v2").string(), {"--preview-expires", "0"});
  std::string v3 = deployOk((dir_ / "v3").string());
  auto server = serve();
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v3</h1>"));

  // v1 was never live but its link is open; v2's deploy opened none and it is no longer live.
  EXPECT_EQ(httpRequest(server->port(), v1 + "--docs.localhost", "/").body, "<h1>v1</h1>");
  auto closed = httpRequest(server->port(), v2 + "--docs.localhost", "/");
  EXPECT_EQ(closed.status, 404);
  EXPECT_NE(closed.body.find("no open preview"), std::string::npos) << closed.body;

  auto opened = cutover({"versions", "preview", "docs", v2, "--expires", "30m"});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  EXPECT_NE(opened.out.find("open until"), std::string::npos) << opened.out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline &&
         httpRequest(server->port(), v2 + "--docs.localhost", "/").status != 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(httpRequest(server->port(), v2 + "--docs.localhost", "/").body, "<h1>v2</h1>");

  ASSERT_EQ(cutover({"versions", "preview", "docs", v1, "--expires", "0"}).exit_code, 0);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline &&
         httpRequest(server->port(), v1 + "--docs.localhost", "/").status != 404) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(httpRequest(server->port(), v1 + "--docs.localhost", "/").status, 404);
  // The live version answers at its preview host whatever its link says.
  EXPECT_EQ(httpRequest(server->port(), v3 + "--docs.localhost", "/").body, "<h1>v3</h1>");

  auto unknown = cutover({"versions", "preview", "docs", "20200101-000000-abcdef"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("has no version"), std::string::npos) << unknown.err;
  auto bad = cutover({"versions", "preview", "docs", v2, "--expires", "forever"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--expires 'forever'"), std::string::npos) << bad.err;
  auto too_long =
      cutover({"deploy", (dir_ / "v1").string(), "--site", "docs", "--preview-expires", "400d"});
  EXPECT_NE(too_long.exit_code, 0);
  EXPECT_NE(too_long.err.find("at most 366d"), std::string::npos) << too_long.err;
}

// The release controls a user reaches for after a bad deploy: a rollback holds (it locks the
// site's deploys), `lock`/`unlock` by hand, and `deploys` shows what a lock kept from going live.
TEST_F(CliTest, ARollbackHoldsAcrossTheNextDeployUntilUnlock) {
  for (auto tag : {"v1", "v2", "v3", "v4"}) writeSite(dir_ / tag, tag);
  deployOk((dir_ / "v1").string());
  deployOk((dir_ / "v2").string());
  auto server = serve();
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v2</h1>"));

  auto back = cutover({"rollback", "docs"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_NE(back.out.find("deploys of docs are locked"), std::string::npos) << back.out;
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v1</h1>"));
  // The next deploy (a push, say) is stored but does not undo the rollback.
  auto held = cutover({"deploy", (dir_ / "v3").string(), "--site", "docs", "--json"});
  ASSERT_EQ(held.exit_code, 0) << held.err;
  auto report = nlohmann::json::parse(held.out);
  EXPECT_FALSE(report.value("activated", true));
  EXPECT_NE(report.value("locked", "").find("rollback"), std::string::npos) << held.out;
  EXPECT_NE(report["warnings"].dump().find("cutover unlock docs"), std::string::npos) << held.out;
  std::string v3 = report.value("version", "");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v1</h1>");
  auto history = cutover({"deploys", "docs"});
  EXPECT_NE(history.out.find("locked"), std::string::npos) << history.out;
  auto sites = cutover({"sites"});
  EXPECT_NE(sites.out.find("locked    locked by the rollback"), std::string::npos) << sites.out;
  auto trail = nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out);
  ASSERT_GE(trail.size(), 4U);
  EXPECT_EQ(trail[0]["version"], v3);
  EXPECT_EQ(trail[0]["locked"], true);

  ASSERT_EQ(cutover({"unlock", "docs"}).exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out)[0]["trigger"],
            "unlock");
  deployOk((dir_ / "v4").string());
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v4</h1>"));

  // A rollback with --no-lock leaves deploys free (back to v1: v3 was never live); a lock by hand
  // says why.
  ASSERT_EQ(cutover({"rollback", "docs", "--no-lock"}).exit_code, 0);
  ASSERT_TRUE(waitForBody(server->port(), "<h1>v1</h1>"));
  auto locked = cutover({"lock", "docs", "--reason", "launch freeze"});
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  auto stored = cutover({"deploy", (dir_ / "v2").string(), "--site", "docs"});
  EXPECT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_NE(stored.out.find("launch freeze"), std::string::npos) << stored.out;
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v1</h1>");
  auto nothing = cutover({"lock", "blog"});
  EXPECT_NE(nothing.exit_code, 0);
  EXPECT_NE(nothing.err.find("no live version"), std::string::npos) << nothing.err;
}

TEST_F(CliTest, CacheClearEmptiesOneSitesBuildCacheAndNothingElse) {
  writeSite(dir_ / "v1", "v1");
  deployOk((dir_ / "v1").string());
  auto cache = std::filesystem::path(data_) / "build-cache";
  writeFile(cache / "docs" / "npm" / "_cacache" / "index", "packages");
  writeFile(cache / "blog" / "pip" / "wheel", "packages");
  auto cleared = cutover({"cache", "clear", "docs"});
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_NE(cleared.out.find("cleared the build cache of docs"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(cache / "docs"));
  EXPECT_TRUE(std::filesystem::exists(cache / "blog" / "pip" / "wheel"));
  // A name that is not a site's reaches nothing outside the cache.
  for (const char* bad : {"..", "../..", "blog/pip", ""}) {
    auto refused = cutover({"cache", "clear", bad});
    EXPECT_NE(refused.exit_code, 0) << bad;
  }
  EXPECT_TRUE(std::filesystem::exists(cache / "blog" / "pip" / "wheel"));
  EXPECT_EQ(cutover({"versions", "docs"}).exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(data_) / "objects"));
}

TEST_F(CliTest, DeployJsonReportsCountsOfNewAndReusedFiles) {
  writeSite(dir_ / "site", "v1");
  auto first = cutover({"deploy", (dir_ / "site").string(), "--site", "docs", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto j1 = nlohmann::json::parse(first.out);
  EXPECT_EQ(j1["site"], "docs");
  EXPECT_EQ(j1["activated"], true);
  EXPECT_EQ(j1["files"], 5);
  EXPECT_EQ(j1["new_files"], 5);
  writeFile(dir_ / "site" / "about.html", "about v2");
  auto second = cutover({"deploy", (dir_ / "site").string(), "--site", "docs", "--json"});
  auto j2 = nlohmann::json::parse(second.out);
  EXPECT_EQ(j2["new_files"], 1);
  EXPECT_EQ(j2["reused_files"], 4);
  EXPECT_EQ(j2["previous"], j1["version"]);
}

TEST_F(CliTest, AChangedFileUnderAnImmutableNameIsAWarningAndServedShort) {
  // A Vite name whose content changed without a new name: the live version served it as
  // immutable, so browsers would keep the old bytes for a year.
  writeSite(dir_ / "site", "v1");
  writeFile(dir_ / "site" / "assets" / "index-DqTC_HVI.js", "console.log(1)");
  deployOk((dir_ / "site").string());
  auto server = serve();
  auto first = httpRequest(server->port(), "docs.localhost", "/assets/index-DqTC_HVI.js");
  EXPECT_EQ(first.headers["cache-control"], "public, max-age=31536000, immutable");

  writeFile(dir_ / "site" / "assets" / "index-DqTC_HVI.js", "console.log(2)");
  auto json = cutover({"deploy", (dir_ / "site").string(), "--site", "docs", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto j = nlohmann::json::parse(json.out);
  ASSERT_EQ(j["warnings"].size(), 1U) << json.out;
  EXPECT_NE(j["warnings"][0].get<std::string>().find("assets/index-DqTC_HVI.js"),
            std::string::npos);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  HttpResponse second;
  while (
      (second = httpRequest(server->port(), "docs.localhost", "/assets/index-DqTC_HVI.js")).body !=
          "console.log(2)" &&
      std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(second.body, "console.log(2)");
  EXPECT_EQ(second.headers["cache-control"], "public, max-age=60");

  // The text report names the path too.
  writeFile(dir_ / "site" / "assets" / "Home-DRjBlKSy.js", "a");
  deployOk((dir_ / "site").string());
  writeFile(dir_ / "site" / "assets" / "Home-DRjBlKSy.js", "b");
  auto text = cutover({"deploy", (dir_ / "site").string(), "--site", "docs"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.err.find("warning: assets/Home-DRjBlKSy.js"), std::string::npos) << text.err;
}

TEST_F(CliTest, ServesIndexCleanUrlsRedirectsAnd404Page) {
  writeSite(dir_ / "v1", "v1");
  deployOk((dir_ / "v1").string());
  auto server = serve();
  auto port = server->port();
  EXPECT_EQ(httpRequest(port, "docs.localhost", "/guide/").body, "guide v1");
  EXPECT_EQ(httpRequest(port, "docs.localhost", "/about").body, "about v1");
  auto redirect = httpRequest(port, "docs.localhost", "/guide?x=1");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.headers["location"], "/guide/?x=1");
  auto missing = httpRequest(port, "docs.localhost", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "not found in v1");
  auto js = httpRequest(port, "DOCS.localhost:1234", "/assets/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  auto etag = js.headers["etag"];
  ASSERT_FALSE(etag.empty());
  auto cached = httpRequest(port, "docs.localhost", "/assets/app.js", {"If-None-Match: " + etag});
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());
  auto head = httpRequest(port, "docs.localhost", "/", {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], "11");
  auto unknown = httpRequest(port, "nosuchsite.localhost", "/");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(unknown.headers["x-cutover-version"].empty());
}

TEST_F(CliTest, ConfiguredHostNamesReachTheSite) {
  writeSite(dir_ / "v1", "v1");
  deployOk((dir_ / "v1").string());
  auto server = serve();
  EXPECT_EQ(httpRequest(server->port(), "docs.example.com", "/").status, 404);
  auto set = cutover({"site", "set", "docs", "--host", "Docs.Example.com"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  HttpResponse r;
  while (std::chrono::steady_clock::now() < deadline) {
    r = httpRequest(server->port(), "docs.example.com", "/");
    if (r.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(r.body, "<h1>v1</h1>");
  auto sites = cutover({"sites", "--json"});
  auto j = nlohmann::json::parse(sites.out);
  ASSERT_EQ(j.size(), 1U);
  EXPECT_EQ(j[0]["hosts"][0], "docs.example.com");
}

TEST_F(CliTest, TraversalAttemptsGetNothingOutsideTheVersion) {
  writeSite(dir_ / "v1", "v1");
  writeFile(dir_ / "secret.txt", "SECRET");
  deployOk((dir_ / "v1").string());
  auto server = serve();
  for (const char* target :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/.%2e/secret.txt",
        "/guide/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
        "/..\\secret.txt", "/%5c..%5csecret.txt", "/index.html%00.js", "/%00",
        "/guide/..%5c..%5csecret.txt", "/%252e%252e/secret.txt", "/%zz", "//../secret.txt",
        "/./../secret.txt"}) {
    auto r = httpRequest(server->port(), "docs.localhost", target);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << " → " << r.status;
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << target;
  }
  // The server is still healthy afterwards.
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v1</h1>");
}

TEST_F(CliTest, ArchivesDeployAndHostileOnesChangeNothing) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "zipped", "zipped");
  writeSite(dir_ / "tarred", "tarred");
  std::string v1 = deployOk((dir_ / "v1").string());
  auto server = serve();
  ASSERT_EQ(std::system(("cd " + (dir_ / "zipped").string() + " && zip -qr ../site.zip .").c_str()),
            0);
  ASSERT_EQ(std::system(("tar -czf " + (dir_ / "site.tgz").string() + " -C " +
                         (dir_ / "tarred").string() + " .")
                            .c_str()),
            0);

  deployOk((dir_ / "site.zip").string());
  ASSERT_TRUE(waitForBody(server->port(), "<h1>zipped</h1>"));
  deployOk((dir_ / "site.tgz").string());
  ASSERT_TRUE(waitForBody(server->port(), "<h1>tarred</h1>"));
  std::string live =
      httpRequest(server->port(), "docs.localhost", "/").headers["x-cutover-version"];

  // A truncated zip, a file that is no archive, and a tar that climbs out of its folder.
  auto zip = testing::readFile(dir_ / "site.zip");
  writeFile(dir_ / "cut.zip", zip.substr(0, zip.size() / 2));
  writeFile(dir_ / "junk.tar.gz", "this is not an archive at all");
  writeFile(dir_ / "evil" / "x.html", "evil");
  ASSERT_EQ(std::system(("tar -cf " + (dir_ / "evil.tar").string() + " -C " +
                         (dir_ / "evil").string() + " -P --transform 's,^,../,' x.html 2>/dev/null")
                            .c_str()),
            0);
  for (const char* bad : {"cut.zip", "junk.tar.gz", "evil.tar"}) {
    auto r = cutover({"deploy", (dir_ / bad).string(), "--site", "docs"});
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_FALSE(r.err.empty()) << bad;
    EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").headers["x-cutover-version"], live)
        << bad;
  }
  auto deploys = cutover({"deploys", "docs"});
  EXPECT_NE(deploys.out.find("failed"), std::string::npos);
}

// A file name that is not UTF-8 cannot go into a manifest (JSON): the deploy is refused with
// status 1 and a message naming the file escaped, from a folder and from a tar, and nothing live
// changes.
TEST_F(CliTest, ANameThatIsNotUtf8IsRefusedNamingItAndChangesNothing) {
  writeSite(dir_ / "v1", "v1");
  std::string v1 = deployOk((dir_ / "v1").string());
  writeSite(dir_ / "bad", "bad");
  writeFile(dir_ / "bad" / "d" / "caf\xe9.html", "latin-1 name");
  ASSERT_EQ(std::system(
                ("tar -cf " + (dir_ / "bad.tar").string() + " -C " + (dir_ / "bad").string() + " .")
                    .c_str()),
            0);
  for (const char* source : {"bad", "bad.tar"}) {
    auto r = cutover({"deploy", (dir_ / source).string(), "--site", "docs"});
    EXPECT_EQ(r.exit_code, 1) << source << ": " << r.err;
    EXPECT_NE(r.err.find("d/caf\\xE9.html"), std::string::npos) << source << ": " << r.err;
    EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << source << ": " << r.err;
  }
  auto versions = cutover({"versions", "docs", "--json"});
  EXPECT_EQ(versions.exit_code, 0) << versions.err;
  auto list = nlohmann::json::parse(versions.out, nullptr, false);
  ASSERT_TRUE(list.is_array()) << versions.out;
  EXPECT_EQ(list.size(), 1U) << versions.out;
  EXPECT_NE(versions.out.find(v1), std::string::npos);
  // The failed deploys are recorded with their message, and the history still reads.
  auto deploys = cutover({"deploys", "docs", "--json"});
  EXPECT_EQ(deploys.exit_code, 0) << deploys.err;
  EXPECT_NE(deploys.out.find("xE9"), std::string::npos) << deploys.out;
}

TEST_F(CliTest, ConcurrentDeployProcessesNeverLoseAnUpdate) {
  writeSite(dir_ / "a", "a");
  writeSite(dir_ / "b", "b");
  deployOk((dir_ / "a").string());
  // Two deploys started together usually overlap; on a loaded machine one may finish before the
  // other starts, so rounds go on (up to 40) until one has overlapped.
  constexpr int kMinRounds = 5;
  int rounds = 0, wins = 0, conflicts = 0;
  std::set<std::string> flipped_from;  // a lost update is two flips from the same live version
  for (; rounds < 40 && (rounds < kMinRounds || conflicts == 0); ++rounds) {
    RunResult results[2];
    auto run = [&](int i, const char* folder) {
      results[i] = cutover({"deploy", (dir_ / folder).string(), "--site", "docs", "--json"});
    };
    std::thread t1(run, 0, "a");
    std::thread t2(run, 1, "b");
    t1.join();
    t2.join();
    for (auto& r : results) {
      if (r.exit_code == 0) {
        ++wins;
        auto j = nlohmann::json::parse(r.out);
        EXPECT_TRUE(flipped_from.insert(j["previous"].get<std::string>()).second)
            << "two deploys both flipped from " << j["previous"] << ": one update was lost";
      } else {
        EXPECT_EQ(r.exit_code, 3) << r.err;
        EXPECT_NE(r.err.find("was changed by another deploy"), std::string::npos) << r.err;
        ++conflicts;
      }
    }
  }
  EXPECT_GE(wins, rounds);
  // Had the flip been an
  // unconditional write, no deploy would ever see a conflict and one update would silently
  // replace the other. (ConcurrentDeploysOfOneSiteNeverLoseAnUpdate pins the exact interleaving.)
  EXPECT_GE(conflicts, 1) << "no round saw a conflict";
  EXPECT_EQ(wins + conflicts, 2 * rounds);
  auto versions = cutover({"versions", "docs", "--json"});
  EXPECT_EQ(nlohmann::json::parse(versions.out).size(), 2U * static_cast<unsigned>(rounds) + 1);
}

TEST_F(CliTest, EveryCommandExplainsItselfWithAnExample) {
  for (const char* command : {"deploy", "serve", "versions", "rollback", "activate", "gc", "sites",
                              "status", "deploys", "pipeline", "logs", "init", "doctor"}) {
    auto r = testing::runCutover({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << command << ":\n" << r.out;
  }
  auto bad = cutover({"deploy"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("source"), std::string::npos) << bad.err;
}

// Run from another folder without --config or --data-dir, a command uses the config in the
// usual places (./cutover.toml, $CUTOVER_CONFIG) and so the data folder `cutover serve` uses;
// with none it says that it made a new, empty data folder instead of deploying there silently.
TEST_F(CliTest, ACommandFindsTheConfigOrSaysItMadeANewDataFolder) {
  auto project = dir_ / "project";
  writeSite(project / "public", "found");
  writeFile(project / "cutover.toml", "data_dir = \"served\"\n");
  auto served = (project / "served").string();

  auto in_project = testing::runCutover({"deploy", "public", "--site", "docs"}, {project, {}});
  EXPECT_EQ(in_project.exit_code, 0) << in_project.err;
  EXPECT_NE(in_project.out.find("under cutover serve of " + served), std::string::npos)
      << in_project.out;
  EXPECT_NE(in_project.err.find("created a new data folder " + served), std::string::npos)
      << in_project.err;
  EXPECT_EQ(in_project.err.find("no cutover.toml found"), std::string::npos) << in_project.err;
  EXPECT_FALSE(std::filesystem::exists(project / "cutover-data"));
  auto listed = testing::runCutover({"--data-dir", served, "versions", "docs", "--json"});
  EXPECT_EQ(nlohmann::json::parse(listed.out, nullptr, false).size(), 1U) << listed.out;

  auto elsewhere = dir_ / "elsewhere";
  std::filesystem::create_directories(elsewhere);
  auto with_env =
      testing::runCutover({"deploy", (project / "public").string(), "--site", "docs"},
                          {elsewhere, {{"CUTOVER_CONFIG", (project / "cutover.toml").string()}}});
  EXPECT_EQ(with_env.exit_code, 0) << with_env.err;
  EXPECT_EQ(with_env.err.find("created a new data folder"), std::string::npos) << with_env.err;
  EXPECT_FALSE(std::filesystem::exists(elsewhere / "cutover-data"));
  listed = testing::runCutover({"--data-dir", served, "versions", "docs", "--json"});
  EXPECT_EQ(nlohmann::json::parse(listed.out, nullptr, false).size(), 2U) << listed.out;

  if (std::filesystem::exists("/etc/cutover/cutover.toml")) GTEST_SKIP() << "a system config";
  auto fresh = testing::runCutover({"deploy", (project / "public").string(), "--site", "docs"},
                                   {elsewhere, {{"CUTOVER_CONFIG", ""}, {"CUTOVER_DATA", ""}}});
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_NE(fresh.err.find("created a new data folder ./cutover-data (no cutover.toml found in "
                           "./, $CUTOVER_CONFIG or /etc/cutover/cutover.toml)"),
            std::string::npos)
      << fresh.err;
  EXPECT_TRUE(std::filesystem::exists(elsewhere / "cutover-data"));
  auto again = testing::runCutover({"deploy", (project / "public").string(), "--site", "docs"},
                                   {elsewhere, {{"CUTOVER_CONFIG", ""}, {"CUTOVER_DATA", ""}}});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err.find("created a new data folder"), std::string::npos) << again.err;
}

// Reads the status `host` answers `/` with until it is `status`, for up to 20 s.
int waitForStatus(std::uint16_t port, const std::string& host, int status) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int seen = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    seen = httpRequest(port, host, "/").status;
    if (seen == status) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return seen;
}

// The edge's connection bounds can be set in cutover.toml: with [serve]
// max_connections_per_client = 2, a third connection from one address gets 503 while another
// address is still served.
TEST_F(CliTest, TheConfigBoundsConnectionsPerClient) {
  auto config = (dir_ / "cutover.toml").string();
  writeFile(config, "data_dir = \"data\"\n[serve]\nmax_connections_per_client = 2\n[sites.docs]\n");
  writeSite(dir_ / "v1", "v1");
  auto deployed =
      testing::runCutover({"--config", config, "deploy", (dir_ / "v1").string(), "--site", "docs"});
  ASSERT_EQ(deployed.exit_code, 0) << deployed.err;
  testing::ServerProcess server(
      {"--config", config, "serve", "--listen", "127.0.0.1:0", "--api-listen", "off"});
  std::vector<std::unique_ptr<testing::HttpClient>> mine;
  for (int i = 0; i < 2; ++i) {
    mine.push_back(std::make_unique<testing::HttpClient>(server.port(), 0, "127.0.0.2"));
    ASSERT_EQ(mine.back()->get("/").status, 200);
  }
  testing::HttpClient third(server.port(), 0, "127.0.0.2");
  EXPECT_EQ(third.read().status, 503);
  testing::HttpClient someone_else(server.port(), 0, "127.0.0.3");
  EXPECT_EQ(someone_else.get("/").status, 200);

  writeFile(dir_ / "bad.toml", "[serve]\nmax_connections = 0\n");
  auto bad = testing::runCutover({"--config", (dir_ / "bad.toml").string(), "sites"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("serve.max_connections"), std::string::npos) << bad.err;
}

// An edited cutover.toml takes effect on `cutover reload` or SIGHUP without a restart; a broken
// one leaves the running config serving, and both the reload and the server's log say why.
TEST_F(CliTest, ReloadTakesTheEditedConfigAndABrokenOneChangesNothing) {
  auto config = (dir_ / "cutover.toml").string();
  auto writeConfig = [&](const std::string& host) {
    writeFile(config, "data_dir = \"data\"\n[sites.docs]\nhosts = [\"" + host + "\"]\n");
  };
  writeConfig("one.example");
  writeSite(dir_ / "v1", "v1");
  auto deployed =
      testing::runCutover({"--config", config, "deploy", (dir_ / "v1").string(), "--site", "docs"});
  ASSERT_EQ(deployed.exit_code, 0) << deployed.err;
  testing::ServerProcess server(
      {"--config", config, "serve", "--listen", "127.0.0.1:0", "--api-listen", "off"});
  EXPECT_EQ(waitForStatus(server.port(), "one.example", 200), 200);
  EXPECT_EQ(httpRequest(server.port(), "two.example", "/").status, 404);

  writeConfig("two.example");
  auto reloaded = testing::runCutover({"--config", config, "reload"});
  EXPECT_EQ(reloaded.exit_code, 0) << reloaded.out << reloaded.err;
  EXPECT_NE(reloaded.out.find("reloaded " + config), std::string::npos) << reloaded.out;
  EXPECT_EQ(waitForStatus(server.port(), "two.example", 200), 200);
  EXPECT_EQ(httpRequest(server.port(), "two.example", "/").body, "<h1>v1</h1>");
  EXPECT_EQ(httpRequest(server.port(), "one.example", "/").status, 404);

  writeFile(config, "data_dir = \"data\"\n[sites.docs]\nhosts = [\"three.example\"\n");
  auto broken = testing::runCutover({"--data-dir", (dir_ / "data").string(), "reload"});
  EXPECT_EQ(broken.exit_code, 1) << broken.out << broken.err;
  EXPECT_NE(broken.out.find("the running one stays"), std::string::npos) << broken.out;
  EXPECT_NE(broken.out.find("cutover.toml:"), std::string::npos) << broken.out;
  EXPECT_NE(server.errors().find("the config was not reloaded, the running one stays: "),
            std::string::npos)
      << server.errors();
  EXPECT_EQ(httpRequest(server.port(), "two.example", "/").status, 200);
  EXPECT_EQ(httpRequest(server.port(), "three.example", "/").status, 404);

  // A plain SIGHUP does the same as `cutover reload`.
  writeConfig("three.example");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  EXPECT_EQ(waitForStatus(server.port(), "three.example", 200), 200);
  EXPECT_EQ(server.stop(), 0);
  // A stopped server is no longer found.
  auto none = testing::runCutover({"--config", config, "reload"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("nothing to reload"), std::string::npos) << none.err;
}

// The history is an audit trail: rollbacks and activations appear in `deploys` with the versions
// flipped between and who flipped; `versions` without a site lists every site's.
TEST_F(CliTest, DeploysShowsFlipsAndVersionsListsEverySite) {
  writeSite(dir_ / "v1", "v1");
  writeSite(dir_ / "v2", "v2");
  std::string v1 = deployOk((dir_ / "v1").string());
  std::string v2 = deployOk((dir_ / "v2").string());
  ASSERT_EQ(cutover({"deploy", (dir_ / "v1").string(), "--site", "blog"}).exit_code, 0);
  ASSERT_EQ(cutover({"rollback", "docs"}).exit_code, 0);
  ASSERT_EQ(cutover({"activate", "docs", v2}).exit_code, 0);

  auto deploys = cutover({"deploys", "docs"});
  // The line that says `what`, from the start of the line it is on.
  auto lineWith = [&](const std::string& what) {
    auto at = deploys.out.find(what);
    if (at == std::string::npos) return std::string();
    auto start = deploys.out.rfind('\n', at);
    return deploys.out.substr(start == std::string::npos ? 0 : start + 1,
                              at + what.size() - (start == std::string::npos ? 0 : start + 1));
  };
  auto rolled = lineWith("rollback from " + v2 + " by user ");
  EXPECT_NE(rolled.find(" " + v1 + " "), std::string::npos) << deploys.out;
  auto activated = lineWith("activate from " + v1 + " by user ");
  EXPECT_NE(activated.find(" " + v2 + " "), std::string::npos) << deploys.out;
  auto json = nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out);
  ASSERT_EQ(json.size(), 4U);
  EXPECT_EQ(json[0]["trigger"], "activate");
  EXPECT_EQ(json[0]["previous"], v1);
  EXPECT_EQ(json[0]["version"], v2);
  EXPECT_EQ(json[0]["actor"].get<std::string>().rfind("user ", 0), 0U);
  // The deploy that built v1 is still the one `versions` shows for it.
  auto docs = nlohmann::json::parse(cutover({"versions", "docs", "--json"}).out);
  ASSERT_EQ(docs.size(), 2U);
  for (const auto& v : docs) EXPECT_NE(v["source"], "rollback") << v;

  auto all = cutover({"versions"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("blog\n"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("docs\n"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("* live     " + v2), std::string::npos) << all.out;
  auto every = nlohmann::json::parse(cutover({"versions", "--json"}).out);
  EXPECT_EQ(every.size(), 3U);
}

// The version comes from project() in CMakeLists.txt; this test is built with the same one.
TEST(CliVersionTest, VersionIsTheProjectVersion) {
  auto r = testing::runCutover({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "cutover " CUTOVER_VERSION "\n");
}

TEST_F(CliTest, LogFormatJsonWritesOneObjectALineAndAnUnknownFormatIsRefused) {
  testing::ServerProcess server({"--log-format", "json", "--data-dir", data_, "serve", "--listen",
                                 "127.0.0.1:0", "--threads", "2"});
  std::string errors = server.errors();
  auto at = errors.find("serving on");
  ASSERT_NE(at, std::string::npos) << errors;
  auto begin = errors.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  auto line =
      nlohmann::json::parse(errors.substr(begin, errors.find('\n', at) - begin), nullptr, false);
  ASSERT_TRUE(line.is_object()) << errors;
  EXPECT_EQ(line.value("level", ""), "info");
  EXPECT_EQ(line.value("message", ""),
            "serving on http://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_FALSE(line.value("time", "").empty());

  auto refused = cutover({"--log-format", "xml", "versions", "docs"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("--log-format"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace cutover
