// git push → live: a real bare repository with cutover's post-receive hook, the real binary,
// and a real `cutover serve` answering from the deployed version.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "support/git_fixture.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::GitRepo;
using testing::httpRequest;
using testing::TempDir;

class GitPushTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string data_ = (dir_ / "data").string();
  std::string config_ = (dir_ / "cutover.toml").string();
  GitRepo repo_{dir_.path()};

  void SetUp() override {
    testing::writeFile(config_, "data_dir = \"data\"\n[sites.docs]\nrepo = \"" +
                                    repo_.bare().string() +
                                    "\"\nbuild = \"sh build.sh\"\noutput = \"public\"\n"
                                    "build_timeout = 60\n");
  }
  testing::RunResult cutover(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_});
    return testing::runCutover(args);
  }
  void installHook() {
    auto r = cutover(
        {"init", "--git-hook", repo_.bare().string(), "--site", "docs", "--config", config_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::string page(const std::string& body) {
    return "mkdir -p public && echo '" + body + "' > public/index.html\n";
  }
  // Polls until the site answers with `body`, for up to 20 s; returns the version header.
  static std::string waitForBody(std::uint16_t port, const std::string& body) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = httpRequest(port, "docs.localhost", "/");
      if (r.body == body) return r.headers["x-cutover-version"];
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "";
  }
};

TEST_F(GitPushTest, APushGoesLiveAndAFailingPushLeavesTheOldVersionLive) {
  installHook();
  auto good = repo_.commit(page("hello v1"), "First page");
  auto pushed = repo_.push();
  EXPECT_NE(pushed.find("deployed " + good.substr(0, 7) + " → live"), std::string::npos) << pushed;

  testing::ServerProcess server({"--data-dir", data_, "serve", "--listen", "127.0.0.1:0"});
  auto version = waitForBody(server.port(), "hello v1\n");
  EXPECT_EQ(version.substr(0, 8), good.substr(0, 7) + "-");
  auto deploys = cutover({"deploys", "docs"});
  EXPECT_NE(
      deploys.out.find(good.substr(0, 7) + " \"First page\" by Ada Lovelace <ada@example.com>"),
      std::string::npos)
      << deploys.out;
  EXPECT_NE(deploys.out.find("push"), std::string::npos);

  auto bad =
      repo_.commit("echo 'cannot render page.md: unclosed tag' >&2\nexit 1\n", "Broken page");
  pushed = repo_.push();
  EXPECT_NE(pushed.find("failed"), std::string::npos) << pushed;
  EXPECT_NE(pushed.find("unclosed tag"), std::string::npos) << pushed;
  auto after = httpRequest(server.port(), "docs.localhost", "/");
  EXPECT_EQ(after.body, "hello v1\n");
  EXPECT_EQ(after.headers["x-cutover-version"], version);
  deploys = cutover({"deploys", "docs"});
  EXPECT_NE(deploys.out.find("failed"), std::string::npos);
  EXPECT_NE(deploys.out.find("exited with status 1"), std::string::npos) << deploys.out;
  EXPECT_NE(deploys.out.find("unclosed tag"), std::string::npos) << deploys.out;
  // The failed build names the commit it built, with its message, as a good one does.
  EXPECT_NE(deploys.out.find(bad.substr(0, 7) + " \"Broken page\""), std::string::npos)
      << deploys.out;
  // A failed build stored nothing: no file counts, and the time it took rather than zero.
  EXPECT_EQ(deploys.out.find("0 files (0 new)"), std::string::npos) << deploys.out;
  EXPECT_EQ(deploys.out.find(" 0.00 ms"), std::string::npos) << deploys.out;
  // Each version says which branch and commit it was built from.
  auto versions = cutover({"versions", "docs"});
  EXPECT_NE(versions.out.find("main@" + good.substr(0, 7) + " \"First page\""), std::string::npos)
      << versions.out;
}

TEST_F(GitPushTest, AKilledPipelineMarksItsBuildInterruptedAndTheNextPushDeploys) {
  auto slow = repo_.commit("exec sleep 30\n", "Slow build");
  repo_.push();  // no hook yet: queued by hand below
  auto pipeline_err = dir_ / "pipeline.err";
  pid_t pipeline = testing::spawnCutover(
      {"--data-dir", data_, "pipeline", "--config", config_, "--api-listen", "off"}, pipeline_err);
  auto queued = cutover({"pipeline", "run", "docs", "--commit", slow, "--no-wait"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  // A deadline, not a count of tries: on a loaded machine each `cutover deploys` (about a second
  // each at a load of 16 on 2 cores) and the checkout before the build take their time. The
  // deadline bounds the wait for the build to start; once it has, its 30 s sleep leaves ample
  // time to see it.
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (seen.find("[building]") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    seen = cutover({"deploys", "docs"}).out;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(seen.find("[building]"), std::string::npos) << seen << "\nthe pipeline said:\n"
                                                        << testing::readFile(pipeline_err);
  ::kill(pipeline, SIGKILL);
  int status = 0;
  ::waitpid(pipeline, &status, 0);

  auto deploys = cutover({"deploys", "docs"});
  EXPECT_NE(deploys.out.find("failed"), std::string::npos) << deploys.out;
  EXPECT_NE(deploys.out.find("interrupted"), std::string::npos) << deploys.out;

  pipeline = testing::spawnCutover(
      {"--data-dir", data_, "pipeline", "--config", config_, "--api-listen", "off"}, pipeline_err);
  installHook();
  auto good = repo_.commit(page("after the crash"), "Recover");
  auto pushed = repo_.push();
  EXPECT_NE(pushed.find("deployed " + good.substr(0, 7) + " → live"), std::string::npos)
      << pushed << "\nthe pipeline said:\n"
      << testing::readFile(pipeline_err);
  ::kill(pipeline, SIGTERM);
  ::waitpid(pipeline, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  testing::ServerProcess server({"--data-dir", data_, "serve", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(waitForBody(server.port(), "after the crash\n").substr(0, 7), good.substr(0, 7));
  // The crashed build's workspace is gone.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "data" / "tmp", ec)) {
    EXPECT_FALSE(e.path().filename().string().starts_with("build-")) << e.path();
  }
}

}  // namespace
}  // namespace cutover
