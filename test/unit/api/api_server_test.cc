#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <set>
#include <stdexcept>
#include <thread>

#include "api_fixture.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/schedule.h"
#include "cutover/pointer/aliases.h"
#include "cutover/pointer/records.h"
#include "runs/history.h"

namespace cutover {

using testing::writeFile;

void ApiTest::start(ApiOptions options) {
  if (!objects_) {
    objects_ = makeObjectStore((dir_ / "objects").string());
    pointers_ = makePointerStore((dir_ / "pointers").string());
    auto history = History::open(dir_ / "deploys.sqlite");
    ASSERT_TRUE(history) << history.error().message;
    history_ = std::move(*history);
    auto tokens = TokenStore::open(dir_ / "tokens.sqlite");
    ASSERT_TRUE(tokens) << tokens.error().message;
    tokens_ = std::move(*tokens);
    docs_token_ = tokens_->create(TokenScope::deploy, "docs", "ci")->secret;
    release_token_ = tokens_->create(TokenScope::release, "docs", "release")->secret;
    other_token_ = tokens_->create(TokenScope::deploy, "other", "")->secret;
    admin_token_ = tokens_->create(TokenScope::admin, "", "ops")->secret;
  }
  options.listen = "127.0.0.1:0";
  options.site_url = "http://{site}.localhost:9999/";
  server_ = makeApiServer(
      ApiContext{objects_, pointers_, history_.get(), tokens_.get(), nullptr, dir_.path()},
      std::move(options));
  auto started = server_->start();
  ASSERT_TRUE(started) << started.error().message;
  port_ = server_->port();
}

std::string ApiTest::deployLocal(const std::string& tag, bool activate) {
  auto folder = dir_ / ("site-" + tag);
  writeFile(folder / "index.html", "<h1>" + tag + "</h1>");
  writeFile(folder / "app.js", "console.log('" + tag + "')");
  DeployOptions options;
  options.site = "docs";
  options.source = folder;
  options.activate = activate;
  options.precompress = false;
  auto report = deploy(pipeline(), options);
  EXPECT_TRUE(report) << report.error().message;
  return report ? report->version : "";
}

std::string ApiTest::live(const std::string& site) {
  auto pointer = readLivePointer(*pointers_, site);
  return pointer && *pointer ? (*pointer)->version : "";
}

std::size_t ApiTest::versionCount(const std::string& site) {
  auto versions = objects_->listVersions(site);
  return versions ? versions->size() : 0;
}

std::size_t ApiTest::deployCount(const std::string& site) {
  auto list = history_->list(site, 1000);
  return list ? list->size() : 0;
}

testing::HttpResponse ApiTest::call(const std::string& method, const std::string& target,
                                    const std::string& token, const std::string& body,
                                    std::vector<std::string> headers) {
  if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
  return testing::httpSend(port_, method, target, headers, body);
}

void ApiTest::sendAndHangUp(const std::string& head, const std::string& body_part) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string bytes = head + body_part;
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::close(fd);
}

namespace {

// A .tar.gz of a small site, made with tar(1).
std::string makeTarGz(const testing::TempDir& dir, const std::string& tag) {
  auto folder = dir / ("tar-" + tag);
  writeFile(folder / "index.html", "<h1>" + tag + " from an archive</h1>");
  writeFile(folder / "css" / "site.css", "body { color: black }");
  auto archive = dir / (tag + ".tar.gz");
  std::string command = "tar -czf " + archive.string() + " -C " + folder.string() + " .";
  EXPECT_EQ(std::system(command.c_str()), 0);
  return testing::readFile(archive);
}

TEST_F(ApiTest, HealthNeedsNoTokenAndEveryOtherRouteDoes) {
  auto health = call("GET", "/api/health", "");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(json(health)["status"], "ok");

  auto sites = call("GET", "/api/sites", "");
  EXPECT_EQ(sites.status, 401);
  EXPECT_EQ(json(sites)["error"]["code"], "unauthorized");
  EXPECT_EQ(sites.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(call("GET", "/api/sites", "cut_" + std::string(64, '0')).status, 401);

  auto unknown = call("GET", "/api/nothing", admin_token_);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json(unknown)["error"]["code"], "not_found");
  auto wrong_method = call("DELETE", "/api/sites/docs/rollback", admin_token_);
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.headers["allow"], "POST");
}

