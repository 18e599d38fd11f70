#include "pipeline/build/build.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "cutover/common/fd.h"
#include "pipeline/build/command.h"
#include "support/git_fixture.h"
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
    p.deploy_id = "d-1";
    p.version = "v7";
    p.url = "https://docs.example.com";
    p.preview_url = "http://v7--docs.localhost:8080";
    p.cache = dir_ / "data" / "build-cache" / "docs";
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
  // The data folder is not there at all.
  EXPECT_EQ(testing::readFile(built->output / "data-listing.txt"), "");
}

// A site's build that tries every way out of its sandbox the server offered before: the
// server's environment, the config with every site's secrets, the pointers of every site, the
// host's password hashes and root's files, the server's own process.
TEST_F(BuildTest, AHostileBuildCannotReadSecretsTouchTheDataOrSeeTheHost) {
  ::setenv("AWS_SECRET_ACCESS_KEY", "aws-hunter2", 1);
  ::setenv("OTHER_SITE_WEBHOOK_SECRET", "webhook-hunter2", 1);
  auto config = dir_ / "cutover.toml";
  testing::writeFile(config, "[sites.other]\nwebhook_secret = \"toml-hunter2\"\n");
  std::filesystem::create_directories(dir_ / "data" / "pointers");
  auto q = [](const std::filesystem::path& p) { return "'" + p.string() + "'"; };
  repo_.commit(
      "mkdir -p public\n"
      "r=public/escapes.txt\n"
      ": > $r\n"
      "env > public/env.txt\n"
      "cat " +
          q(config) +
          " >> public/env.txt 2>/dev/null && echo read-config >> $r\n"
          "echo pwned > " +
          q(dir_ / "data" / "pointers" / "docs") +
          " 2>/dev/null && echo wrote-pointers >> $r\n"
          "cat /etc/shadow > /dev/null 2>&1 && echo read-shadow >> $r\n"
          "ls /root > /dev/null 2>&1 && echo read-root >> $r\n"
          "test -e /proc/" +
          std::to_string(::getpid()) +
          " && echo saw-server >> $r\n"
          "ls /proc | grep -c '^[0-9]' > public/processes.txt\n"
          "id -u > public/uid.txt\n"
          "echo ok > public/index.html\n",
      "hostile");
  repo_.push();
  auto built = build(plan("main"));
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("OTHER_SITE_WEBHOOK_SECRET");
  ASSERT_TRUE(built) << built.error().message;
  // build() removed the workspace; build again keeping it to read what it wrote.
  Workspace ws(dir_ / "data" / "tmp" / "build-d-h");
  auto again = buildSite(plan("main"), ws, *log_, {});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(testing::readFile(again->output / "escapes.txt"), "");
  auto env = testing::readFile(again->output / "env.txt");
  EXPECT_EQ(env.find("hunter2"), std::string::npos) << env;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data" / "pointers" / "docs"));
  EXPECT_NE(testing::readFile(again->output / "uid.txt"), "0\n");
  EXPECT_LT(std::stoi(testing::readFile(again->output / "processes.txt")), 8);
}

// A site with `network = false` builds with no network at all: not even a server on this
// machine's loopback answers it. With the default (network on) the same build reaches it.
TEST_F(BuildTest, ABuildWithNetworkOffReachesNothingAndWithItOnReachesTheHost) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(::listen(listener.get(), 16), 0);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::string port = std::to_string(ntohs(address.sin_port));
  repo_.commit(
      "mkdir -p public\necho ok > public/index.html\n"
      "bash -c 'exec 3<>/dev/tcp/127.0.0.1/" +
          port + "' 2>/dev/null && echo reached > public/net.txt || :\n",
      "reaches out");
  repo_.push();
  for (bool network : {true, false}) {
    BuildPlan p = plan("main");
    p.site.network = network;
    Workspace ws(dir_ / "data" / "tmp" / ("build-net-" + std::to_string(network)));
    auto built = buildSite(p, ws, *log_, {});
    ASSERT_TRUE(built) << built.error().message;
    EXPECT_EQ(std::filesystem::exists(built->output / "net.txt"), network)
        << (network ? "a build with the network on could not reach the host"
                    : "a build with network = false reached a server on the host");
  }
}

