#include "runs/webhook.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <functional>

#include "runs/workers.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

std::string hmacHex(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", mac[i]);
  return out;
}

const std::string kSha = "4f2a1b3c4d5e6f708192a3b4c5d6e7f809102132";

std::string pushBody(const std::string& branch, const std::string& after = kSha) {
  return fmt::format(
      R"({{"ref":"refs/heads/{}","before":"0000000000000000000000000000000000000001","after":"{}",)"
      R"("pusher":{{"name":"ada","login":"ada"}},"user_username":"ada"}})",
      branch, after);
}

SiteConfig site() {
  SiteConfig s;
  s.name = "docs";
  s.repo = "/srv/git/docs.git";
  s.build = "make";
  s.webhook_secret = "s3cret";
  return s;
}

TEST(Webhook, AValidGitHubPushIsAccepted) {
  auto body = pushBody("main");
  auto v = verifyWebhook(
      site(),
      {{"x-github-event", "push"}, {"X-HUB-SIGNATURE-256", "sha256=" + hmacHex("s3cret", body)}},
      body);
  EXPECT_EQ(v.status, 202) << v.message;
  EXPECT_TRUE(v.accepted);
  EXPECT_EQ(v.provider, "github");
  EXPECT_EQ(v.branch, "main");
  EXPECT_EQ(v.after, kSha);
  EXPECT_EQ(v.pusher, "ada");
}

TEST(Webhook, AValidGiteaPushIsAccepted) {
  auto body = pushBody("main");
  // Gitea also sends GitHub's event header; its own signature is what counts.
  auto v = verifyWebhook(site(),
                         {{"X-Gitea-Event", "push"},
                          {"X-GitHub-Event", "push"},
                          {"X-Gitea-Signature", hmacHex("s3cret", body)}},
                         body);
  EXPECT_TRUE(v.accepted) << v.message;
  EXPECT_EQ(v.provider, "gitea");
  EXPECT_EQ(v.pusher, "ada");
}

TEST(Webhook, AValidGitLabPushIsAccepted) {
  auto body = pushBody("main");
  auto v =
      verifyWebhook(site(), {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "s3cret"}}, body);
  EXPECT_TRUE(v.accepted) << v.message;
  EXPECT_EQ(v.provider, "gitlab");
}

TEST(Webhook, ABadOrMissingSignatureIs401) {
  auto body = pushBody("main");
  EXPECT_EQ(verifyWebhook(site(), {{"X-GitHub-Event", "push"}}, body).status, 401);
  EXPECT_EQ(verifyWebhook(site(),
                          {{"X-GitHub-Event", "push"},
                           {"X-Hub-Signature-256", "sha256=" + hmacHex("wrong", body)}},
                          body)
                .status,
            401);
  // A signature of another body.
  EXPECT_EQ(verifyWebhook(site(),
                          {{"X-GitHub-Event", "push"},
                           {"X-Hub-Signature-256", "sha256=" + hmacHex("s3cret", body + " ")}},
                          body)
                .status,
            401);
  EXPECT_EQ(
      verifyWebhook(site(), {{"X-Gitea-Event", "push"}, {"X-Gitea-Signature", "zz"}}, body).status,
      401);
  EXPECT_EQ(
      verifyWebhook(site(), {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "s3cre"}}, body)
          .status,
      401);
  // A site without a secret takes no webhook at all.
  auto open = site();
  open.webhook_secret.clear();
  EXPECT_EQ(verifyWebhook(open,
                          {{"X-GitHub-Event", "push"},
                           {"X-Hub-Signature-256", "sha256=" + hmacHex("", body)}},
                          body)
                .status,
            401);
}

TEST(Webhook, TheSecretCanComeFromAnEnvironmentVariable) {
  auto s = site();
  s.webhook_secret.clear();
  s.secret_env = "CUTOVER_TEST_WEBHOOK_SECRET";
  ::setenv("CUTOVER_TEST_WEBHOOK_SECRET", "from-env", 1);
  auto body = pushBody("main");
  auto v =
      verifyWebhook(s, {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "from-env"}}, body);
  ::unsetenv("CUTOVER_TEST_WEBHOOK_SECRET");
  EXPECT_TRUE(v.accepted) << v.message;
}