TEST_F(ApiTest, RefusedRequestsChangeNothing) {
  std::string v1 = deployLocal("v1");
  std::string v2 = deployLocal("v2", /*activate=*/false);
  ASSERT_EQ(live(), v1);
  std::string tar = makeTarGz(dir_, "refused");
  std::string files =
      R"({"files": {"index.html": {"hash": ")" + std::string(64, 'a') + R"(", "size": 3}}})";
  std::size_t deploys = deployCount();

  struct Attempt {
    std::string method, target, body, content_type;
  };
  std::vector<Attempt> attempts{
      {"POST", "/api/sites/docs/activate", R"({"version": ")" + v2 + "\"}", "application/json"},
      {"POST", "/api/sites/docs/rollback", "", "application/json"},
      {"POST", "/api/sites/docs/archive", tar, "application/gzip"},
      {"POST", "/api/sites/docs/deploys", files, "application/json"},
  };
  for (const auto& a : attempts) {
    std::vector<std::string> headers{"Content-Type: " + a.content_type};
    auto none = call(a.method, a.target, "", a.body, headers);
    EXPECT_EQ(none.status, 401) << a.target << " " << none.body;
    auto wrong = call(a.method, a.target, "cut_not-a-token", a.body, headers);
    EXPECT_EQ(wrong.status, 401) << a.target << " " << wrong.body;
    auto other = call(a.method, a.target, other_token_, a.body, headers);
    EXPECT_EQ(other.status, 403) << a.target << " " << other.body;
    EXPECT_EQ(json(other)["error"]["code"], "forbidden");
    EXPECT_NE(json(other)["error"]["message"].get<std::string>().find("not for site docs"),
              std::string::npos);
  }
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(versionCount(), 2U);
  EXPECT_EQ(deployCount(), deploys);

  // A deploy token is refused where only an admin may go; reads of its own site work.
  EXPECT_EQ(call("GET", "/api/tokens", docs_token_).status, 403);
  auto tokens = call("GET", "/api/tokens", admin_token_);
  EXPECT_EQ(tokens.status, 200);
  EXPECT_EQ(json(tokens)["tokens"].size(), 4U);
  EXPECT_EQ(tokens.body.find("cut_"), std::string::npos) << "secrets are never shown again";
  EXPECT_EQ(call("GET", "/api/sites/docs/deploys", docs_token_).status, 200);
  EXPECT_EQ(call("GET", "/api/sites/docs/deploys", other_token_).status, 403);
}

TEST_F(ApiTest, SitesShowLiveVersionsToTheTokensThatMaySeeThem) {
  std::string v1 = deployLocal("v1");
  auto mine = call("GET", "/api/sites", docs_token_);
  ASSERT_EQ(mine.status, 200) << mine.body;
  auto sites = json(mine)["sites"];
  ASSERT_EQ(sites.size(), 1U);
  EXPECT_EQ(sites[0]["site"], "docs");
  EXPECT_EQ(sites[0]["live"]["version"], v1);
  EXPECT_EQ(sites[0]["url"], "http://docs.localhost:9999/");
  EXPECT_EQ(json(call("GET", "/api/sites", other_token_))["sites"].size(), 0U);
  EXPECT_EQ(json(call("GET", "/api/sites", admin_token_))["sites"].size(), 1U);
}

TEST_F(ApiTest, ActivateAndRollbackFlipThePointer) {
  std::string v1 = deployLocal("v1");
  std::string v2 = deployLocal("v2");
  auto back = call("POST", "/api/sites/docs/rollback", release_token_);
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(json(back)["version"], v1);
  EXPECT_EQ(live(), v1);

  auto activated =
      call("POST", "/api/sites/docs/activate", release_token_, R"({"version": ")" + v2 + "\"}");
  ASSERT_EQ(activated.status, 200) << activated.body;
  EXPECT_EQ(json(activated)["previous"], v1);
  EXPECT_EQ(live(), v2);

  auto missing = call("POST", "/api/sites/docs/activate", release_token_,
                      R"({"version": "20200101-000000-abcdef"})");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("has no version"), std::string::npos);
  EXPECT_EQ(live(), v2);
}

