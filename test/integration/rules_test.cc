// `_redirects` and `_headers` through the real binary: checked at deploy time, stored in the
// version's manifest, never served as files.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::httpRequest;
using testing::RunResult;
using testing::TempDir;
using testing::writeFile;

class RulesCliTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string data_ = (dir_ / "data").string();

  RunResult cutover(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_});
    return testing::runCutover(args);
  }
  std::string deployOk(const std::filesystem::path& source) {
    auto r = cutover({"deploy", source.string(), "--site", "docs", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? "" : j.value("version", "");
  }
  // `cutover versions docs --json`: every stored version and which one is live.
  nlohmann::json versions() {
    auto r = cutover({"versions", "docs", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // The committed manifest of a version, as the store keeps it on disk.
  nlohmann::json manifestOf(const std::string& version) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(data_)) {
      if (entry.path().filename() == version + ".json") {
        return nlohmann::json::parse(testing::readFile(entry.path()), nullptr, false);
      }
    }
    ADD_FAILURE() << "no manifest file for " << version;
    return {};
  }
  std::unique_ptr<testing::ServerProcess> serve() {
    return std::make_unique<testing::ServerProcess>(std::vector<std::string>{
        "--data-dir", data_, "serve", "--listen", "127.0.0.1:0", "--threads", "2"});
  }
};

TEST_F(RulesCliTest, ABadRulesFileFailsTheDeployNamingItsLineAndChangesNothingLive) {
  writeFile(dir_ / "v1" / "index.html", "v1");
  std::string v1 = deployOk(dir_ / "v1");
  ASSERT_FALSE(v1.empty());
  auto server = serve();

  writeFile(dir_ / "v2" / "index.html", "v2");
  writeFile(dir_ / "v2" / "_redirects",
            "# moved pages\n/old /new 301\n/shop/* /closed.html 302 Country=us\n");
  auto bad = cutover({"deploy", (dir_ / "v2").string(), "--site", "docs"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("_redirects:3:"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("Country=us"), std::string::npos) << bad.err;

  writeFile(dir_ / "v2" / "_redirects", "/old /new 301\n");
  writeFile(dir_ / "v2" / "_headers", "/*\n  X-Frame-Options: DENY\n  Bad Name: 1\n");
  auto bad_headers = cutover({"deploy", (dir_ / "v2").string(), "--site", "docs"});
  EXPECT_NE(bad_headers.exit_code, 0);
  EXPECT_NE(bad_headers.err.find("_headers:3:"), std::string::npos) << bad_headers.err;

  auto listed = versions();
  ASSERT_TRUE(listed.is_array());
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["version"], v1);
  EXPECT_EQ(listed[0]["live"], true);
  auto page = httpRequest(server->port(), "docs.localhost", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "v1");
  EXPECT_EQ(page.headers["x-cutover-version"], v1);
}

TEST_F(RulesCliTest, RulesThatWouldBloatEveryResponseOrLeaveTheSiteAreBounded) {
  writeFile(dir_ / "v1" / "index.html", "v1");
  writeFile(dir_ / "v1" / "_redirects", "/go/* /:splat 301\n");
  std::string v1 = deployOk(dir_ / "v1");
  ASSERT_FALSE(v1.empty());
  auto server = serve();

  // A block of 100 fields would ride on every response: refused at its 65th line.
  std::string headers = "/*\n";
  for (int i = 0; i < 100; ++i) headers += "  X-Field-" + std::to_string(i) + ": 1\n";
  writeFile(dir_ / "v2" / "index.html", "v2");
  writeFile(dir_ / "v2" / "_headers", headers);
  auto bad_headers = cutover({"deploy", (dir_ / "v2").string(), "--site", "docs"});
  EXPECT_NE(bad_headers.exit_code, 0);
  EXPECT_NE(bad_headers.err.find("_headers:66:"), std::string::npos) << bad_headers.err;
  EXPECT_NE(bad_headers.err.find("more than 64 header lines"), std::string::npos)
      << bad_headers.err;

  // A target repeating the request 2,000 times: refused, naming its line.
  std::string splats;
  for (int i = 0; i < 2000; ++i) splats += ":splat";
  std::filesystem::remove(dir_ / "v2" / "_headers");
  writeFile(dir_ / "v2" / "_redirects", "/ok /fine\n/x/* /" + splats + "\n");
  auto bad_redirects = cutover({"deploy", (dir_ / "v2").string(), "--site", "docs"});
  EXPECT_NE(bad_redirects.exit_code, 0);
  EXPECT_NE(bad_redirects.err.find("_redirects:2:"), std::string::npos) << bad_redirects.err;
  EXPECT_EQ(versions().size(), 1u);

  // What a splat substitutes keeps the redirect on this site.
  auto r = httpRequest(server->port(), "docs.localhost", "/go//evil.example/x");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.headers["location"], "/evil.example/x");
  EXPECT_EQ(r.headers["x-cutover-version"], v1);
}

TEST_F(RulesCliTest, AGoodDeployStoresItsRulesInTheManifestAndNotAsFiles) {
  writeFile(dir_ / "site" / "index.html", "home");
  writeFile(dir_ / "site" / "404.html", "not here");
  writeFile(dir_ / "site" / "_redirects",
            "/old /new 302\n/news/* /blog/:splat\n/app/* /app/index.html 200\n");
  writeFile(dir_ / "site" / "_headers", "/*\n  X-Frame-Options: DENY\n  ! X-Powered-By\n");
  writeFile(dir_ / "site" / "docs" / "_redirects", "an ordinary file below the root");
  std::string version = deployOk(dir_ / "site");
  ASSERT_FALSE(version.empty());

  auto manifest = manifestOf(version);
  ASSERT_TRUE(manifest.is_object());
  const auto& redirects = manifest["rules"]["redirects"];
  ASSERT_EQ(redirects.size(), 3u) << manifest.dump();
  EXPECT_EQ(redirects[0]["from"], "/old");
  EXPECT_EQ(redirects[0]["to"], "/new");
  EXPECT_EQ(redirects[0]["status"], 302);
  EXPECT_EQ(redirects[2]["status"], 200);
  const auto& headers = manifest["rules"]["headers"];
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0]["set"][0][0], "X-Frame-Options");
  EXPECT_EQ(headers[0]["remove"][0], "X-Powered-By");
  EXPECT_FALSE(manifest["files"].contains("_redirects"));
  EXPECT_FALSE(manifest["files"].contains("_headers"));
  EXPECT_TRUE(manifest["files"].contains("docs/_redirects"));

  // The rules files are not part of the site: asking for them finds nothing.
  auto server = serve();
  for (const char* path : {"/_redirects", "/_headers"}) {
    auto r = httpRequest(server->port(), "docs.localhost", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body, "not here") << path;
  }
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/docs/_redirects").status, 200);
}

}  // namespace
}  // namespace cutover