TEST(Webhook, OtherBranchesEventsAndTagsAreIgnored) {
  auto signedGitHub = [](const std::string& event, const std::string& body) {
    return verifyWebhook(
        site(),
        {{"X-GitHub-Event", event}, {"X-Hub-Signature-256", "sha256=" + hmacHex("s3cret", body)}},
        body);
  };
  auto other = signedGitHub("push", pushBody("feature"));
  EXPECT_EQ(other.status, 202);
  EXPECT_FALSE(other.accepted);
  EXPECT_NE(other.message.find("branch feature"), std::string::npos) << other.message;
  auto ping = signedGitHub("ping", R"({"zen":"hi"})");
  EXPECT_EQ(ping.status, 202);
  EXPECT_FALSE(ping.accepted);
  EXPECT_NE(ping.message.find("not a push"), std::string::npos);
  auto tag = signedGitHub("push", R"({"ref":"refs/tags/v1","after":")" + kSha + R"("})");
  EXPECT_FALSE(tag.accepted);
  EXPECT_EQ(tag.status, 202);
  auto deleted = signedGitHub("push", pushBody("main", std::string(40, '0')));
  EXPECT_FALSE(deleted.accepted);
  EXPECT_EQ(deleted.status, 202);
}

TEST(Webhook, AMalformedBodyIs400) {
  auto bad = [](const std::string& body) {
    return verifyWebhook(
        site(),
        {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", "sha256=" + hmacHex("s3cret", body)}},
        body);
  };
  EXPECT_EQ(bad("{not json").status, 400);
  EXPECT_EQ(bad(R"({"ref":"refs/heads/main"})").status, 400);
  EXPECT_EQ(bad(pushBody("main", "xyz")).status, 400);
  EXPECT_EQ(verifyWebhook(site(), {{"Content-Type", "application/json"}}, "{}").status, 400);
}

TEST(Webhook, AcceptQueuesTheCommitAndARejectionQueuesNothing) {
  testing::TempDir dir;
  auto history = History::open(dir / "deploys.sqlite").value();
  auto objects = makeObjectStore((dir / "objects").string());
  auto pointers = makePointerStore((dir / "pointers").string());
  Config config;
  config.sites.push_back(site());
  WorkersOptions options;
  options.data_dir = dir.path();
  options.only_sites = {"none"};  // take nothing: this test looks at the queue only
  options.poll = false;
  auto workers =
      Workers::start(config, {objects.get(), pointers.get(), history.get()}, options).value();

  auto body = pushBody("main");
  auto rejected = acceptWebhook(
      *workers, site(), {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", "sha256=00"}}, body);
  EXPECT_EQ(rejected.status, 401);
  EXPECT_TRUE(history->list("docs", 10).value().empty());

  auto v = acceptWebhook(
      *workers, site(),
      {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", "sha256=" + hmacHex("s3cret", body)}},
      body);
  EXPECT_EQ(v.status, 202);
  ASSERT_FALSE(v.deploy_id.empty()) << v.message;
  auto queued = history->find(v.deploy_id).value();
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->status, "queued");
  EXPECT_EQ(queued->trigger, "webhook");
  EXPECT_EQ(queued->commit, kSha);
  EXPECT_EQ(queued->branch, "main");
}

// Each provider's delivery id is remembered: the same delivery again (by id, or the same signed
// body under another id) is answered 200 "already received" and queues nothing; a forged one is
// not remembered at all.
TEST(Webhook, AReplayedDeliveryIsAnsweredAndQueuesNothing) {
  testing::TempDir dir;
  auto history = History::open(dir / "deploys.sqlite").value();
  auto objects = makeObjectStore((dir / "objects").string());
  auto pointers = makePointerStore((dir / "pointers").string());
  Config config;
  config.sites.push_back(site());
  WorkersOptions options;
  options.data_dir = dir.path();
  options.only_sites = {"none"};
  options.poll = false;
  auto workers =
      Workers::start(config, {objects.get(), pointers.get(), history.get()}, options).value();
  WebhookDeliveries deliveries;

  struct Provider {
    std::string name;
    std::function<WebhookHeaders(const std::string& body, const std::string& id)> headers;
  };
  std::vector<Provider> providers{
      {"github",
       [](const std::string& body, const std::string& id) {
         return WebhookHeaders{{"X-GitHub-Event", "push"},
                               {"X-Hub-Signature-256", "sha256=" + hmacHex("s3cret", body)},
                               {"X-GitHub-Delivery", id}};
       }},
      {"gitea",
       [](const std::string& body, const std::string& id) {
         return WebhookHeaders{{"X-Gitea-Event", "push"},
                               {"X-Gitea-Signature", hmacHex("s3cret", body)},
                               {"X-Gitea-Delivery", id}};
       }},
      {"gitlab", [](const std::string&, const std::string& id) {
         return WebhookHeaders{{"X-Gitlab-Event", "Push Hook"},
                               {"X-Gitlab-Token", "s3cret"},
                               {"X-Gitlab-Event-UUID", id}};
       }}};
  std::size_t queued = 0;
  for (std::size_t i = 0; i < providers.size(); ++i) {
    const auto& p = providers[i];
    std::string sha = kSha.substr(0, 39) + std::to_string(i);
    auto body = pushBody("main", sha);
    auto first = acceptWebhook(*workers, site(), p.headers(body, p.name + "-1"), body, &deliveries);
    ASSERT_EQ(first.status, 202) << p.name << ": " << first.message;
    EXPECT_EQ(first.delivery, p.name + "-1");
    ++queued;
    auto again = acceptWebhook(*workers, site(), p.headers(body, p.name + "-1"), body, &deliveries);
    EXPECT_EQ(again.status, 200) << p.name;
    EXPECT_NE(again.message.find("already received"), std::string::npos) << again.message;
    EXPECT_TRUE(again.deploy_id.empty());
    auto renamed =
        acceptWebhook(*workers, site(), p.headers(body, p.name + "-other"), body, &deliveries);
    EXPECT_EQ(renamed.status, 200) << p.name;
    // Another push (another body) under a reused id is a replay too.
    auto other = pushBody("main", kSha.substr(0, 38) + "9" + std::to_string(i));
    EXPECT_EQ(
        acceptWebhook(*workers, site(), p.headers(other, p.name + "-1"), other, &deliveries).status,
        200);
    EXPECT_EQ(history->list("docs", 100).value().size(), queued) << p.name;
  }
  // A forged delivery is refused and not remembered: the real one with its id still goes through.
  auto body = pushBody("main", std::string(40, 'a'));
  auto forged = WebhookHeaders{{"X-GitHub-Event", "push"},
                               {"X-Hub-Signature-256", "sha256=" + std::string(64, '0')},
                               {"X-GitHub-Delivery", "real-id"}};
  EXPECT_EQ(acceptWebhook(*workers, site(), forged, body, &deliveries).status, 401);
  EXPECT_EQ(
      acceptWebhook(*workers, site(), providers[0].headers(body, "real-id"), body, &deliveries)
          .status,
      202);
}

}  // namespace
}  // namespace cutover

namespace cutover {
namespace {

std::string githubPull(const std::string& action, int number, const std::string& head_sha,
                       const std::string& head_repo = "acme/docs") {
  return fmt::format(
      R"({{"action":"{}","number":{},"pull_request":{{"number":{},)"
      R"("head":{{"sha":"{}","ref":"feature/login","repo":{{"full_name":"{}"}}}},)"
      R"("base":{{"ref":"main","repo":{{"full_name":"acme/docs"}}}}}},"sender":{{"login":"ada"}}}})",
      action, number, number, head_sha, head_repo);
}

WebhookVerdict signedGitHub(const SiteConfig& s, const std::string& event,
                            const std::string& body) {
  return verifyWebhook(
      s, {{"X-GitHub-Event", event}, {"X-Hub-Signature-256", "sha256=" + hmacHex("s3cret", body)}},
      body);
}

// A push to a branch the site lists under previews.branches builds a preview of it; a push to
// another branch is ignored, saying how to build it; deleting a preview branch retires its alias.
TEST(Webhook, APushToAPreviewBranchIsAPreviewBuildAndOthersAreIgnoredSayingWhy) {
  SiteConfig s = site();
  s.previews.branches = {"feature/*"};
  auto preview = signedGitHub(s, "push", pushBody("feature/login"));
  EXPECT_EQ(preview.status, 202) << preview.message;
  EXPECT_TRUE(preview.accepted);
  EXPECT_TRUE(preview.preview);
  EXPECT_EQ(preview.branch, "feature/login");
  auto production = signedGitHub(s, "push", pushBody("main"));
  EXPECT_TRUE(production.accepted);
  EXPECT_FALSE(production.preview);
  auto other = signedGitHub(s, "push", pushBody("experiment"));
  EXPECT_FALSE(other.accepted);
  EXPECT_NE(other.message.find("previews.branches"), std::string::npos) << other.message;
  auto deleted = signedGitHub(s, "push", pushBody("feature/login", std::string(40, '0')));
  EXPECT_FALSE(deleted.accepted);
  EXPECT_TRUE(deleted.retire);
  EXPECT_EQ(deleted.branch, "feature/login");
}

// GitHub, Gitea and GitLab pull/merge requests: opened, new commits or reopened build the head
// as a preview of the request; closed or merged retire it; a fork's is not built by default.
TEST(Webhook, PullRequestsBuildPreviewsAndClosingRetiresThem) {
  SiteConfig s = site();
  auto opened = signedGitHub(s, "pull_request", githubPull("opened", 7, kSha));
  EXPECT_EQ(opened.status, 202) << opened.message;
  EXPECT_TRUE(opened.accepted);
  EXPECT_TRUE(opened.preview);
  EXPECT_EQ(opened.pr, 7U);
  EXPECT_EQ(opened.after, kSha);
  EXPECT_EQ(opened.head_ref, "refs/pull/7/head");
  EXPECT_EQ(opened.branch, "feature/login");
  EXPECT_TRUE(signedGitHub(s, "pull_request", githubPull("synchronize", 7, kSha)).accepted);
  EXPECT_TRUE(signedGitHub(s, "pull_request", githubPull("reopened", 7, kSha)).accepted);
  auto labeled = signedGitHub(s, "pull_request", githubPull("labeled", 7, kSha));
  EXPECT_FALSE(labeled.accepted);
  EXPECT_FALSE(labeled.retire);
  auto closed = signedGitHub(s, "pull_request", githubPull("closed", 7, kSha));
  EXPECT_FALSE(closed.accepted);
  EXPECT_TRUE(closed.retire);
  EXPECT_EQ(closed.pr, 7U);

  auto fork = signedGitHub(s, "pull_request", githubPull("opened", 8, kSha, "mallory/docs"));
  EXPECT_FALSE(fork.accepted);
  EXPECT_NE(fork.message.find("fork"), std::string::npos) << fork.message;
  s.previews.forks = true;
  EXPECT_TRUE(
      signedGitHub(s, "pull_request", githubPull("opened", 8, kSha, "mallory/docs")).accepted);
  s.previews.pull_requests = false;
  auto off = signedGitHub(s, "pull_request", githubPull("opened", 7, kSha));
  EXPECT_FALSE(off.accepted);
  EXPECT_NE(off.message.find("pull_requests = false"), std::string::npos) << off.message;
  EXPECT_EQ(signedGitHub(site(), "pull_request", githubPull("opened", 7, "nope")).status, 400);
  EXPECT_EQ(signedGitHub(site(), "pull_request", R"({"action":"opened"})").status, 400);

  std::string gitea = githubPull("synchronized", 3, kSha);
  auto v = verifyWebhook(
      site(), {{"X-Gitea-Event", "pull_request"}, {"X-Gitea-Signature", hmacHex("s3cret", gitea)}},
      gitea);
  EXPECT_TRUE(v.accepted) << v.message;
  EXPECT_EQ(v.head_ref, "refs/pull/3/head");

  auto gitlab = [](const std::string& action, const std::string& extra) {
    std::string body = fmt::format(
        R"({{"object_kind":"merge_request","user":{{"username":"ada"}},"object_attributes":)"
        R"({{"iid":12,"action":"{}","source_branch":"fix","source_project_id":5,)"
        R"("target_project_id":5,"last_commit":{{"id":"{}"}}{}}}}})",
        action, kSha, extra);
    return verifyWebhook(
        site(), {{"X-Gitlab-Event", "Merge Request Hook"}, {"X-Gitlab-Token", "s3cret"}}, body);
  };
  auto mr = gitlab("open", "");
  EXPECT_TRUE(mr.accepted) << mr.message;
  EXPECT_EQ(mr.pr, 12U);
  EXPECT_EQ(mr.head_ref, "refs/merge-requests/12/head");
  EXPECT_EQ(mr.pusher, "ada");
  EXPECT_FALSE(gitlab("update", "").accepted);  // a title edit: no new commits
  EXPECT_TRUE(gitlab("update", R"(,"oldrev":"0123")").accepted);
  EXPECT_TRUE(gitlab("merge", "").retire);
}

}  // namespace
}  // namespace cutover