// A rollback through the API locks deploys unless ?lock=false; a deploy token may lock its site
// but only an admin lifts a lock; every change is in the history with the token that made it.
TEST_F(ApiTest, LocksHoldARollbackAndOnlyAnAdminLiftsThem) {
  std::string v1 = deployLocal("v1");
  std::string v2 = deployLocal("v2");
  auto back = call("POST", "/api/sites/docs/rollback", release_token_);
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_NE(json(back)["locked"].get<std::string>().find("rollback"), std::string::npos);
  auto pointer = readLivePointer(*pointers_, "docs").value();
  ASSERT_TRUE(pointer->lock);
  EXPECT_EQ(pointer->lock->by.substr(0, 6), "token ");

  auto refused = call("POST", "/api/sites/docs/unlock", docs_token_);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_TRUE(readLivePointer(*pointers_, "docs").value()->lock);
  auto unlocked = call("POST", "/api/sites/docs/unlock", admin_token_);
  ASSERT_EQ(unlocked.status, 200) << unlocked.body;
  EXPECT_FALSE(readLivePointer(*pointers_, "docs").value()->lock);

  auto locked =
      call("POST", "/api/sites/docs/lock", docs_token_, R"({"reason": "waiting for QA"})");
  ASSERT_EQ(locked.status, 200) << locked.body;
  EXPECT_EQ(readLivePointer(*pointers_, "docs").value()->lock->reason, "waiting for QA");
  EXPECT_EQ(call("POST", "/api/sites/docs/lock", other_token_, "{}").status, 403);
  EXPECT_EQ(call("POST", "/api/sites/docs/lock", docs_token_, R"({"reason": 7})").status, 400);
  auto activated = call("POST", "/api/sites/docs/activate", release_token_,
                        R"({"version": ")" + v2 + R"(", "lock": "yes"})");
  EXPECT_EQ(activated.status, 400) << activated.body;
  EXPECT_EQ(live(), v1);

  // Unlocked, a rollback with ?lock=false leaves deploys free.
  ASSERT_EQ(call("POST", "/api/sites/docs/unlock", admin_token_).status, 200);
  ASSERT_EQ(call("POST", "/api/sites/docs/activate", release_token_,
                 R"({"version": ")" + v2 + R"(", "lock": false})")
                .status,
            200);
  EXPECT_EQ(live(), v2);
  ASSERT_EQ(call("POST", "/api/sites/docs/rollback?lock=false", release_token_).status, 200);
  EXPECT_EQ(live(), v1);
  EXPECT_FALSE(readLivePointer(*pointers_, "docs").value()->lock);
  auto trail = json(call("GET", "/api/sites/docs/deploys", admin_token_));
  std::vector<std::string> triggers;
  for (const auto& d : trail["deploys"]) triggers.push_back(d["trigger"]);
  EXPECT_NE(std::find(triggers.begin(), triggers.end(), "lock"), triggers.end()) << trail.dump();
  EXPECT_NE(std::find(triggers.begin(), triggers.end(), "unlock"), triggers.end());
}

