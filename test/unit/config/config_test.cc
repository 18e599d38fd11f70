#include "cutover/config/config.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace cutover {
namespace {

constexpr std::string_view kExample = R"toml(
data_dir = "data"
workers = 3

[serve]
listen = "0.0.0.0:8080"

[sites.docs]
repo = "repos/docs.git"
branch = "live"
build = "npm ci && npm run build"
output = "dist"
build_timeout = "5m"
hosts = ["Docs.Example.com"]
poll_interval = 30
secret_env = "DOCS_WEBHOOK_SECRET"
sandbox = true
sandbox_network = true

[sites.docs.env]
NODE_ENV = "production"

[sites.docs.settings]
spa = true
max_age = "1h"

[sites.blog]
hosts = ["blog.example.com"]
)toml";

Result<Config> parse(std::string_view text) {
  return parseConfig(text, "/etc/cutover/cutover.toml");
}

TEST(Config, ParsesSitesAndTheirSettings) {
  auto config = parse(kExample);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->data_dir, "/etc/cutover/data");
  EXPECT_EQ(config->workers, 3U);
  EXPECT_EQ(config->serve_listen, "0.0.0.0:8080");
  EXPECT_EQ(config->api_listen, "127.0.0.1:8081");
  ASSERT_EQ(config->sites.size(), 2U);
  const auto* docs = config->site("docs");
  ASSERT_NE(docs, nullptr);
  EXPECT_EQ(docs->repo, "/etc/cutover/repos/docs.git");
  EXPECT_EQ(docs->branch, "live");
  EXPECT_EQ(docs->build, "npm ci && npm run build");
  EXPECT_EQ(docs->output, "dist");
  EXPECT_EQ(docs->build_timeout, std::chrono::seconds(300));
  EXPECT_EQ(docs->poll_interval, std::chrono::seconds(30));
  EXPECT_EQ(docs->hosts, std::vector<std::string>{"docs.example.com"});
  EXPECT_EQ(docs->env.at("NODE_ENV"), "production");
  EXPECT_EQ(docs->spa, true);
  EXPECT_EQ(docs->max_age, 3600U);
  EXPECT_TRUE(docs->sandbox);
  EXPECT_TRUE(docs->network);
  EXPECT_TRUE(docs->builds());
  const auto* blog = config->site("blog");
  ASSERT_NE(blog, nullptr);
  EXPECT_FALSE(blog->builds());
  EXPECT_EQ(config->site("nope"), nullptr);

  ::setenv("DOCS_WEBHOOK_SECRET", "abc", 1);
  EXPECT_EQ(docs->resolveWebhookSecret(), "abc");
  ::unsetenv("DOCS_WEBHOOK_SECRET");
  EXPECT_EQ(docs->resolveWebhookSecret(), "");
}

