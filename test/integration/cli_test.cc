// Runs the real cutover binary in a temp data folder and talks HTTP to a real `cutover serve`.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

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

}  // namespace
}  // namespace cutover