// Previews through the API: listed for the site's token (not another site's), promoted to live
// as they are (the alias's version, not a rebuild), and retired.
TEST_F(ApiTest, PreviewsAreListedPromotedAndRetiredForTheSitesTokensOnly) {
  std::string live_version = deployLocal("live");
  std::string preview = deployLocal("preview", /*activate=*/false);
  AliasTarget branch{"docs", "feature/login", 0, "", 3600};
  ASSERT_TRUE(flipAlias(*pointers_, branch, preview, "d-1", std::time(nullptr)));

  EXPECT_EQ(call("GET", "/api/sites/docs/previews", other_token_).status, 403);
  auto listed = call("GET", "/api/sites/docs/previews", docs_token_);
  ASSERT_EQ(listed.status, 200) << listed.body;
  ASSERT_EQ(json(listed)["previews"].size(), 1U);
  EXPECT_EQ(json(listed)["previews"][0]["alias"], "feature-login");
  EXPECT_EQ(json(listed)["previews"][0]["version"], preview);
  EXPECT_EQ(json(listed)["previews"][0]["host"], "feature-login--docs");

  EXPECT_EQ(call("POST", "/api/sites/docs/promote", other_token_, R"({"preview": "feature-login"})")
                .status,
            403);
  EXPECT_EQ(call("POST", "/api/sites/docs/promote", release_token_, R"({"preview": 3})").status,
            400);
  auto none = call("POST", "/api/sites/docs/promote", release_token_, R"({"preview": "nope"})");
  EXPECT_EQ(none.status, 404) << none.body;
  EXPECT_EQ(live(), live_version);
  auto promoted =
      call("POST", "/api/sites/docs/promote", release_token_, R"({"preview": "feature-login"})");
  ASSERT_EQ(promoted.status, 200) << promoted.body;
  EXPECT_EQ(live(), preview);
  EXPECT_EQ(json(promoted)["previous"], live_version);
  EXPECT_FALSE(readLivePointer(*pointers_, "docs").value()->lock);  // no lock unless asked

  EXPECT_EQ(call("DELETE", "/api/sites/docs/previews/feature-login", other_token_).status, 403);
  auto removed = call("DELETE", "/api/sites/docs/previews/feature-login", release_token_);
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_FALSE(readAlias(*pointers_, "docs", "feature-login").value());
  EXPECT_EQ(call("DELETE", "/api/sites/docs/previews/feature-login", release_token_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/sites/docs/previews/..%2Fx", release_token_).status, 404);
  auto trail = json(call("GET", "/api/sites/docs/deploys", admin_token_));
  EXPECT_EQ(trail["deploys"][0]["trigger"], "promote") << trail.dump();
}

// A scheduled activation through the API: refused for another site's token, a bad time or a
// version not stored; replaced by a second one; cancelled.
TEST_F(ApiTest, AnActivationIsScheduledReplacedAndCancelled) {
  deployLocal("live");
  std::string v2 = deployLocal("v2", /*activate=*/false);
  std::string v3 = deployLocal("v3", /*activate=*/false);
  auto body = [](const std::string& v, const std::string& at) {
    return R"({"version": ")" + v + R"(", "at": )" + at + "}";
  };
  EXPECT_EQ(
      call("POST", "/api/sites/docs/schedule", other_token_, body(v2, "\"2099-01-01T00:00:00Z\""))
          .status,
      403);
  EXPECT_EQ(call("POST", "/api/sites/docs/schedule", release_token_, body(v2, "\"soon\"")).status,
            400);
  EXPECT_EQ(
      call("POST", "/api/sites/docs/schedule", release_token_, body(v2, "\"2020-01-01T00:00:00Z\""))
          .status,
      400);
  EXPECT_EQ(call("POST", "/api/sites/docs/schedule", release_token_,
                 body("20200101-000000-abcdef", "\"2026-12-31T00:00:00Z\""))
                .status,
            404);
  std::string later = std::to_string(std::time(nullptr) + 3600);
  auto first = call("POST", "/api/sites/docs/schedule", release_token_, body(v2, later));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(json(first)["replaced"], "");
  auto second = call("POST", "/api/sites/docs/schedule", release_token_, body(v3, later));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(json(second)["replaced"], v2);
  auto scheduled = listSchedules(*pointers_).value();
  ASSERT_EQ(scheduled.size(), 1U);
  EXPECT_EQ(scheduled[0].second.version, v3);
  EXPECT_EQ(scheduled[0].second.by.substr(0, 6), "token ");
  EXPECT_EQ(call("DELETE", "/api/sites/docs/schedule", other_token_).status, 403);
  auto cancelled = call("DELETE", "/api/sites/docs/schedule", release_token_);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(json(cancelled)["version"], v3);
  EXPECT_TRUE(listSchedules(*pointers_).value().empty());
  EXPECT_EQ(call("DELETE", "/api/sites/docs/schedule", release_token_).status, 404);
}

// Scopes: a deploy token deploys (and may lock, a safe stop) but does not choose what is live;
// a release token of the site does; neither reaches another site; an admin token reaches all.
TEST_F(ApiTest, ChoosingWhatIsLiveNeedsTheSitesReleaseScope) {
  std::string v1 = deployLocal("v1");
  std::string v2 = deployLocal("v2", /*activate=*/false);
  auto other_release = tokens_->create(TokenScope::release, "other", "")->secret;
  const std::string activate = R"({"version": ")" + v2 + "\"}";
  const std::string later = R"({"version": ")" + v2 + R"(", "at": 4102444800})";
  struct Route {
    std::string method, target, body;
  };
  std::vector<Route> release_routes{{"POST", "/api/sites/docs/activate", activate},
                                    {"POST", "/api/sites/docs/rollback", ""},
                                    {"POST", "/api/sites/docs/promote", R"({"preview": "x"})"},
                                    {"POST", "/api/sites/docs/schedule", later},
                                    {"DELETE", "/api/sites/docs/schedule", ""},
                                    {"POST", "/api/sites/docs/unlock", ""},
                                    {"DELETE", "/api/sites/docs/previews/x", ""}};
  for (const auto& r : release_routes) {
    auto refused = call(r.method, r.target, docs_token_, r.body);
    EXPECT_EQ(refused.status, 403) << r.target << " " << refused.body;
    EXPECT_NE(refused.body.find("--scope release"), std::string::npos) << refused.body;
    EXPECT_EQ(call(r.method, r.target, other_release, r.body).status, 403) << r.target;
  }
  EXPECT_EQ(live(), v1);
  EXPECT_TRUE(listSchedules(*pointers_).value().empty());
  EXPECT_EQ(call("POST", "/api/sites/docs/lock", docs_token_, "{}").status, 200);
  auto unlocked = call("POST", "/api/sites/docs/unlock", release_token_);
  EXPECT_EQ(unlocked.status, 200) << unlocked.body;
  auto activated = call("POST", "/api/sites/docs/activate", release_token_,
                        R"({"version": ")" + v2 + R"(", "lock": false})");
  EXPECT_EQ(activated.status, 200) << activated.body;
  EXPECT_EQ(live(), v2);
  EXPECT_EQ(call("POST", "/api/sites/docs/rollback?lock=false", admin_token_).status, 200);
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(call("GET", "/api/tokens", release_token_).status, 403);
  EXPECT_EQ(tokens_->create(TokenScope::release, "", "").error().code, Errc::invalid_argument);
}

TEST_F(ApiTest, MalformedJsonIsRefusedSayingWhere) {
  deployLocal("v1");
  auto bad = call("POST", "/api/sites/docs/activate", release_token_, R"({"version": )");
  EXPECT_EQ(bad.status, 400);
  auto message = json(bad)["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
  EXPECT_NE(message.find("column"), std::string::npos) << message;

  auto no_version = call("POST", "/api/sites/docs/activate", release_token_, R"({"v": 1})");
  EXPECT_EQ(no_version.status, 400);
  EXPECT_NE(no_version.body.find("\\\"version\\\""), std::string::npos) << no_version.body;

  auto bad_site = call("POST", "/api/sites/Not_A_Site/rollback", admin_token_);
  EXPECT_EQ(bad_site.status, 400);
}

TEST_F(ApiTest, TheOpenApiDocumentListsEveryRouteAndNoOther) {
  auto reply = call("GET", "/api/openapi.json", "");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "application/json");
  auto doc = json(reply);
  ASSERT_TRUE(doc.is_object()) << reply.body.substr(0, 200);
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::string> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, operation] : item.items()) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      std::string upper = method;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(upper + " " + path);
      EXPECT_TRUE(operation.contains("responses")) << upper << " " << path;
    }
  }
  std::set<std::string> routed;
  for (const auto& route : apiRoutes()) {
    routed.insert(std::string(route.method) + " " + std::string(route.path));
  }
  EXPECT_EQ(documented, routed);
  EXPECT_TRUE(routed.contains("POST /api/sites/{site}/archive"));
}