TEST(Config, UrlsStayAsWritten) {
  auto config = parse(
      "[sites.a]\nrepo = \"https://github.com/x/a.git\"\nbuild = \"make\"\n"
      "[sites.b]\nrepo = \"git@github.com:x/b.git\"\nbuild = \"make\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->site("a")->repo, "https://github.com/x/a.git");
  EXPECT_EQ(config->site("b")->repo, "git@github.com:x/b.git");
}

// Each bad file gets "FILE:LINE:COL: what" pointing at the problem.
void expectError(std::string_view text, const std::string& position, const std::string& words) {
  auto config = parse(text);
  ASSERT_FALSE(config) << text;
  EXPECT_EQ(config.error().code, Errc::invalid_argument);
  // "LINE:COL" must match exactly; "LINE:" (or "") only the start.
  bool exact = !position.empty() && position.back() != ':';
  EXPECT_EQ(config.error().message.rfind(
                "/etc/cutover/cutover.toml:" + position + (exact ? ": " : ""), 0),
            0U)
      << config.error().message;
  EXPECT_NE(config.error().message.find(words), std::string::npos) << config.error().message;
}

TEST(Config, BuildsAreSandboxedAndBoundedByDefaultAndTheLimitsAreSizes) {
  auto config = parseConfig(
      "[sites.a]\n[sites.b]\nsandbox = false\nnetwork = false\n"
      "build_memory = \"512MiB\"\nbuild_log_limit = 2097152\n"
      "build_file_limit = \"1GB\"\nbuild_processes = 64\n"
      "build_cache = false\n",
      "cutover.toml");
  ASSERT_TRUE(config) << config.error().message;
  const auto* a = config->site("a");
  EXPECT_TRUE(a->sandbox);
  EXPECT_TRUE(a->network);
  EXPECT_TRUE(a->build_cache);
  EXPECT_EQ(a->build_log_limit, 50U << 20);
  const auto* b = config->site("b");
  EXPECT_FALSE(b->sandbox);
  EXPECT_FALSE(b->network);
  EXPECT_FALSE(b->build_cache);
  EXPECT_EQ(b->build_memory, 512U << 20);
  EXPECT_EQ(b->build_log_limit, 2U << 20);
  EXPECT_EQ(b->build_file_limit, 1000000000U);
  EXPECT_EQ(b->build_processes, 64U);
  expectError("[sites.docs]\nbuild_memory = \"lots\"\n", "2:16", "build_memory must be a size");
  expectError("[sites.docs]\nbuild_log_limit = 10\n", "2:19", "at least 1 MiB");
}

TEST(Config, ErrorsNameTheLineAndColumn) {
  expectError("workers = 2\n[sites.docs\n", "2:", "");
  expectError("[sites.docs]\nrepo = \"/srv/docs.git\"\n", "1:8", "build command");
  expectError("[sites.Docs]\nhosts = []\n", "1:8", "site name 'Docs' is not valid");
  expectError("[sites.docs]\nbuidl = \"make\"\n", "2:1", "unknown key 'buidl'");
  expectError("[sites.docs]\nrepo = \"/r\"\nbuild = \"make\"\nbuild_timeout = \"soon\"\n", "4:17",
              "build_timeout");
  expectError("[sites.docs]\nrepo = \"/r\"\nbuild = \"make\"\noutput = \"../etc\"\n", "4:10",
              "inside the checkout");
  expectError("[sites.docs]\nrepo = \"/r\"\nbuild = \"make\"\noutput = \".\"\n", "4:10", ".git");
  expectError("workers = 0\n", "1:11", "workers");
  expectError("[sites.docs]\nsandbox = \"yes\"\n", "2:11", "true or false");
  expectError("[sites.docs]\nbuild = \"make\"\n", "2:9", "repo is not");
  expectError("[sites.a]\nhosts = [\"x.com\"]\n[sites.b]\nhosts = [\"X.com\"]\n", "",
              "more than one site");
  expectError("[api]\nport = 1\n", "2:1", "unknown key 'port'");
  expectError("[sites.docs.settings]\nmaxage = 60\n", "2:1", "unknown key 'maxage'");
  expectError("[sites.docs.settings]\nspa = 1\n", "2:7", "true or false");
}

// [sites.NAME.previews]: which branches build as previews, their aliases' lifetime and cap, and
// the variables of preview builds, per branch pattern.
TEST(Config, PreviewsNameBranchesByPatternWithTheirOwnVariables) {
  auto config = parse(R"toml(
[sites.docs]
repo = "/srv/docs.git"
build = "make"
env = { API = "https://api.example.com", MODE = "prod" }

[sites.docs.previews]
branches = ["feature/*", "release-*"]
expires = "14d"
max = 5
forks = true
env = { MODE = "preview" }

[sites.docs.previews.branch_env."release-*"]
API = "https://staging.example.com"
)toml");
  ASSERT_TRUE(config) << config.error().message;
  const PreviewConfig& p = config->site("docs")->previews;
  EXPECT_EQ(p.expires, std::chrono::hours(14 * 24));
  EXPECT_EQ(p.max, 5U);
  EXPECT_TRUE(p.pull_requests);
  EXPECT_TRUE(p.forks);
  EXPECT_TRUE(p.buildsBranch("feature/login"));
  EXPECT_TRUE(p.buildsBranch("feature/a/b"));  // '*' crosses '/'
  EXPECT_TRUE(p.buildsBranch("release-2"));
  EXPECT_FALSE(p.buildsBranch("main"));
  EXPECT_FALSE(p.buildsBranch("hotfix"));
  auto release = p.envFor("release-2");
  EXPECT_EQ(release["MODE"], "preview");
  EXPECT_EQ(release["API"], "https://staging.example.com");
  auto feature = p.envFor("feature/x");
  EXPECT_EQ(feature["MODE"], "preview");
  EXPECT_FALSE(feature.contains("API"));

  auto defaults = parse("[sites.docs]\nrepo = \"/r\"\nbuild = \"make\"\n").value();
  EXPECT_FALSE(defaults.site("docs")->previews.buildsBranch("feature"));  // none unless listed
  EXPECT_EQ(defaults.site("docs")->previews.expires, std::chrono::hours(30 * 24));
  EXPECT_FALSE(defaults.site("docs")->previews.forks);

  expectError(
      "[sites.docs]\nrepo = \"/r\"\nbuild = \"m\"\n[sites.docs.previews]\nbranches = [\"a b\"]\n",
      "5:13", "not a branch name or pattern");
  expectError("[sites.docs]\nrepo = \"/r\"\nbuild = \"m\"\n[sites.docs.previews]\nbranchs = []\n",
              "5:1", "unknown key 'branchs'");
  expectError("[sites.docs]\nrepo = \"/r\"\nbuild = \"m\"\n[sites.docs.previews]\nmax = 0\n", "5:7",
              "previews.max");
  expectError("[sites.docs]\n[sites.docs.previews]\nbranches = [\"*\"]\n", "", "repo is not");

  auto protect = parse("[sites.docs.settings]\nprotect = \"previews\"\n").value();
  EXPECT_EQ(protect.site("docs")->protect, "previews");
  expectError("[sites.docs.settings]\nprotect = \"maybe\"\n", "2:11", "\"none\", \"previews\" or");
}

TEST(Config, ApiLimitsOnPendingRemoteDeploys) {
  auto defaults = parse("");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->api_max_pending_deploys, 8U);
  EXPECT_EQ(defaults->api_max_pending_deploys_per_site, 2U);
  EXPECT_EQ(defaults->api_pending_deploy_timeout, std::chrono::minutes(15));
  auto set = parse(
      "[api]\nlisten = \"127.0.0.1:9000\"\nmax_pending_deploys = 20\n"
      "max_pending_deploys_per_site = 4\npending_deploy_timeout = \"2m\"\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->api_max_pending_deploys, 20U);
  EXPECT_EQ(set->api_max_pending_deploys_per_site, 4U);
  EXPECT_EQ(set->api_pending_deploy_timeout, std::chrono::minutes(2));
  auto zero = parse("[api]\nmax_pending_deploys = 0\n");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("api.max_pending_deploys"), std::string::npos);
  auto unknown = parse("[api]\npending = 1\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("pending_deploy_timeout"), std::string::npos);
}

TEST(Config, ConnectionBoundsForTheEdgeAndTheApi) {
  auto defaults = parse("");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->serve_connections.total);
  EXPECT_FALSE(defaults->api_connections.per_client);
  auto set = parse(
      "[serve]\nmax_connections = 500\nmax_connections_per_client = 0\n"
      "[api]\nmax_connections = 16\nmax_connections_per_client = 4\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->serve_connections.total, 500U);
  EXPECT_EQ(set->serve_connections.per_client, 0U);
  EXPECT_EQ(set->api_connections.total, 16U);
  EXPECT_EQ(set->api_connections.per_client, 4U);
  auto zero = parse("[api]\nmax_connections = 0\n");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("api.max_connections"), std::string::npos);
  auto unknown = parse("[serve]\nmax_conns = 1\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("max_connections_per_client"), std::string::npos);
}

TEST(Config, LoadsAFileAndSaysWhenItIsMissing) {
  testing::TempDir dir;
  testing::writeFile(dir / "cutover.toml", "[sites.docs]\n");
  auto config = loadConfig(dir / "cutover.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->sites.size(), 1U);
  auto missing = loadConfig(dir / "nope.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST(Config, Durations) {
  EXPECT_EQ(parseDuration("90"), std::chrono::seconds(90));
  EXPECT_EQ(parseDuration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(parseDuration("10m"), std::chrono::minutes(10));
  EXPECT_EQ(parseDuration("1h"), std::chrono::hours(1));
  EXPECT_EQ(parseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_FALSE(parseDuration("soon"));
  EXPECT_FALSE(parseDuration("-1s"));
  EXPECT_FALSE(parseDuration("5 m"));
}

TEST(Config, DurationsInDaysAndNoneThatOverflow) {
  EXPECT_EQ(parseDuration("7d"), std::chrono::hours(7 * 24));
  EXPECT_EQ(parseDuration("0"), std::chrono::milliseconds(0));
  // A number of hours whose milliseconds pass 64 bits wrapped to a small or negative duration.
  EXPECT_FALSE(parseDuration("9223372036854775h"));
  EXPECT_FALSE(parseDuration("36601d"));  // past a century
  EXPECT_EQ(parseDuration("36500d"), std::chrono::hours(36500 * 24));
}

}  // namespace
}  // namespace cutover
