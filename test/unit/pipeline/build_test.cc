#include "pipeline/build/build.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "git_fixture.h"
#include "pipeline/build/command.h"
#include "support/temp_dir.h"

namespace cutover::build {
namespace {

using testing::GitRepo;
using testing::TempDir;

// True if any process's command line contains `marker`.
bool processWithMarker(const std::string& marker) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (auto& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(marker) != std::string::npos) return true;
  }
  return false;
}

std::string uniqueMarker(const std::string& name) {
  return name + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

TEST(Command, ATimeoutKillsTheCommandAndEveryChildItStarted) {
  TempDir dir;
  auto marker = uniqueMarker("cutover-timeout-marker");
  Command command;
  // Each background child is a shell whose command line carries the marker.
  command.argv = {"/bin/sh", "-c",
                  "sh -c 'sleep 1000; : " + marker + "' & sh -c 'sleep 1000; : " + marker +
                      "' & echo started; sleep 1000"};
  command.cwd = dir.path();
  command.env = cleanEnvironment(dir.path());
  command.timeout = std::chrono::milliseconds(300);
  command.kill_grace = std::chrono::milliseconds(200);
  std::vector<std::string> lines;
  auto start = std::chrono::steady_clock::now();
  auto result = runCommand(command, [&](Stream, std::string_view l) { lines.emplace_back(l); });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->timed_out);
  EXPECT_FALSE(result->ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(lines, std::vector<std::string>{"started"});
  EXPECT_NE(result->describe(command.timeout).find("timed out"), std::string::npos);
  // Killing is asynchronous for the kernel: give the group a moment to be gone.
  for (int i = 0; i < 100 && processWithMarker(marker); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(processWithMarker(marker)) << "a child of the timed-out build survived";
}

TEST(Command, AFinishedCommandLeavesNothingRunningAndReportsItsStatus) {
  TempDir dir;
  auto marker = uniqueMarker("cutover-leftover-marker");
  Command command;
  command.argv = {
      "/bin/sh", "-c",
      "sh -c 'sleep 1000; : " + marker + "' >/dev/null 2>&1 & echo out; echo err >&2; exit 3"};
  command.cwd = dir.path();
  command.env = cleanEnvironment(dir.path());
  std::vector<std::pair<Stream, std::string>> lines;
  auto result = runCommand(
      command, [&](Stream s, std::string_view l) { lines.emplace_back(s, std::string(l)); });
  ASSERT_TRUE(result);
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(lines.size(), 2U);
  for (int i = 0; i < 100 && processWithMarker(marker); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(processWithMarker(marker));
}

TEST(Command, TheEnvironmentIsCleanNoInheritedSecret) {
  TempDir dir;
  ::setenv("CUTOVER_TEST_SECRET", "hunter2", 1);
  Command command;
  command.argv = {"/bin/sh", "-c", "env"};
  command.cwd = dir.path();
  command.env = cleanEnvironment(dir / "home", {{"NODE_ENV", "production"}});
  std::string out;
  auto result = runCommand(command, [&](Stream, std::string_view l) {
    out += l;
    out += '\n';
  });
  ::unsetenv("CUTOVER_TEST_SECRET");
  ASSERT_TRUE(result);
  EXPECT_EQ(out.find("CUTOVER_TEST_SECRET"), std::string::npos) << out;
  EXPECT_EQ(out.find("hunter2"), std::string::npos);
  EXPECT_NE(out.find("NODE_ENV=production"), std::string::npos);
  EXPECT_NE(out.find("HOME=" + (dir / "home").string()), std::string::npos);
  EXPECT_NE(out.find("LANG=C.UTF-8"), std::string::npos);
  EXPECT_NE(out.find("PATH="), std::string::npos);
}

TEST(Command, AMissingProgramIsNotFound) {
  Command command;
  command.argv = {"no-such-program-cutover"};
  command.env = cleanEnvironment("/tmp");
  auto result = runCommand(command, {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::not_found);
}

class BuildTest : public ::testing::Test {
 protected:
  TempDir dir_;
  GitRepo repo_{dir_.path()};
  std::unique_ptr<BuildLog> log_ = BuildLog::open(dir_ / "logs" / "d-1.log").value();

  BuildPlan plan(const std::string& ref) {
    BuildPlan p;
    p.site.name = "docs";
    p.site.repo = repo_.bare().string();
    p.site.build = "sh build.sh";
    p.site.output = "public";
    p.site.build_timeout = std::chrono::seconds(20);
    p.ref = ref;
    p.hidden = dir_ / "data";
    return p;
  }
  Result<BuildResult> build(const BuildPlan& p) {
    Workspace ws(dir_ / "data" / "tmp" / "build-d-1");
    auto result = buildSite(p, ws, *log_, {});
    workspace_seen_ = std::filesystem::exists(ws.root());
    return result;
  }
  bool workspace_seen_ = false;
};

TEST_F(BuildTest, BuildsTheExactCommitAskedForAndRecordsIt) {
  auto first = repo_.commit("mkdir -p public && echo one > public/index.html\n", "first commit");
  repo_.commit("mkdir -p public && echo two > public/index.html\n", "second commit");
  repo_.push();
  BuildPlan p = plan(first);
  Workspace ws(dir_ / "data" / "tmp" / "build-d-2");
  std::vector<std::string> stages;
  auto built = buildSite(p, ws, *log_, [&](std::string_view s) { stages.emplace_back(s); });
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_EQ(built->commit.sha, first);
  EXPECT_EQ(built->commit.subject, "first commit");
  EXPECT_EQ(built->commit.author, "Ada Lovelace <ada@example.com>");
  EXPECT_EQ(testing::readFile(built->output / "index.html"), "one\n");
  EXPECT_EQ(stages, (std::vector<std::string>{"fetching", "building"}));

  // The branch name builds its head.
  Workspace ws2(dir_ / "data" / "tmp" / "build-d-3");
  auto head = buildSite(plan("main"), ws2, *log_, {});
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->commit.subject, "second commit");
}

TEST_F(BuildTest, TheLogHasTimestampedOutputLines) {
  repo_.commit(
      "echo hello from the build\necho oops >&2\nmkdir -p public && echo x > public/a.html\n", "c");
  repo_.push();
  ASSERT_TRUE(build(plan("main")));
  auto text = testing::readFile(log_->file());
  EXPECT_NE(text.find("stdout  hello from the build"), std::string::npos) << text;
  EXPECT_NE(text.find("stderr  oops"), std::string::npos) << text;
  EXPECT_NE(text.find("Z cutover running sh build.sh"), std::string::npos) << text;
  EXPECT_EQ(text.substr(0, 2), "20");  // each line starts with its UTC time
}

TEST_F(BuildTest, ANonZeroExitFailsWithTheLastLinesAndRemovesTheWorkspace) {
  repo_.commit("echo compiling\necho 'error: missing semicolon' >&2\nexit 2\n", "broken");
  repo_.push();
  auto built = build(plan("main"));
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("exited with status 2"), std::string::npos);
  EXPECT_NE(built.error().message.find("error: missing semicolon"), std::string::npos)
      << built.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data" / "tmp" / "build-d-1"));
}

TEST_F(BuildTest, AMissingOrEmptyOutputFolderFails) {
  repo_.commit("echo done\n", "no output");
  repo_.push();
  auto missing = build(plan("main"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("'public' does not exist"), std::string::npos)
      << missing.error().message;

  repo_.commit("mkdir -p public/empty\n", "empty output");
  repo_.push();
  auto empty = build(plan("main"));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("'public' is empty"), std::string::npos)
      << empty.error().message;

  repo_.commit("ln -s /etc public\n", "escaping output");
  repo_.push();
  auto outside = build(plan("main"));
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("outside the checkout"), std::string::npos)
      << outside.error().message;
}

TEST_F(BuildTest, AnUnknownCommitFailsWithGitsReason) {
  repo_.commit("mkdir -p public && echo x > public/a.html\n", "c");
  repo_.push();
  auto built = build(plan(std::string(40, 'a')));
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("git fetch"), std::string::npos) << built.error().message;
}

TEST_F(BuildTest, ASandboxedBuildWritesOnlyItsWorkspaceAndCannotSeeTheDataFolder) {
  if (std::system("bwrap --ro-bind / / --unshare-all true >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "bwrap cannot run here";
  }
  testing::writeFile(dir_ / "data" / "deploys.sqlite", "secret history");
  auto outside = dir_ / "outside.txt";
  repo_.commit(
      "mkdir -p public\n"
      "echo pwned > " +
          outside.string() +
          " 2>/dev/null && echo wrote-outside\n"
          "ls " +
          (dir_ / "data").string() +
          " > public/data-listing.txt\n"
          "echo ok > public/index.html\n",
      "sandboxed");
  repo_.push();
  BuildPlan p = plan("main");
  p.site.sandbox = true;
  Workspace ws(dir_ / "data" / "tmp" / "build-d-9");
  auto built = buildSite(p, ws, *log_, {});
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_FALSE(std::filesystem::exists(outside));
  EXPECT_EQ(testing::readFile(built->output / "index.html"), "ok\n");
  // Only the workspace's own folder shows in the data folder.
  EXPECT_EQ(testing::readFile(built->output / "data-listing.txt"), "tmp\n");
}

}  // namespace
}  // namespace cutover::build