TEST_F(ApiTest, NumbersPastADoubleAreRefusedAndTheServerAnswersOn) {
  std::string v1 = deployLocal("v1");
  auto files = call("POST", "/api/sites/docs/deploys", docs_token_, R"({"files": 1e999999})");
  EXPECT_EQ(files.status, 400) << files.body;
  auto message = json(files)["error"]["message"].get<std::string>();
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
  EXPECT_NE(message.find("1e999999"), std::string::npos) << message;

  auto version = call("POST", "/api/sites/docs/activate", release_token_, R"({"version": 1e400})");
  EXPECT_EQ(version.status, 400) << version.body;
  auto nested = call("POST", "/api/sites/docs/deploys", docs_token_,
                     R"({"files": {"a.html": {"hash": "x", "size": -1e309}}})");
  EXPECT_EQ(nested.status, 400) << nested.body;

  EXPECT_EQ(call("GET", "/api/health", "").status, 200);
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(deployCount(), 1U);
}

TEST_F(ApiTest, ARouteThatThrowsIsA500AndTheServerAnswersOn) {
  ApiOptions options;
  options.webhook = [](const std::string&, const HeaderMap&, const std::string&) -> WebhookReply {
    throw std::runtime_error("the handler broke \xff");
  };
  restart(options);
  auto broken = call("POST", "/hooks/docs", "", "{}");
  EXPECT_EQ(broken.status, 500) << broken.body;
  auto j = json(broken);
  ASSERT_TRUE(j.is_object()) << broken.body;
  EXPECT_EQ(j["error"]["code"], "internal");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("unexpected"), std::string::npos);
  // The connection and the server go on.
  EXPECT_EQ(call("GET", "/api/health", "").status, 200);
  EXPECT_EQ(call("POST", "/hooks/docs", "", "{}").status, 500);
  EXPECT_EQ(call("GET", "/api/health", "").status, 200);
}

