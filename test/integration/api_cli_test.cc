// The admin API as a user runs it: `cutover serve --api-listen`, tokens made with `cutover token`,
// deploys sent with `cutover deploy --remote` and by uploading an archive; the edge serves them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cutover/common/hash.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::httpRequest;
using testing::RunResult;
using testing::TempDir;
using testing::writeFile;

class ApiCliTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string data_ = (dir_ / "data").string();

  RunResult cutover(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_});
    return testing::runCutover(args);
  }

  // `cutover serve` with the API; fills api_port_ from its "api on http://HOST:PORT" line.
  std::unique_ptr<testing::ServerProcess> serve() {
    auto server = std::make_unique<testing::ServerProcess>(
        std::vector<std::string>{"--data-dir", data_, "serve", "--listen", "127.0.0.1:0",
                                 "--threads", "2", "--api-listen", "127.0.0.1:0"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string err = server->errors();
      auto at = err.find("api on http://");
      auto end = at == std::string::npos ? at : err.find('\n', at);
      if (end != std::string::npos) {
        api_port_ = static_cast<std::uint16_t>(std::stoi(err.substr(err.rfind(':', end) + 1)));
        return server;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the API did not start: " << server->errors();
    return server;
  }

  std::string createToken(const std::string& site) {
    auto r = cutover({"token", "create", "--site", site, "--name", "test"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string token = r.out.substr(0, r.out.find('\n'));
    EXPECT_EQ(token.rfind("cut_", 0), 0U) << r.out;
    return token;
  }

  RunResult remoteDeploy(const std::string& folder, const std::string& token) {
    // The token comes from the environment, as the documentation recommends.
    ::setenv("CUTOVER_TOKEN", token.c_str(), 1);
    auto r = testing::runCutover({"deploy", folder, "--site", "docs", "--remote",
                                  "http://127.0.0.1:" + std::to_string(api_port_), "--json"});
    ::unsetenv("CUTOVER_TOKEN");
    return r;
  }

  static bool waitForBody(std::uint16_t port, const std::string& path, const std::string& body) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (httpRequest(port, "docs.localhost", path).body == body) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::uint16_t api_port_ = 0;
};

TEST_F(ApiCliTest, RemoteDeployUploadsOnlyChangedFilesAndTheEdgeServesThem) {
  std::string token = createToken("docs");
  ASSERT_FALSE(token.empty());
  // Only the token's hash is stored.
  std::string stored = testing::readFile(dir_ / "data" / "tokens.sqlite") +
                       testing::readFile(dir_ / "data" / "tokens.sqlite-wal");
  EXPECT_FALSE(stored.empty());
  EXPECT_EQ(stored.find(token), std::string::npos);
  EXPECT_EQ(stored.find(token.substr(4)), std::string::npos);

  auto site = dir_ / "public";
  writeFile(site / "index.html", "<h1>v1</h1>");
  writeFile(site / "about.html", "about");
  writeFile(site / "assets" / "app.js", "console.log(1)");
  writeFile(site / "assets" / "copy.js", "console.log(1)");  // same content as app.js
  writeFile(site / "404.html", "missing");
  auto server = serve();
  ASSERT_NE(api_port_, 0);

  auto first = remoteDeploy(site.string(), token);
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  auto j1 = nlohmann::json::parse(first.out);
  EXPECT_EQ(j1["files"], 5);
  EXPECT_EQ(j1["blobs"], 4);
  EXPECT_EQ(j1["uploaded"], 4);
  EXPECT_EQ(j1["activated"], true);
  EXPECT_EQ(j1["live_url"], "http://docs.localhost:" + std::to_string(server->port()) + "/");
  ASSERT_TRUE(waitForBody(server->port(), "/", "<h1>v1</h1>"));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").headers["x-cutover-version"],
            j1["version"]);

  writeFile(site / "index.html", "<h1>v2</h1>");
  auto second = remoteDeploy(site.string(), token);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto j2 = nlohmann::json::parse(second.out);
  EXPECT_EQ(j2["uploaded"], 1);
  EXPECT_EQ(j2["files"], 5);
  EXPECT_EQ(j2["previous"], j1["version"]);
  ASSERT_TRUE(waitForBody(server->port(), "/", "<h1>v2</h1>"));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/about").body, "about");

  // The history shows both, as remote deploys that succeeded.
  auto deploys = cutover({"deploys", "docs"});
  EXPECT_NE(deploys.out.find(j2["version"].get<std::string>()), std::string::npos) << deploys.out;

  // A token for another site is refused, and nothing changes.
  std::string other = createToken("other");
  writeFile(site / "index.html", "<h1>v3</h1>");
  auto refused = remoteDeploy(site.string(), other);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("403"), std::string::npos) << refused.err;
  auto no_token = testing::runCutover({"deploy", site.string(), "--site", "docs", "--remote",
                                       "http://127.0.0.1:" + std::to_string(api_port_)});
  EXPECT_NE(no_token.exit_code, 0);
  EXPECT_NE(no_token.err.find("CUTOVER_TOKEN"), std::string::npos) << no_token.err;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>v2</h1>");
}

TEST_F(ApiCliTest, ArchiveUploadGoesLiveOnTheEdge) {
  std::string token = createToken("docs");
  auto folder = dir_ / "build";
  writeFile(folder / "index.html", "<h1>from a tarball</h1>");
  writeFile(folder / "docs" / "index.html", "docs page");
  auto archive = dir_ / "site.tar.gz";
  std::string command = "tar -czf " + archive.string() + " -C " + folder.string() + " .";
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto server = serve();
  ASSERT_NE(api_port_, 0);

  auto reply =
      testing::httpSend(api_port_, "POST", "/api/sites/docs/archive",
                        {"Authorization: Bearer " + token, "Content-Type: application/gzip"},
                        testing::readFile(archive));
  ASSERT_EQ(reply.status, 201) << reply.body;
  auto j = nlohmann::json::parse(reply.body);
  EXPECT_EQ(j["deploy"]["status"], "succeeded");
  EXPECT_EQ(j["deploy"]["trigger"], "api");
  ASSERT_TRUE(waitForBody(server->port(), "/", "<h1>from a tarball</h1>"));
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/docs/").body, "docs page");
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").headers["x-cutover-version"],
            j["version"]);

  auto sites =
      testing::httpSend(api_port_, "GET", "/api/sites", {"Authorization: Bearer " + token}, "");
  EXPECT_EQ(nlohmann::json::parse(sites.body)["sites"][0]["live"]["version"], j["version"]);

  // The token can be revoked from the command line; the running API refuses it at once.
  auto list = cutover({"token", "list", "--json"});
  std::string id = nlohmann::json::parse(list.out)[0]["id"];
  ASSERT_EQ(cutover({"token", "revoke", id}).exit_code, 0);
  auto revoked =
      testing::httpSend(api_port_, "GET", "/api/sites", {"Authorization: Bearer " + token}, "");
  EXPECT_EQ(revoked.status, 401);
}

// The site's deploy limits in the config hold for what comes through the API too: an archive
// with more files than the site's max_files is refused with a message naming the limit, and the
// live version stays.
TEST_F(ApiCliTest, ArchiveUploadOverTheSitesMaxFilesIsRefusedAndNothingChanges) {
  auto config = dir_ / "cutover.toml";
  writeFile(config, "[sites.docs.limits]\nmax_files = 2\n");
  std::string token = createToken("docs");
  auto folder = dir_ / "build";
  writeFile(folder / "index.html", "<h1>two files</h1>");
  writeFile(folder / "about.html", "about");
  ASSERT_EQ(
      cutover({"--config", config.string(), "deploy", folder.string(), "--site", "docs"}).exit_code,
      0);
  writeFile(folder / "index.html", "<h1>three files</h1>");
  writeFile(folder / "extra.html", "one too many");
  auto archive = dir_ / "site.tar.gz";
  std::string command = "tar -czf " + archive.string() + " -C " + folder.string() + " .";
  ASSERT_EQ(std::system(command.c_str()), 0);

  auto server = std::make_unique<testing::ServerProcess>(std::vector<std::string>{
      "--config", config.string(), "--data-dir", data_, "serve", "--no-pipeline", "--listen",
      "127.0.0.1:0", "--threads", "2", "--api-listen", "127.0.0.1:0"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string err;
  while (std::chrono::steady_clock::now() < deadline &&
         (err = server->errors()).find("api on http://") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto at = err.find("api on http://");
  ASSERT_NE(at, std::string::npos) << err;
  auto end = err.find('\n', at);
  ASSERT_NE(end, std::string::npos) << err;
  api_port_ = static_cast<std::uint16_t>(std::stoi(err.substr(err.rfind(':', end) + 1)));
  ASSERT_TRUE(waitForBody(server->port(), "/", "<h1>two files</h1>"));

  auto reply =
      testing::httpSend(api_port_, "POST", "/api/sites/docs/archive",
                        {"Authorization: Bearer " + token, "Content-Type: application/gzip"},
                        testing::readFile(archive));
  EXPECT_EQ(reply.status, 413) << reply.body;
  EXPECT_NE(reply.body.find("max_files"), std::string::npos) << reply.body;
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>two files</h1>");

  // A remote deploy of three files is refused the same way, before any blob is sent.
  ::setenv("CUTOVER_TOKEN", token.c_str(), 1);
  auto remote = testing::runCutover({"deploy", folder.string(), "--site", "docs", "--remote",
                                     "http://127.0.0.1:" + std::to_string(api_port_)});
  ::unsetenv("CUTOVER_TOKEN");
  EXPECT_NE(remote.exit_code, 0);
  EXPECT_NE(remote.err.find("limit of 2"), std::string::npos) << remote.err;
  EXPECT_EQ(httpRequest(server->port(), "docs.localhost", "/").body, "<h1>two files</h1>");
}

TEST_F(ApiCliTest, RemoteDeployAimedAtTheEdgeSaysItIsNotTheApi) {
  std::string token = createToken("docs");
  auto site = dir_ / "public";
  writeFile(site / "index.html", "<h1>v1</h1>");
  auto server = serve();
  ::setenv("CUTOVER_TOKEN", token.c_str(), 1);
  std::string edge = "http://127.0.0.1:" + std::to_string(server->port());
  auto r = testing::runCutover({"deploy", site.string(), "--site", "docs", "--remote", edge});
  ::unsetenv("CUTOVER_TOKEN");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(edge + " is not a cutover admin API (it answered 405 to POST "
                              "/api/sites/docs/deploys)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:8081"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cutover serve --help"), std::string::npos) << r.err;
}

TEST_F(ApiCliTest, RemoteDeployFromALongNonAsciiFolderGoesLive) {
  std::string token = createToken("docs");
  // The API clips the source (the folder's path) to 200 bytes: make byte 199 start an 'é'.
  std::size_t prefix = (dir_ / "").string().size();
  std::string first((199 - prefix) % 2 == 1 ? 1 : 2, 'x');
  for (int i = 0; i < 100; ++i) first += "é";
  std::string second = "y";
  for (int i = 0; i < 20; ++i) second += "é";
  auto site = dir_ / first / second;
  writeFile(site / "index.html", "<h1>accented</h1>");
  auto server = serve();
  auto r = remoteDeploy(site.string(), token);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(waitForBody(server->port(), "/", "<h1>accented</h1>"));
}

// Runs `cutover args...` in the background, reading its stderr as it comes.
class Background {
 public:
  explicit Background(const std::vector<std::string>& args) {
    int pipe[2];
    EXPECT_EQ(::pipe2(pipe, O_CLOEXEC), 0);
    std::string binary = testing::cutoverBinary();
    std::vector<char*> argv{binary.data()};
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(pipe[1], 2);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(pipe[1]);
    fd_ = pipe[0];
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(fd_);
  }
  // Reads stderr until it holds `text` (true) or `seconds` pass (false).
  bool waitFor(const std::string& text, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (err_.find(text) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count()))) > 0) {
        char buffer[4096];
        ssize_t n = ::read(fd_, buffer, sizeof buffer);
        if (n <= 0) return false;  // the process closed stderr without saying it
        err_.append(buffer, static_cast<std::size_t>(n));
      } else if (left.count() <= 0) {
        return false;
      }
    }
    return true;
  }
  // Waits up to `seconds` for the exit; the exit code, or -1 if it is still running.
  int exitCode(int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (true) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      (void)waitFor("\x01never", 0);  // keeps the pipe drained
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  [[nodiscard]] const std::string& errors() const { return err_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string err_;
};

TEST_F(ApiCliTest, GcSaysWhichPendingRemoteDeployItWaitsFor) {
  std::string token = createToken("docs");
  auto server = serve();
  std::string bytes = "<h1>pending</h1>";
  nlohmann::json list{
      {"files", {{"index.html", {{"hash", sha256Hex(bytes)}, {"size", bytes.size()}}}}}};
  auto auth = "Authorization: Bearer " + token;
  auto started =
      testing::httpSend(api_port_, "POST", "/api/sites/docs/deploys", {auth}, list.dump());
  ASSERT_EQ(started.status, 201) << started.body;
  std::string id = nlohmann::json::parse(started.body)["deploy"];

  Background gc({"--data-dir", data_, "gc"});
  ASSERT_TRUE(gc.waitFor(id + ": site docs, a remote deploy", 20)) << gc.errors();
  EXPECT_NE(gc.errors().find("waiting for the store lock"), std::string::npos) << gc.errors();
  EXPECT_EQ(gc.exitCode(0), -1);  // still waiting

  // The deploy ends; gc goes on.
  EXPECT_EQ(testing::httpSend(api_port_, "PUT", "/api/deploys/" + id + "/blobs/" + sha256Hex(bytes),
                              {auth}, bytes)
                .status,
            201);
  EXPECT_EQ(
      testing::httpSend(api_port_, "POST", "/api/deploys/" + id + "/finalize", {auth}, "").status,
      200);
  EXPECT_EQ(gc.exitCode(20), 0) << gc.errors();
}

}  // namespace
}  // namespace cutover
