// `cutover --config cutover.toml serve` as a one-machine user runs it: one process with the edge,
// the admin API and the build workers. Deploys start from webhooks, from polling and from
// `cutover pipeline run`; the config's hosts and settings reach the edge; `logs --follow` tails
// a running build.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/git_fixture.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::GitRepo;
using testing::httpRequest;
using testing::httpSend;
using testing::RunResult;
using testing::TempDir;

std::string hmacHex(const std::string& secret, const std::string& body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac.data(), &size);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

std::string page(const std::string& body) {
  return "mkdir -p public && echo '" + body + "' > public/index.html\n";
}

class PipelineServeTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string data_ = (dir_ / "data").string();
  std::string config_ = (dir_ / "cutover.toml").string();
  GitRepo repo_{dir_.path()};

  void writeConfig(const std::string& extra) {
    testing::writeFile(config_, "[sites.docs]\nrepo = \"" + repo_.bare().string() +
                                    "\"\nbuild = \"sh build.sh\"\noutput = \"public\"\n"
                                    "build_timeout = 60\n"
                                    "hosts = [\"docs.example.test\"]\n"
                                    "webhook_secret = \"s3cret\"\n" +
                                    extra);
  }
  RunResult cutover(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", data_, "--config", config_});
    return testing::runCutover(args);
  }
  // The whole of cutover in one process; api_port_ is set from its "api on" line.
  std::unique_ptr<testing::ServerProcess> serve() {
    auto server = std::make_unique<testing::ServerProcess>(
        std::vector<std::string>{"--data-dir", data_, "--config", config_, "serve", "--listen",
                                 "127.0.0.1:0", "--threads", "2", "--api-listen", "127.0.0.1:0"});
    api_port_ = server->waitForPort("api on http://");
    return server;
  }
  // Polls until the site answers `body` at `host`, for up to `seconds`; the version header.
  static std::string waitForBody(std::uint16_t port, const std::string& host,
                                 const std::string& body, int seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = httpRequest(port, host, "/");
      if (r.body == body) return r.headers["x-cutover-version"];
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }
  testing::HttpResponse githubPush(const std::string& branch, const std::string& after,
                                   const std::string& secret, const std::string& delivery = {},
                                   const std::string& pusher = "ada") {
    std::string body =
        nlohmann::json{
            {"ref", "refs/heads/" + branch}, {"after", after}, {"pusher", {{"name", pusher}}}}
            .dump();
    std::vector<std::string> headers{"X-GitHub-Event: push", "Content-Type: application/json",
                                     "X-Hub-Signature-256: sha256=" + hmacHex(secret, body)};
    if (!delivery.empty()) headers.push_back("X-GitHub-Delivery: " + delivery);
    return httpSend(api_port_, "POST", "/hooks/docs", headers, body);
  }
  testing::HttpResponse githubPull(const std::string& action, int number,
                                   const std::string& head) const {
    std::string body =
        nlohmann::json{
            {"action", action},
            {"number", number},
            {"pull_request",
             {{"head", {{"sha", head}, {"ref", "fix"}, {"repo", {{"full_name", "a/d"}}}}},
              {"base", {{"ref", "main"}, {"repo", {{"full_name", "a/d"}}}}}}}}
            .dump();
    return httpSend(api_port_, "POST", "/hooks/docs",
                    {"X-GitHub-Event: pull_request", "Content-Type: application/json",
                     "X-Hub-Signature-256: sha256=" + hmacHex("s3cret", body)},
                    body);
  }
  // How many deploys the history holds; fails the test if `deploys --json` does not answer.
  std::size_t deployCount() {
    auto r = cutover({"deploys", "docs", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out;
    return j.is_array() ? j.size() : SIZE_MAX;
  }

  std::uint16_t api_port_ = 0;
};

TEST_F(PipelineServeTest, WebhooksBuildThePushedCommitAndBadOnesChangeNothing) {
  writeConfig("[sites.docs.settings]\nspa = true\n");
  auto first = repo_.commit(page("from the webhook"), "First");
  repo_.push();
  auto server = serve();

  // A wrong signature: 401, nothing queued, nothing live.
  auto forged = githubPush("main", first, "not the secret");
  EXPECT_EQ(forged.status, 401) << forged.body;
  EXPECT_EQ(deployCount(), 0U);
  // A push to another branch: acknowledged, ignored.
  auto other = githubPush("feature", first, "s3cret");
  EXPECT_EQ(other.status, 202) << other.body;
  EXPECT_NE(other.body.find("ignored"), std::string::npos) << other.body;
  EXPECT_EQ(deployCount(), 0U);
  EXPECT_EQ(httpRequest(server->port(), "docs.example.test", "/").status, 404);

  // The real thing: queued, built, live at the config's host name.
  auto accepted = githubPush("main", first, "s3cret");
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  auto answer = nlohmann::json::parse(accepted.body);
  ASSERT_TRUE(answer.contains("deploy")) << accepted.body;
  auto version = waitForBody(server->port(), "docs.example.test", "from the webhook\n");
  EXPECT_EQ(version.substr(0, 7), first.substr(0, 7));
  // The config's settings reached the edge: spa serves index.html for an app route.
  auto route = httpRequest(server->port(), "docs.example.test", "/settings/profile");
  EXPECT_EQ(route.status, 200);
  EXPECT_EQ(route.body, "from the webhook\n");

  auto shown = cutover({"deploys", "docs", "--json"});
  auto deploys = nlohmann::json::parse(shown.out);
  ASSERT_EQ(deploys.size(), 1U) << shown.out;
  EXPECT_EQ(deploys[0]["trigger"], "webhook");
  EXPECT_EQ(deploys[0]["commit"], first);
  EXPECT_EQ(deploys[0]["status"], "succeeded");

  // A GitLab delivery (token header) for the next commit.
  auto second = repo_.commit(page("from gitlab"), "Second");
  repo_.push();
  std::string body =
      nlohmann::json{{"ref", "refs/heads/main"}, {"after", second}, {"user_username", "bo"}}.dump();
  auto gitlab = httpSend(api_port_, "POST", "/hooks/docs",
                         {"X-Gitlab-Event: Push Hook", "X-Gitlab-Token: s3cret"}, body);
  ASSERT_EQ(gitlab.status, 202) << gitlab.body;
  EXPECT_EQ(waitForBody(server->port(), "docs.example.test", "from gitlab\n").substr(0, 7),
            second.substr(0, 7));
  auto wrong_token = httpSend(api_port_, "POST", "/hooks/docs",
                              {"X-Gitlab-Event: Push Hook", "X-Gitlab-Token: guess"}, body);
  EXPECT_EQ(wrong_token.status, 401);
  EXPECT_EQ(deployCount(), 2U);
  // A site the config does not have.
  EXPECT_EQ(httpSend(api_port_, "POST", "/hooks/blog", {"X-Gitlab-Token: s3cret"}, body).status,
            404);
}

TEST_F(PipelineServeTest, AWebhookEventThatIsNotUtf8IsAnsweredAndTheServerGoesOn) {
  writeConfig("");
  repo_.commit(page("a page"), "First");
  repo_.push();
  auto server = serve();
  std::string body = R"({"zen": "replayed"})";
  auto odd = httpSend(api_port_, "POST", "/hooks/docs",
                      {"X-GitHub-Event: p\xFF\xFEsh", "Content-Type: application/json",
                       "X-Hub-Signature-256: sha256=" + hmacHex("s3cret", body)},
                      body);
  EXPECT_EQ(odd.status, 202) << odd.body;
  auto answer = nlohmann::json::parse(odd.body, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << odd.body;
  EXPECT_NE(answer["message"].get<std::string>().find("p\\xFF\\xFEsh"), std::string::npos)
      << odd.body;
  EXPECT_EQ(httpSend(api_port_, "GET", "/api/health", {}, "").status, 200);
  EXPECT_EQ(deployCount(), 0U);
}

// A signed push delivery captured and sent again must neither build again nor put an old commit
// back live (a rollback by replay).
TEST_F(PipelineServeTest, AReplayedWebhookIsAnsweredAndNeverPutsAnOldCommitLive) {
  writeConfig("");
  auto first = repo_.commit(page("first"), "First");
  repo_.push();
  auto server = serve();
  auto accepted = githubPush("main", first, "s3cret", "delivery-1");
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  ASSERT_FALSE(waitForBody(server->port(), "docs.example.test", "first\n").empty());

  // The same delivery again (GitHub's "redeliver", or a replay): answered, nothing queued.
  auto again = githubPush("main", first, "s3cret", "delivery-1");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_NE(again.body.find("already received"), std::string::npos) << again.body;
  // The same signed body under a made-up delivery id: the same.
  auto renamed = githubPush("main", first, "s3cret", "delivery-made-up");
  EXPECT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(deployCount(), 1U);

  auto second = repo_.commit(page("second"), "Second");
  repo_.push();
  ASSERT_EQ(githubPush("main", second, "s3cret", "delivery-2").status, 202);
  auto live = waitForBody(server->port(), "docs.example.test", "second\n");
  ASSERT_FALSE(live.empty());

  // An old push that was never seen (another body, another id) names a commit that is no longer
  // the branch's head: recorded ignored with the reason, and the site stays on the head.
  auto old = githubPush("main", first, "s3cret", "delivery-old", "mallory");
  ASSERT_EQ(old.status, 202) << old.body;
  auto id = nlohmann::json::parse(old.body).value("deploy", "");
  ASSERT_FALSE(id.empty()) << old.body;
  nlohmann::json record;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto shown = nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out, nullptr, false);
    for (const auto& d : shown) {
      if (d.value("id", "") == id) record = d;
    }
    std::string status = record.is_object() ? record.value("status", "") : "";
    if (status != "" && status != "queued" && status != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(record.is_object());
  EXPECT_EQ(record.value("status", ""), "ignored") << record.dump();
  EXPECT_NE(record.value("error", "").find("not the head of branch main"), std::string::npos)
      << record.dump();
  auto now = httpRequest(server->port(), "docs.example.test", "/");
  EXPECT_EQ(now.body, "second\n");
  EXPECT_EQ(now.headers["x-cutover-version"], live);
}

TEST_F(PipelineServeTest, PollingDeploysANewCommitOnTheBranch) {
  writeConfig("poll_interval = 1\n");
  auto first = repo_.commit(page("polled one"), "First");
  repo_.push();
  auto server = serve();
  EXPECT_EQ(waitForBody(server->port(), "docs.localhost", "polled one\n").substr(0, 7),
            first.substr(0, 7));
  auto second = repo_.commit(page("polled two"), "Second");
  repo_.push();
  EXPECT_EQ(waitForBody(server->port(), "docs.localhost", "polled two\n").substr(0, 7),
            second.substr(0, 7));
  auto shown = nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out);
  ASSERT_GE(shown.size(), 2U);
  EXPECT_EQ(shown[0]["trigger"], "poll");
  EXPECT_EQ(shown[0]["commit"], second);
  // Nothing new on the branch: no more deploys.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out).size(), shown.size());
}

TEST_F(PipelineServeTest, LogsFollowTailsARunningBuildToItsEnd) {
  writeConfig("");
  repo_.commit("echo 'step one'\nsleep 0.5\necho 'step two'\nsleep 0.5\necho 'step three' >&2\n" +
                   page("followed"),
               "Slow");
  repo_.push();
  auto server = serve();
  auto queued = cutover({"pipeline", "run", "docs", "--no-wait"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  // "cutover: deploy ID of docs queued"
  auto id_at = queued.out.find("deploy ") + 7;
  std::string id = queued.out.substr(id_at, queued.out.find(' ', id_at) - id_at);
  auto follow = std::async(std::launch::async, [&] { return cutover({"logs", id, "--follow"}); });
  ASSERT_EQ(follow.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto followed = follow.get();
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  auto one = followed.out.find("step one");
  auto two = followed.out.find("step two");
  auto three = followed.out.find("step three");
  ASSERT_NE(one, std::string::npos) << followed.out;
  ASSERT_NE(two, std::string::npos) << followed.out;
  ASSERT_NE(three, std::string::npos) << followed.out;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
  EXPECT_NE(followed.out.find("succeeded"), std::string::npos) << followed.out;
  EXPECT_FALSE(waitForBody(server->port(), "docs.localhost", "followed\n").empty());
}

// `pipeline run --preview` through the running pipeline: the build says it is a preview, its
// version answers at its preview host, and the live site stays as it was.
TEST_F(PipelineServeTest, APreviewRunAnswersAtItsPreviewHostAndLeavesTheLiveSite) {
  writeConfig("");
  repo_.commit("mkdir -p public && echo \"$CUTOVER_CONTEXT\" > public/index.html\n", "Context");
  repo_.push();
  auto server = serve();
  auto live = cutover({"pipeline", "run", "docs", "--quiet"});
  ASSERT_EQ(live.exit_code, 0) << live.out << live.err;
  auto live_version = waitForBody(server->port(), "docs.example.test", "production\n");
  ASSERT_FALSE(live_version.empty());
  auto preview = cutover({"pipeline", "run", "docs", "--preview", "--quiet"});
  ASSERT_EQ(preview.exit_code, 0) << preview.out << preview.err;
  // "cutover: built 1a2b3c4 as a preview of docs, not live: version V answers at ..."
  auto at = preview.out.find("not live: version ");
  ASSERT_NE(at, std::string::npos) << preview.out;
  at += 18;
  std::string version = preview.out.substr(at, preview.out.find(' ', at) - at);
  EXPECT_NE(version, live_version);
  EXPECT_EQ(waitForBody(server->port(), version + "--docs.localhost", "preview\n"), version);
  EXPECT_EQ(httpRequest(server->port(), "docs.example.test", "/").body, "production\n");
  auto shown = nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out);
  ASSERT_GE(shown.size(), 2U);
  EXPECT_EQ(shown[0]["preview"], true);
  EXPECT_EQ(shown[0]["activated"], false);
}

// Branch and pull-request previews end to end: a push to a preview branch builds it at its alias
// and leaves production alone; a pull request opened builds at pr-N, new commits flip it, a
// tested preview is promoted as it is, and closing the request retires the alias and lets gc
// collect what only it used. `pipeline run --branch` of another branch never goes live.
TEST_F(PipelineServeTest, BranchAndPullRequestPreviewsFlipTheirAliasAndNeverProduction) {
  writeConfig("[sites.docs.previews]\nbranches = [\"feature/*\"]\n");
  auto production = repo_.commit(page("production"), "Production");
  repo_.push();
  auto server = serve();
  auto port = server->port();
  ASSERT_EQ(githubPush("main", production, "s3cret").status, 202);
  auto live = waitForBody(port, "docs.example.test", "production\n", 30);
  ASSERT_FALSE(live.empty());

  repo_.checkout("feature/login");
  auto login = repo_.commit(page("login one"), "Login");
  repo_.push("feature/login");
  auto pushed = githubPush("feature/login", login, "s3cret");
  ASSERT_EQ(pushed.status, 202) << pushed.body;
  EXPECT_NE(pushed.body.find("preview"), std::string::npos) << pushed.body;
  EXPECT_FALSE(waitForBody(port, "feature-login--docs.localhost", "login one\n", 30).empty());
  EXPECT_EQ(httpRequest(port, "docs.example.test", "/").body, "production\n");

  auto first = repo_.commit(page("pr one"), "PR one");
  repo_.push("HEAD:refs/pull/7/head");
  ASSERT_EQ(githubPull("opened", 7, first).status, 202);
  auto pr_one = waitForBody(port, "pr-7--docs.localhost", "pr one\n", 30);
  ASSERT_FALSE(pr_one.empty());
  auto second = repo_.commit(page("pr two"), "PR two");
  repo_.push("HEAD:refs/pull/7/head");
  ASSERT_EQ(githubPull("synchronize", 7, second).status, 202);
  auto pr_two = waitForBody(port, "pr-7--docs.localhost", "pr two\n", 30);
  ASSERT_FALSE(pr_two.empty());
  EXPECT_NE(pr_two, pr_one);
  EXPECT_EQ(httpRequest(port, "docs.example.test", "/").body, "production\n");

  auto listed = nlohmann::json::parse(cutover({"previews", "docs", "--json"}).out);
  ASSERT_EQ(listed.size(), 2U) << listed.dump();
  EXPECT_EQ(listed[0]["alias"], "feature-login");
  EXPECT_EQ(listed[0]["branch"], "feature/login");
  EXPECT_EQ(listed[1]["alias"], "pr-7");
  EXPECT_EQ(listed[1]["version"], pr_two);

  // Promote: the preview's own version goes live, the same bytes, nothing rebuilt.
  auto before = deployCount();
  auto promoted = cutover({"promote", "docs", "pr-7"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  EXPECT_EQ(waitForBody(port, "docs.example.test", "pr two\n"), pr_two);
  EXPECT_EQ(deployCount(), before + 1);  // the flip is recorded; no build ran

  // Closed: the alias stops answering, and gc collects the version only it used.
  auto closed = githubPull("closed", 7, second);
  ASSERT_EQ(closed.status, 202) << closed.body;
  EXPECT_NE(closed.body.find("pr-7--docs"), std::string::npos) << closed.body;
  EXPECT_EQ(httpRequest(port, "pr-7--docs.localhost", "/").status, 404);
  auto gc = cutover({"gc", "--keep", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_NE(gc.out.find("removed version docs/" + pr_one), std::string::npos) << gc.out;
  EXPECT_EQ(gc.out.find("docs/" + pr_two), std::string::npos) << gc.out;  // live now
  EXPECT_EQ(httpRequest(port, "feature-login--docs.localhost", "/").body, "login one\n");

  // Another branch through `pipeline run`: a preview at its alias, never live.
  auto run = cutover({"pipeline", "run", "docs", "--branch", "feature/login", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("not live"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("feature-login--docs"), std::string::npos) << run.out;
  EXPECT_EQ(httpRequest(port, "docs.example.test", "/").body, "pr two\n");
}

// A locked site: a push is answered saying so, built and stored, and not made live; after
// `unlock` the next push goes live.
TEST_F(PipelineServeTest, APushToALockedSiteIsBuiltButNotMadeLiveUntilUnlock) {
  writeConfig("");
  auto first = repo_.commit(page("first"), "First");
  repo_.push();
  auto server = serve();
  ASSERT_EQ(githubPush("main", first, "s3cret").status, 202);
  ASSERT_FALSE(waitForBody(server->port(), "docs.example.test", "first\n", 30).empty());
  ASSERT_EQ(cutover({"lock", "docs", "--reason", "QA in progress"}).exit_code, 0);

  auto second = repo_.commit(page("second"), "Second");
  repo_.push();
  auto pushed = githubPush("main", second, "s3cret");
  ASSERT_EQ(pushed.status, 202) << pushed.body;
  EXPECT_NE(pushed.body.find("are locked (QA in progress)"), std::string::npos) << pushed.body;
  std::string id = nlohmann::json::parse(pushed.body).value("deploy", "");
  auto finished = cutover({"logs", id, "--follow"});
  EXPECT_EQ(finished.exit_code, 0) << finished.out << finished.err;
  auto shown = nlohmann::json::parse(cutover({"deploys", "docs", "--json"}).out);
  ASSERT_GE(shown.size(), 2U);
  EXPECT_EQ(shown[0]["id"], id);
  EXPECT_EQ(shown[0]["status"], "succeeded");
  EXPECT_EQ(shown[0]["locked"], true);
  EXPECT_EQ(shown[0]["activated"], false);
  EXPECT_EQ(httpRequest(server->port(), "docs.example.test", "/").body, "first\n");
  // A build run by hand says it was not made live, and why.
  auto by_hand = cutover({"pipeline", "run", "docs", "--quiet"});
  EXPECT_EQ(by_hand.exit_code, 0) << by_hand.out << by_hand.err;
  EXPECT_NE(by_hand.out.find("not live: its deploys are locked"), std::string::npos) << by_hand.out;
  EXPECT_EQ(by_hand.out.find("→ live"), std::string::npos) << by_hand.out;
  EXPECT_EQ(httpRequest(server->port(), "docs.example.test", "/").body, "first\n");

  ASSERT_EQ(cutover({"unlock", "docs"}).exit_code, 0);
  auto third = repo_.commit(page("third"), "Third");
  repo_.push();
  ASSERT_EQ(githubPush("main", third, "s3cret").status, 202);
  EXPECT_FALSE(waitForBody(server->port(), "docs.example.test", "third\n", 30).empty());
}

TEST_F(PipelineServeTest, AnArchiveQueuedWhileThePipelineRunsGoesLive) {
  writeConfig("");
  auto site = dir_ / "site";
  std::filesystem::create_directories(site);
  testing::writeFile(site / "index.html", "from an archive\n");
  auto archive = dir_ / "site.tar.gz";
  ASSERT_EQ(
      std::system(("tar -czf '" + archive.string() + "' -C '" + site.string() + "' .").c_str()), 0);
  auto server = serve();
  auto r = cutover({"pipeline", "run", "docs", "--archive", archive.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(waitForBody(server->port(), "docs.example.test", "from an archive\n").empty());
  // A broken archive fails its deploy and leaves the live version alone.
  testing::writeFile(dir_ / "broken.tar.gz", "this is not gzip");
  auto broken =
      cutover({"pipeline", "run", "docs", "--archive", (dir_ / "broken.tar.gz").string()});
  EXPECT_EQ(broken.exit_code, 1) << broken.out << broken.err;
  EXPECT_NE(broken.out.find("unchanged"), std::string::npos) << broken.out;
  EXPECT_EQ(httpRequest(server->port(), "docs.example.test", "/").body, "from an archive\n");
}

}  // namespace
}  // namespace cutover