TEST_F(ApiTest, OversizedBodiesGet413) {
  ApiOptions options;
  options.max_json_bytes = 1024;
  options.max_upload_bytes = 4096;
  restart(options);
  std::string v1 = deployLocal("v1");

  std::string big_json = R"({"version": ")" + std::string(2000, 'a') + "\"}";
  auto json_reply = call("POST", "/api/sites/docs/activate", release_token_, big_json);
  EXPECT_EQ(json_reply.status, 413);
  EXPECT_EQ(json(json_reply)["error"]["code"], "too_large");

  auto archive = call("POST", "/api/sites/docs/archive", docs_token_, std::string(10000, 'x'),
                      {"Content-Type: application/gzip"});
  EXPECT_EQ(archive.status, 413);
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(versionCount(), 1U);
}

TEST_F(ApiTest, ArchiveUploadDeploysAndMakesItLive) {
  std::string v1 = deployLocal("v1");
  auto reply = call("POST", "/api/sites/docs/archive", docs_token_, makeTarGz(dir_, "v2"),
                    {"Content-Type: application/gzip"});
  ASSERT_EQ(reply.status, 201) << reply.body;
  auto j = json(reply);
  std::string v2 = j["version"];
  EXPECT_EQ(live(), v2);
  EXPECT_EQ(j["previous"], v1);
  EXPECT_EQ(j["live_url"], "http://docs.localhost:9999/");
  EXPECT_EQ(j["files"], 2);
  EXPECT_EQ(j["deploy"]["trigger"], "api");
  EXPECT_EQ(j["deploy"]["status"], "succeeded");
  auto manifest = objects_->readManifest("docs", v2);
  ASSERT_TRUE(manifest);
  EXPECT_TRUE(manifest->files.contains("css/site.css"));
  // The temp file is gone.
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "uploads"));

  auto detail = call("GET", "/api/deploys/" + j["deploy"]["id"].get<std::string>(), docs_token_);
  EXPECT_EQ(detail.status, 200);
  EXPECT_EQ(json(detail)["version"], v2);

  auto garbage = call("POST", "/api/sites/docs/archive", docs_token_, "not an archive at all",
                      {"Content-Type: application/gzip"});
  EXPECT_EQ(garbage.status, 400) << garbage.body;
  EXPECT_EQ(live(), v2);
  auto wrong_type =
      call("POST", "/api/sites/docs/archive", docs_token_, "x", {"Content-Type: text/plain"});
  EXPECT_EQ(wrong_type.status, 415);
}