TEST_F(BuildTest, ATimedOutBuildLeavesNoProcessBehindNotEvenOneInItsOwnSession) {
  auto marker = uniqueMarker("cutover-setsid-marker");
  repo_.commit(
      "setsid sh -c 'sleep 1000; : " + marker + "' > /dev/null 2>&1 &\necho started\nsleep 1000\n",
      "escapes the group");
  repo_.push();
  BuildPlan p = plan("main");
  p.site.build_timeout = std::chrono::seconds(1);
  auto built = build(p);
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("timed out"), std::string::npos) << built.error().message;
  for (int i = 0; i < 300 && processWithMarker(marker); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(processWithMarker(marker)) << "a process of the timed-out build survived";
}

TEST_F(BuildTest, ABuildPrintingAGibibyteGetsALogCutAtItsLimit) {
  repo_.commit(
      "head -c 1073741824 /dev/zero | tr '\\0' x\necho\necho the end\n"
      "mkdir -p public && echo ok > public/index.html\n",
      "loud");
  repo_.push();
  BuildPlan p = plan("main");
  p.site.build_timeout = std::chrono::seconds(300);  // it is bounded by its log, not its time
  auto built = build(p);
  ASSERT_TRUE(built) << built.error().message;
  auto size = std::filesystem::file_size(log_->file());
  EXPECT_LT(size, (50U << 20) + (64U << 10));
  EXPECT_GT(size, 49U << 20);
  auto text = testing::readFile(log_->file());
  EXPECT_NE(text.find("the log was cut at 50 MiB"), std::string::npos);
  EXPECT_EQ(text.find("the end"), std::string::npos);
}

TEST_F(BuildTest, ABuildSeesItsOwnVariables) {
  auto sha = repo_.commit("mkdir -p public\nenv > public/env.txt\necho ok > public/index.html\n",
                          "variables");
  repo_.push();
  BuildPlan p = plan("main");
  p.site.env["NODE_ENV"] = "production";
  p.site.env["CUTOVER_COMMIT"] = "forged";  // the build's own variables win
  Workspace ws(dir_ / "data" / "tmp" / "build-d-v");
  auto built = buildSite(p, ws, *log_, {});
  ASSERT_TRUE(built) << built.error().message;
  auto env = "\n" + testing::readFile(built->output / "env.txt");
  std::vector<std::string> expected{"CUTOVER=1",
                                    "CI=true",
                                    "CUTOVER_COMMIT=" + sha,
                                    "CUTOVER_BRANCH=main",
                                    "CUTOVER_DEPLOY_ID=d-1",
                                    "CUTOVER_SITE=docs",
                                    "CUTOVER_VERSION=v7",
                                    "CUTOVER_URL=https://docs.example.com",
                                    "CUTOVER_PREVIEW_URL=http://v7--docs.localhost:8080",
                                    "CUTOVER_CONTEXT=production",
                                    "NODE_ENV=production",
                                    "HOME=/build/home",
                                    "LANG=C.UTF-8"};
  for (const auto& line : expected) {
    EXPECT_NE(env.find("\n" + line + "\n"), std::string::npos) << line << " missing in\n" << env;
  }
}