TEST_F(ApiTest, ArchiveUploadCutOffMidBodyChangesNothing) {
  std::string v1 = deployLocal("v1");
  std::size_t deploys = deployCount();
  std::string tar = makeTarGz(dir_, "cut");
  std::string head =
      "POST /api/sites/docs/archive HTTP/1.1\r\nHost: api\r\n"
      "Authorization: Bearer " +
      docs_token_ +
      "\r\n"
      "Content-Type: application/gzip\r\nContent-Length: " +
      std::to_string(tar.size()) + "\r\n\r\n";
  sendAndHangUp(head, tar.substr(0, tar.size() / 2));
  // The server notices the hang-up at once; give it a moment, then check nothing happened.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(live(), v1);
  EXPECT_EQ(versionCount(), 1U);
  EXPECT_EQ(deployCount(), deploys);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "uploads"));
  // And the server still answers.
  EXPECT_EQ(call("GET", "/api/health", "").status, 200);
}

TEST_F(ApiTest, LogFollowStreamsUntilTheDeployFinishes) {
  DeployRecord record;
  record.site = "docs";
  record.trigger = "git";
  ASSERT_TRUE(history_->begin(record));
  auto log = dir_ / "logs" / (record.id + ".log");
  writeFile(log, "line 1\n");

  testing::HttpResponse followed;
  std::thread reader(
      [&] { followed = call("GET", "/api/deploys/" + record.id + "/log?follow=1", docs_token_); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    std::FILE* f = std::fopen(log.c_str(), "a");
    std::fputs("line 2\n", f);
    std::fclose(f);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  record.status = "succeeded";
  record.finished = nowRfc3339();
  ASSERT_TRUE(history_->update(record));
  reader.join();
  EXPECT_EQ(followed.status, 200);
  EXPECT_EQ(followed.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(followed.body, "line 1\nline 2\n");

  auto plain = call("GET", "/api/deploys/" + record.id + "/log", docs_token_);
  EXPECT_EQ(plain.body, "line 1\nline 2\n");
  EXPECT_EQ(call("GET", "/api/deploys/" + record.id + "/log", other_token_).status, 403);
  EXPECT_EQ(call("GET", "/api/deploys/d-nope/log", admin_token_).status, 404);
}

TEST_F(ApiTest, WebhookRouteCallsTheHandler) {
  EXPECT_EQ(call("POST", "/hooks/docs", "", "{}").status, 404);

  ApiOptions options;
  options.webhook = [](const std::string& site, const HeaderMap& headers, const std::string& body) {
    auto signature = headers.find("x-hub-signature-256");
    nlohmann::json j{{"site", site},
                     {"signature", signature == headers.end() ? "" : signature->second},
                     {"body", body}};
    return WebhookReply{202, j.dump()};
  };
  restart(options);
  auto reply = call("POST", "/hooks/docs", "", R"({"ref": "refs/heads/main"})",
                    {"X-Hub-Signature-256: sha256=abc", "Content-Type: application/json"});
  EXPECT_EQ(reply.status, 202);
  auto j = json(reply);
  EXPECT_EQ(j["site"], "docs");
  EXPECT_EQ(j["signature"], "sha256=abc");
  EXPECT_EQ(j["body"], R"({"ref": "refs/heads/main"})");
}

}  // namespace
}  // namespace cutover