TEST_F(BuildTest, TheCacheOutlivesABuildIsPerSiteAndCanBeCleared) {
  repo_.commit(
      "mkdir -p public && echo ok > public/index.html\n"
      "ls \"$npm_config_cache\" > public/seen.txt 2>&1\n"
      "mkdir -p \"$npm_config_cache\" && echo kept > \"$npm_config_cache/marker\"\n"
      "for v in PIP_CACHE_DIR YARN_CACHE_FOLDER XDG_CACHE_HOME npm_config_store_dir; do\n"
      "  eval \"d=\\$$v\"; case $d in /build/cache*) ;; *) echo \"$v=$d\" >> public/seen.txt;; "
      "esac\ndone\n",
      "cache");
  repo_.push();
  auto first_plan = plan("main");
  {
    Workspace ws(dir_ / "data" / "tmp" / "build-d-c1");
    auto first = buildSite(first_plan, ws, *log_, {});
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(testing::readFile(first->output / "seen.txt").find("marker"), std::string::npos);
  }
  {
    Workspace ws(dir_ / "data" / "tmp" / "build-d-c2");
    auto second = buildSite(first_plan, ws, *log_, {});
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(testing::readFile(second->output / "seen.txt"), "marker\n");
  }
  {
    // Another site's build has a cache of its own.
    auto other = plan("main");
    other.site.name = "blog";
    other.cache = dir_ / "data" / "build-cache" / "blog";
    Workspace ws(dir_ / "data" / "tmp" / "build-d-c3");
    auto built = buildSite(other, ws, *log_, {});
    ASSERT_TRUE(built) << built.error().message;
    EXPECT_EQ(testing::readFile(built->output / "seen.txt").find("marker"), std::string::npos);
  }
  ASSERT_TRUE(clearBuildCache(dir_ / "data", "docs"));
  {
    Workspace ws(dir_ / "data" / "tmp" / "build-d-c4");
    auto cleared = buildSite(first_plan, ws, *log_, {});
    ASSERT_TRUE(cleared) << cleared.error().message;
    EXPECT_EQ(testing::readFile(cleared->output / "seen.txt").find("marker"), std::string::npos);
  }
}

// What vite 5.4 prints when a JSX file does not parse: the error first, a stack trace last.
constexpr const char* kViteFailure = R"(vite v5.4.10 building for production...
transforming...
✓ 3 modules transformed.
x Build failed in 41ms
error during build:
[vite:esbuild] Transform failed with 1 error:
/build/src/src/pages/About.jsx:4:1: ERROR: Expected ">" but found "}"
file: /build/src/src/pages/About.jsx:4:1

Expected ">" but found "}"
2  |    return (
3  |      <div className="about"
4  |    }
   |    ^
5  |  }

    at failureErrorWithLog (/build/src/node_modules/esbuild/lib/main.js:1472:15)
    at /build/src/node_modules/esbuild/lib/main.js:755:50
    at responseCallbacks.<computed> (/build/src/node_modules/esbuild/lib/main.js:622:9)
    at handleIncomingPacket (/build/src/node_modules/esbuild/lib/main.js:677:12)
    at Socket.readFromStdout (/build/src/node_modules/esbuild/lib/main.js:600:7)
    at Socket.emit (node:events:519:28)
    at addChunk (node:internal/streams/readable:559:12)
    at readableAddChunkPushByteMode (node:internal/streams/readable:510:3)
    at Readable.push (node:internal/streams/readable:390:5)
    at Pipe.onStreamRead (node:internal/stream_base_commons:191:23)
    at Pipe.callbackTrampoline (node:internal/async_hooks:130:17)
    at Pipe.callbackTrampoline (node:internal/async_hooks:130:17)
    at Pipe.callbackTrampoline (node:internal/async_hooks:130:17)
    at Pipe.callbackTrampoline (node:internal/async_hooks:130:17)
    at Pipe.callbackTrampoline (node:internal/async_hooks:130:17)
    at Pipe.callbackTrampoline (node:internal/async_hooks:130:17)
)";

TEST_F(BuildTest, AFailedBuildSaysWhatTheErrorIsOnceAndWhereTheRestIs) {
  testing::writeFile(repo_.work() / "vite-output.txt", kViteFailure);
  repo_.commit("cat vite-output.txt >&2\nexit 1\n", "broken jsx");
  repo_.push();
  auto built = build(plan("main"));
  ASSERT_FALSE(built);
  const auto& message = built.error().message;
  EXPECT_NE(message.find("ERROR: Expected \">\" but found \"}\""), std::string::npos) << message;
  EXPECT_NE(message.find("About.jsx:4:1"), std::string::npos) << message;
  EXPECT_NE(message.find("cutover logs d-1"), std::string::npos) << message;
  EXPECT_EQ(message.find("callbackTrampoline"), std::string::npos) << message;
  // Each line of the output appears at most once.
  EXPECT_EQ(message.find("Transform failed"), message.rfind("Transform failed")) << message;
  EXPECT_LE(std::count(message.begin(), message.end(), '\n'), 16) << message;
}

}  // namespace
}  // namespace cutover::build
