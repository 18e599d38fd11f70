#include "edge/handler.h"

#include <gtest/gtest.h>

#include "cutover/common/hash.h"
#include "cutover/pointer/access.h"
#include "cutover/pointer/aliases.h"
#include "cutover/rules/parse.h"
#include "edge/cache_policy.h"
#include "edge_fixture.h"

namespace cutover::edge {
namespace {

using testing::eventually;
using testing::openPreview;
using testing::putVersion;
using testing::setHosts;
using testing::setLive;

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1_ = putVersion(*objects_, "docs", "v1",
                     {{"index.html", "<h1>one</h1>"},
                      {"about.html", "about"},
                      {"guide/index.html", "guide"},
                      {"big.bin", std::string(100, 'b')},
                      {"404.html", "custom not found"}});
    setLive(*pointers_, "docs", "v1");
    setHosts(*pointers_, "blog", {"blog.example.com"});
    ASSERT_TRUE(state_.start());
  }

  Reply& get(std::string_view target, std::string_view host = "docs.localhost",
             Method method = Method::get) {
    RequestHead head;
    head.method = method;
    head.target = target;
    head.host = host;
    head.has_host = true;
    handler_.handle(head, reply_, scratch_);
    return reply_;
  }

  static std::string body(const Reply& r) { return std::string(r.body); }

  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  RoutingState state_{objects_, pointers_, "localhost"};
  FileCache cache_{1 << 20};
  HandlerOptions options_{true, 64};  // files over 64 bytes are streamed
  Handler handler_{state_, *objects_, cache_, options_};
  Manifest v1_;
  Reply reply_;
  RequestScratch scratch_;
};

TEST_F(HandlerTest, ServesAFileWithItsHeaders) {
  Reply& r = get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r), "<h1>one</h1>");
  EXPECT_EQ(r.content_length, 12U);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.etag, "\"" + v1_.files["index.html"].hash + "\"");
  EXPECT_EQ(r.version, "v1");
  EXPECT_EQ(r.cache_control, "public, max-age=0, must-revalidate");
  EXPECT_FALSE(r.omit_body);
  EXPECT_EQ(cache_.bytes(), 12U);  // small files come from memory next time
}

TEST_F(HandlerTest, AnswersAMatchingIfNoneMatchWith304) {
  RequestHead head;
  head.target = "/about";
  head.host = "docs.localhost";
  head.has_host = true;
  std::string tag = "W/\"nope\", \"" + v1_.files["about.html"].hash + "\"";
  head.if_none_match = tag;
  head.has_if_none_match = true;
  handler_.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 304);
  EXPECT_TRUE(reply_.omit_body);
  EXPECT_FALSE(reply_.etag.empty());
  EXPECT_EQ(reply_.version, "v1");
  head.if_none_match = "\"other\"";
  handler_.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 200);
}

TEST_F(HandlerTest, HeadGetsTheHeadOfGet) {
  Reply& r = get("/about", "docs.localhost", Method::head);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.omit_body);
  EXPECT_EQ(r.content_length, 5U);
  EXPECT_FALSE(r.etag.empty());
  EXPECT_TRUE(get("/nope-host", "nope.localhost", Method::head).omit_body);
}

TEST_F(HandlerTest, RefusesOtherMethods) {
  Reply& r = get("/", "docs.localhost", Method::other);
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(r.allow);
}

TEST_F(HandlerTest, UnknownHostsGetAPlain404WithoutAVersion) {
  Reply& r = get("/", "Nope.Example.com:8080");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r), "no site is configured for host nope.example.com\n");
  EXPECT_TRUE(r.version.empty());
}

TEST_F(HandlerTest, ASiteWithoutALiveVersionGets404) {
  Reply& r = get("/", "blog.example.com");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r), "site blog has no live version\n");
}

TEST_F(HandlerTest, HostsAreNormalized) { EXPECT_EQ(get("/", "DOCS.localhost.:80").status, 200); }

TEST_F(HandlerTest, TraversalIsRefusedWith400) {
  for (const char* target : {"/../index.html", "/%2e%2e/index.html", "/a%2f..", "/%00"}) {
    EXPECT_EQ(get(target).status, 400) << target;
  }
}

TEST_F(HandlerTest, RedirectsAFolderToItsSlash) {
  Reply& r = get("/guide?x=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.location, "/guide/?x=1");
  EXPECT_EQ(r.version, "v1");
  EXPECT_EQ(get("/guide/").status, 200);
}

TEST_F(HandlerTest, MissingFilesGetTheVersions404Page) {
  Reply& r = get("/missing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r), "custom not found");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(r.etag.empty());
  EXPECT_EQ(r.version, "v1");
}

TEST_F(HandlerTest, LargeFilesAreStreamedFromTheBlob) {
  Reply& r = get("/big.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.file.valid());
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.content_length, 100U);
  EXPECT_EQ(r.content_type, "application/octet-stream");
}

TEST_F(HandlerTest, AMissingBlobIsA500) {
  ASSERT_TRUE(objects_->deleteBlob(v1_.files["about.html"].hash));
  ASSERT_TRUE(objects_->deleteBlob(v1_.files["big.bin"].hash));
  EXPECT_EQ(get("/about").status, 500);
  EXPECT_EQ(get("/big.bin").status, 500);
}

TEST_F(HandlerTest, ASizeTheBytesDoNotHaveIsNeverSent) {
  // A manifest whose sizes lie about stored blobs: one small (from memory), one large (streamed).
  Manifest lying = v1_;
  lying.version = "v2";
  lying.files = {{"cached.html", FileEntry{v1_.files["about.html"].hash, 60, "text/html"}},
                 {"streamed.bin", FileEntry{v1_.files["about.html"].hash, 5000, "text/plain"}}};
  ASSERT_TRUE(objects_->commitManifest(lying));
  openPreview(*pointers_, "docs", "v2");
  ASSERT_TRUE(eventually([&] {
    const SiteRoute* docs = state_.current()->findSite("docs");
    return docs != nullptr && docs->previewOpen("v2", std::time(nullptr));
  }));
  ASSERT_EQ(get("/about").status, 200);  // the blob's 5 real bytes are in the memory cache now
  ASSERT_EQ(cache_.bytes(), 5U);

  for (std::string_view path : {"/cached.html", "/streamed.bin"}) {
    for (std::string_view range : {"", "bytes=50-59", "bytes=0-"}) {
      RequestHead head;
      head.target = path;
      head.host = "v2--docs.localhost";
      head.has_host = true;
      head.range = range;
      head.has_range = !range.empty();
      EXPECT_NO_THROW(handler_.handle(head, reply_, scratch_)) << path << " " << range;
      EXPECT_EQ(reply_.status, 404) << path << " " << range;
      EXPECT_EQ(reply_.content_length, reply_.body.size()) << path << " " << range;
      EXPECT_FALSE(reply_.file.valid());
      // The access log still says which site and version answered.
      EXPECT_EQ(reply_.log_site, "docs");
      EXPECT_EQ(reply_.log_version, "v2");
    }
  }
  EXPECT_EQ(get("/about").status, 200);  // the honest version still answers
  EXPECT_EQ(body(reply_), "about");
}

TEST_F(HandlerTest, TheVersionHeaderCanBeTurnedOff) {
  Handler quiet(state_, *objects_, cache_, HandlerOptions{false, 64});
  RequestHead head;
  head.target = "/";
  head.host = "docs.localhost";
  head.has_host = true;
  quiet.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 200);
  EXPECT_TRUE(reply_.version.empty());
}

TEST_F(HandlerTest, Http11WithoutHostIs400) {
  RequestHead head;
  head.target = "/";
  handler_.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 400);
}

TEST(ReplyHead, ListsTheFieldsOfTheReply) {
  Reply r;
  r.status = 200;
  r.content_type = "text/plain";
  r.etag = "\"abc\"";
  r.version = "v1";
  r.content_length = 42;
  std::string head;
  appendHead(head, r, true, false);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\nDate: "));
  EXPECT_NE(head.find("\r\nContent-Length: 42\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nETag: \"abc\"\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-Cutover-Version: v1\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Connection"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
  head.clear();
  appendHead(head, r, true, true);
  EXPECT_NE(head.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  head.clear();
  r.status = 304;
  appendHead(head, r, false, false);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos);
}

// A second fixture for the rest of the request path: versions side by side, precompressed forms,
// ranges, dates, pins and previews.
class HandlerSemanticsTest : public HandlerTest {
 protected:
  void SetUp() override {
    HandlerTest::SetUp();
    v2_ = putVersion(*objects_, "docs", "v2",
                     {{"index.html", "<h1>two</h1>"},
                      {"app.3f9a1c2e.js", "console.log(2)"},
                      {"style.css", "body{}"},
                      {"text.txt", "0123456789"}});
    // Precompressed forms: the edge trusts the manifest, so any bytes stand for them here.
    br_ = storeBlob("BR-FORM");
    gz_ = storeBlob("GZIP-FORM!");
    Manifest v3 = v2_;
    v3.version = "v3";
    v3.files["text.txt"].br = Encoded{br_, 7};
    v3.files["text.txt"].gzip = Encoded{gz_, 10};
    ASSERT_TRUE(objects_->commitManifest(v3));
    setLive(*pointers_, "docs", "v2");
    // Every version's preview link open, as each deploy opens it.
    for (const char* v : {"v1", "v2", "v3"}) openPreview(*pointers_, "docs", v);
    ASSERT_TRUE(eventually(
        [&] { return get("/").version == "v2" && get("/", "v3--docs.localhost").status == 200; }));
  }

  std::string storeBlob(std::string_view bytes) {
    auto writer = objects_->newBlob();
    EXPECT_TRUE((*writer)->write(std::as_bytes(std::span(bytes.data(), bytes.size()))));
    return (*writer)->finish()->hash;
  }

  Reply& send(RequestHead head) {
    if (head.host.empty()) head.host = "docs.localhost";
    head.has_host = true;
    handler_.handle(head, reply_, scratch_);
    return reply_;
  }

  Manifest v2_;
  std::string br_, gz_;
};

TEST_F(HandlerSemanticsTest, PreviewsServeAnyStoredVersionWithNoindex) {
  Reply& r = get("/", "v1--docs.localhost");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r), "<h1>one</h1>");
  EXPECT_EQ(r.version, "v1");
  EXPECT_TRUE(r.noindex);
  EXPECT_TRUE(r.set_cookie.empty());  // a preview never pins the live site's page loads

  EXPECT_FALSE(get("/", "docs.localhost").noindex);
  Reply& missing = get("/", "v9--docs.localhost");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(body(missing).find("no open preview of version v9"), std::string::npos);
  EXPECT_EQ(get("/", "v1--nosuchsite.localhost").status, 404);
  EXPECT_EQ(get("/", "v1--docs.elsewhere.test").status, 404);
}

// A branch's or pull request's alias host serves the alias's version, flips with it, keeps a page
// load on the version it started on (pins), and stops answering once the alias expires or goes.
TEST_F(HandlerSemanticsTest, AnAliasHostFollowsItsAliasWithPinsAndStopsWhenItGoes) {
  auto now = std::time(nullptr);
  auto aliasAt = [&](const std::string& version) {
    return eventually([&] {
      const SiteRoute* docs = state_.current()->findSite("docs");
      const AliasRoute* a = docs ? docs->findAlias("feature-login", now) : nullptr;
      return a != nullptr && a->version == version;
    });
  };
  AliasTarget branch{"docs", "feature/login", 0, "", 3600};
  ASSERT_TRUE(flipAlias(*pointers_, branch, "v1", "d-1", now));
  ASSERT_TRUE(aliasAt("v1"));
  auto navigate = [&](const std::string& cookie = {}) -> Reply& {
    RequestHead head;
    head.target = "/";
    head.host = "feature-login--docs.localhost";
    head.sec_fetch_mode = "navigate";
    head.cookie = cookie;
    return send(head);
  };
  Reply& page = navigate();
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(body(page), "<h1>one</h1>");
  EXPECT_TRUE(page.noindex);
  EXPECT_NE(page.set_cookie.find("cutover_pin=v1."), std::string::npos) << page.set_cookie;
  std::string cookie = page.set_cookie.substr(0, page.set_cookie.find(';'));

  ASSERT_TRUE(flipAlias(*pointers_, branch, "v3", "d-2", now));
  ASSERT_TRUE(aliasAt("v3"));
  EXPECT_EQ(navigate(cookie).version, "v3");  // a new page load: the alias's newest
  RequestHead asset;
  asset.target = "/index.html";
  asset.host = "feature-login--docs.localhost";
  asset.sec_fetch_mode = "cors";
  asset.cookie = cookie;
  EXPECT_EQ(send(asset).version, "v1");  // the old page's requests stay on its version
  const std::string live_pin = "cutover_pin=v2." + std::to_string(now);
  asset.cookie = live_pin;  // the live version's, never this alias's
  EXPECT_EQ(send(asset).version, "v3");
  // The site's own host is untouched.
  EXPECT_EQ(get("/").version, "v2");

  ASSERT_TRUE(removeAlias(*pointers_, "docs", "feature-login"));
  ASSERT_TRUE(eventually([&] {
    const SiteRoute* docs = state_.current()->findSite("docs");
    return docs != nullptr && docs->findAlias("feature-login", now) == nullptr;
  }));
  Reply& gone = navigate();
  EXPECT_EQ(gone.status, 404);
  EXPECT_NE(body(gone).find("feature-login"), std::string::npos);

  AliasTarget old{"docs", "old", 0, "", 1};  // answers one second after its flip
  ASSERT_TRUE(flipAlias(*pointers_, old, "v1", "d-3", now - 10));
  ASSERT_TRUE(eventually([&] {
    const SiteRoute* docs = state_.current()->findSite("docs");
    return docs != nullptr && docs->aliases && docs->aliases->contains("old");
  }));
  EXPECT_EQ(get("/", "old--docs.localhost").status, 404);
}

// A protected site's previews answer only to a share link (which leaves a cookie for that one
// host and sends the browser on without the token), that cookie, or the bypass secret; never for a
// pin or ?dpl= alone; expired, tampered or other hosts' tokens open nothing; nothing protected is
// left to shared caches. With "all", the site's own hosts too; a new key voids every token.
TEST_F(HandlerSemanticsTest, AProtectedPreviewAnswersOnlyToItsLinkCookieOrBypass) {
  auto now = std::time(nullptr);
  ASSERT_TRUE(flipAlias(*pointers_, {"docs", "feature/login", 0, "", 3600}, "v1", "d-1", now));
  auto settings = updateSiteSettings(*pointers_, "docs", [](SiteSettings& s) -> Result<void> {
    s.setProtection(Protection::previews);
    return {};
  });
  ASSERT_TRUE(settings);
  const std::string key = settings->access_key;
  auto protectedAs = [&](Protection p, const std::string& k) {
    return eventually([&] {
      const SiteRoute* docs = state_.current()->findSite("docs");
      return docs != nullptr && docs->settings.protect == p && docs->settings.access_key == k &&
             docs->findAlias("feature-login", now) != nullptr;
    });
  };
  ASSERT_TRUE(protectedAs(Protection::previews, key));
  auto ask = [&](const std::string& target, const std::string& host, const std::string& cookie = {},
                 const std::string& bypass = {}) -> Reply& {
    RequestHead head;
    head.target = target;
    head.host = host;
    head.cookie = cookie;
    head.bypass = bypass;
    return send(head);
  };
  const std::string alias_host = "feature-login--docs.localhost";
  Reply& refused = ask("/", alias_host);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.cache_control, "no-store");
  EXPECT_EQ(ask("/?dpl=v1", alias_host).status, 403);
  EXPECT_EQ(ask("/about.html", alias_host).status, 403);
  EXPECT_EQ(ask("/", "v1--docs.localhost").status, 403);
  EXPECT_EQ(ask("/", "docs.localhost").status, 200);  // "previews": the site itself is public

  std::string link = signAccess(key, AccessKind::share, "feature-login--docs", now + 600);
  Reply& opened = ask("/about.html?x=1&cutover_share=" + link, alias_host);
  EXPECT_EQ(opened.status, 303);
  EXPECT_EQ(opened.location, "/about.html?x=1");
  EXPECT_EQ(opened.cache_control, "no-store");
  ASSERT_NE(opened.set_cookie.find("cutover_access="), std::string::npos) << opened.set_cookie;
  EXPECT_NE(opened.set_cookie.find("HttpOnly"), std::string::npos);
  EXPECT_EQ(opened.set_cookie.find("Domain"), std::string::npos);  // this host alone
  std::string cookie = opened.set_cookie.substr(0, opened.set_cookie.find(';'));
  Reply& page = ask("/about.html", alias_host, "a=b; " + cookie);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(body(page), "about");
  EXPECT_EQ(page.cache_control.substr(0, 8), "private,") << page.cache_control;
  EXPECT_EQ(ask("/?dpl=v1", alias_host, cookie).status, 200);
  // Scope: the cookie and the link open feature-login--docs, nothing else.
  EXPECT_EQ(ask("/", "v1--docs.localhost", cookie).status, 403);
  EXPECT_EQ(ask("/?cutover_share=" + link, "v1--docs.localhost").status, 403);
  // Expired, tampered: nothing.
  std::string expired = signAccess(key, AccessKind::share, "feature-login--docs", now - 1);
  Reply& late = ask("/?cutover_share=" + expired, alias_host);
  EXPECT_EQ(late.status, 403);
  EXPECT_NE(body(late).find("expired or not valid"), std::string::npos) << body(late);
  std::string later = std::to_string(now + 9000) + link.substr(link.find('.'));
  EXPECT_EQ(ask("/?cutover_share=" + later, alias_host).status, 403);
  std::string forged = link;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(ask("/?cutover_share=" + forged, alias_host).status, 403);
  EXPECT_EQ(ask("/", alias_host, "cutover_access=" + link).status, 403);  // a link is no cookie
  // The bypass secret, for automation.
  EXPECT_EQ(ask("/", alias_host, "", bypassSecret(key, "docs")).status, 200);
  EXPECT_EQ(ask("/", alias_host, "", bypassSecret(key, "other")).status, 403);

  // "all": the site's own hosts too; a new key voids the old cookie.
  auto rotated = updateSiteSettings(*pointers_, "docs", [](SiteSettings& s) -> Result<void> {
    s.setProtection(Protection::all, /*rotate=*/true);
    return {};
  });
  ASSERT_TRUE(rotated);
  ASSERT_NE(rotated->access_key, key);
  ASSERT_TRUE(protectedAs(Protection::all, rotated->access_key));
  EXPECT_EQ(ask("/", "docs.localhost").status, 403);
  EXPECT_EQ(ask("/", alias_host, cookie).status, 403);
  std::string site_link = signAccess(rotated->access_key, AccessKind::share, "docs", now + 60);
  Reply& site_opened = ask("/?cutover_share=" + site_link, "docs.localhost");
  EXPECT_EQ(site_opened.status, 303);
  std::string site_cookie = site_opened.set_cookie.substr(0, site_opened.set_cookie.find(';'));
  Reply& live = ask("/", "docs.localhost", site_cookie);
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.version, "v2");
}

// A preview link answers while it is open: not before it is issued, not after it expired or was
// closed. The live version's preview host answers whatever its link says.
TEST_F(HandlerSemanticsTest, APreviewAnswersOnlyWhileItsLinkIsOpen) {
  auto linkOf = [&](const char* v) -> std::optional<std::int64_t> {
    const SiteRoute* docs = state_.current()->findSite("docs");
    if (docs == nullptr || !docs->previews) return std::nullopt;
    auto it = docs->previews->find(v);
    if (it == docs->previews->end()) return std::nullopt;
    return it->second;
  };
  auto now = std::time(nullptr);
  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", "v3", now - 1, now - 3600));  // expired
  ASSERT_TRUE(eventually([&] { return linkOf("v3") == now - 1; }));
  Reply& expired = get("/", "v3--docs.localhost");
  EXPECT_EQ(expired.status, 404);
  EXPECT_NE(body(expired).find("site docs has no open preview of version v3"), std::string::npos);

  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", "v3", now + 60, now));  // renewed
  ASSERT_TRUE(eventually([&] { return linkOf("v3") == now + 60; }));
  EXPECT_EQ(get("/", "v3--docs.localhost").status, 200);

  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", "v3", 0, now));  // closed: the record goes
  ASSERT_TRUE(eventually([&] { return !linkOf("v3"); }));
  EXPECT_EQ(get("/", "v3--docs.localhost").status, 404);

  // The live version's link closed too: its preview host still answers, as the site does.
  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", "v2", 0, now));
  ASSERT_TRUE(eventually([&] { return !linkOf("v2"); }));
  EXPECT_EQ(get("/", "v2--docs.localhost").status, 200);
  // A record that holds no time opens nothing.
  ASSERT_TRUE(pointers_->compareAndSet(previewKey("docs", "v1"), std::to_string(*linkOf("v1")),
                                       std::string("soon")));
  ASSERT_TRUE(eventually([&] { return !linkOf("v1"); }));
  EXPECT_EQ(get("/", "v1--docs.localhost").status, 404);
}

TEST_F(HandlerSemanticsTest, ANavigationGetsTheLiveVersionAndACookiePinningIt) {
  RequestHead head;
  head.target = "/";
  head.sec_fetch_mode = "navigate";
  Reply& r = send(head);
  EXPECT_EQ(r.version, "v2");
  EXPECT_TRUE(r.set_cookie.starts_with("cutover_pin=v2.")) << r.set_cookie;
  EXPECT_NE(r.set_cookie.find("Max-Age=3600; HttpOnly; SameSite=Lax"), std::string::npos);
  // Assets do not set the cookie.
  EXPECT_TRUE(get("/style.css").set_cookie.empty());
}

TEST_F(HandlerSemanticsTest, ARequestPinnedByCookieHeaderOrQueryIsServedFromThatVersion) {
  std::string cookie = "cutover_pin=v1." + std::to_string(std::time(nullptr));
  RequestHead asset;
  asset.target = "/index.html";
  asset.sec_fetch_mode = "no-cors";
  asset.cookie = cookie;
  EXPECT_EQ(body(send(asset)), "<h1>one</h1>");
  EXPECT_EQ(reply_.version, "v1");

  RequestHead navigation = asset;
  navigation.sec_fetch_mode = "navigate";
  EXPECT_EQ(send(navigation).version, "v2");  // a new page load: live, whatever the cookie says

  RequestHead header;
  header.target = "/";
  header.pin = "v1";
  EXPECT_EQ(send(header).version, "v1");

  EXPECT_EQ(get("/?dpl=v1").version, "v1");
  EXPECT_EQ(get("/?dpl=v9").version, "v2");  // not stored: the live version

  RequestHead expired = asset;
  std::string old_cookie = "cutover_pin=v1." + std::to_string(std::time(nullptr) - 3601);
  expired.cookie = old_cookie;
  EXPECT_EQ(send(expired).version, "v2");
}

TEST_F(HandlerSemanticsTest, PinsOnAProductionHostReachOnlyVersionsThatHaveBeenLive) {
  // v3 is stored but was never live: for previews only. On the site's own hosts a link with
  // ?dpl=, a header or a cookie (one a preview host could set for its parent domain) must not
  // put it on the production origin.
  EXPECT_EQ(get("/?dpl=v3").version, "v2");
  RequestHead header;
  header.target = "/";
  header.pin = "v3";
  EXPECT_EQ(send(header).version, "v2");
  std::string cookie = "cutover_pin=v3." + std::to_string(std::time(nullptr));
  RequestHead asset;
  asset.target = "/index.html";
  asset.sec_fetch_mode = "no-cors";
  asset.cookie = cookie;
  EXPECT_EQ(send(asset).version, "v2");
  EXPECT_EQ(get("/", "v3--docs.localhost").version, "v3");  // its preview answers

  // v1 was live before v2: it stays reachable by pin (open pages on it keep working).
  EXPECT_EQ(get("/?dpl=v1").version, "v1");
  // Once v3 has been live, it is reachable too, also after the site moves on.
  setLive(*pointers_, "docs", "v3");
  ASSERT_TRUE(eventually([&] { return get("/").version == "v3"; }));
  setLive(*pointers_, "docs", "v2");
  ASSERT_TRUE(eventually([&] { return get("/").version == "v2"; }));
  EXPECT_EQ(get("/?dpl=v3").version, "v3");
}

TEST_F(HandlerSemanticsTest, PinnedResponsesAreNotShareableAndVaryOnThePin) {
  // The live version: shareable, but a shared cache must key it by what could pin a request.
  Reply& live = get("/style.css");
  EXPECT_EQ(live.version, "v2");
  EXPECT_EQ(live.cache_control, "public, max-age=60");
  EXPECT_TRUE(live.vary_pin);

  // Chosen by a pin: for the one browser that asked, with the same lifetimes.
  RequestHead header;
  header.target = "/";
  header.pin = "v1";
  Reply& pinned = send(header);
  EXPECT_EQ(pinned.version, "v1");
  EXPECT_EQ(pinned.cache_control, "private, max-age=0, must-revalidate");
  EXPECT_TRUE(pinned.vary_pin);
  EXPECT_EQ(get("/big.bin?dpl=v1").cache_control, "private, max-age=60");
  std::string cookie = "cutover_pin=v1." + std::to_string(std::time(nullptr));
  RequestHead asset;
  asset.target = "/big.bin";
  asset.sec_fetch_mode = "no-cors";
  asset.cookie = cookie;
  EXPECT_EQ(send(asset).cache_control, "private, max-age=60");
  EXPECT_EQ(reply_.version, "v1");
  // A redirect and a 404 chosen by the pin are the pinned version's too.
  EXPECT_EQ(get("/guide?dpl=v1").cache_control, "private, max-age=0, must-revalidate");
  EXPECT_EQ(get("/nope?dpl=v1").status, 404);
  EXPECT_TRUE(reply_.cache_control.empty() || reply_.cache_control.starts_with("private"))
      << reply_.cache_control;

  // On the wire: one Vary field naming everything the choice read.
  std::string head;
  appendHead(head, get("/big.bin?dpl=v1"), true, false);
  EXPECT_NE(head.find("\r\nVary: Cookie, X-Cutover-Pin\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nCache-Control: private, max-age=60\r\n"), std::string::npos) << head;

  // A preview host names its version itself: nothing to vary on.
  EXPECT_FALSE(get("/", "v1--docs.localhost").vary_pin);
  EXPECT_EQ(reply_.cache_control, kRevalidate);

  setLive(*pointers_, "docs", "v3");  // the version with precompressed forms
  ASSERT_TRUE(eventually([&] { return get("/").version == "v3"; }));
  RequestHead encoded;
  encoded.target = "/text.txt";
  encoded.accept_encoding = "br";
  head.clear();
  appendHead(head, send(encoded), true, false);
  EXPECT_NE(head.find("\r\nVary: Accept-Encoding, Cookie, X-Cutover-Pin\r\n"), std::string::npos)
      << head;
}

// gc (or `versions delete`) took v1 while a tab still runs on it: the edge, which holds v1's
// manifest in memory, finds a file gone from the store. It forgets v1 at once and answers as if v1
// had never been stored (the live version for a pinned request, 404 for a preview), never a 5xx.
TEST_F(HandlerSemanticsTest, AVersionFoundGoneFromTheStoreIsAnsweredAsNeverStored) {
  RequestHead pinned;
  pinned.target = "/about.html";
  pinned.pin = "v1";
  EXPECT_EQ(send(pinned).version, "v1");  // v1's manifest is now in the edge's memory
  for (const auto& [path, entry] : v1_.files) ASSERT_TRUE(objects_->deleteBlob(entry.hash));
  ASSERT_TRUE(objects_->deleteManifest("docs", "v1"));

  pinned.target = "/guide/";
  Reply& r = send(pinned);
  EXPECT_EQ(r.status, 404) << body(r);  // v2 has no guide: the live version's answer
  EXPECT_EQ(r.version, "v2");
  pinned.target = "/";
  EXPECT_EQ(send(pinned).status, 200);
  EXPECT_EQ(body(reply_), "<h1>two</h1>");
  EXPECT_EQ(get("/big.bin", "v1--docs.localhost").status, 404);
  EXPECT_EQ(get("/about.html", "v1--docs.localhost").status, 404);
}

TEST_F(HandlerSemanticsTest, CacheControlFollowsThePolicyAndTheSiteSetting) {
  EXPECT_EQ(get("/").cache_control, kRevalidate);
  EXPECT_EQ(get("/app.3f9a1c2e.js").cache_control, kImmutable);
  EXPECT_EQ(get("/style.css").cache_control, "public, max-age=60");
  SiteSettings settings;
  settings.max_age = 300;
  ASSERT_TRUE(pointers_->compareAndSet(siteKey("docs"), std::nullopt, settings.toJson()));
  ASSERT_TRUE(eventually([&] { return get("/style.css").cache_control == "public, max-age=300"; }));
}

TEST_F(HandlerSemanticsTest, SpaModeServesTheShellForRoutesButNotForMissingAssets) {
  EXPECT_EQ(get("/users/42").status, 404);
  SiteSettings settings;
  settings.spa = true;
  ASSERT_TRUE(pointers_->compareAndSet(siteKey("docs"), std::nullopt, settings.toJson()));
  ASSERT_TRUE(eventually([&] { return get("/users/42").status == 200; }));
  EXPECT_EQ(body(get("/users/42")), "<h1>two</h1>");
  EXPECT_EQ(get("/missing.js").status, 404);
}

TEST_F(HandlerSemanticsTest, LastModifiedIsWhenTheVersionWentLiveAndIfModifiedSinceGives304) {
  Reply& r = get("/style.css");
  ASSERT_FALSE(r.last_modified.empty());
  std::string modified(r.last_modified);
  RequestHead head;
  head.target = "/style.css";
  head.if_modified_since = modified;
  EXPECT_EQ(send(head).status, 304);
  head.if_modified_since = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(send(head).status, 200);
  // If-None-Match wins over If-Modified-Since.
  head.if_modified_since = modified;
  head.if_none_match = "\"other\"";
  head.has_if_none_match = true;
  EXPECT_EQ(send(head).status, 200);
}

TEST_F(HandlerSemanticsTest, ASingleRangeGets206AndAnUnsatisfiableOne416) {
  RequestHead head;
  head.target = "/text.txt";
  head.range = "bytes=2-5";
  head.has_range = true;
  Reply& r = send(head);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(body(r), "2345");
  EXPECT_EQ(r.content_length, 4U);
  EXPECT_EQ(r.content_range, "bytes 2-5/10");

  head.range = "bytes=20-";
  EXPECT_EQ(send(head).status, 416);
  EXPECT_EQ(reply_.content_range, "bytes */10");

  head.range = "bytes=0-1,4-5";  // several ranges: the whole file
  EXPECT_EQ(send(head).status, 200);
  EXPECT_EQ(body(reply_), "0123456789");

  // If-Range with the current ETag keeps the range; with another one the whole file comes.
  head.range = "bytes=-3";
  std::string etag = "\"" + v2_.files["text.txt"].hash + "\"";
  head.if_range = etag;
  EXPECT_EQ(send(head).status, 206);
  EXPECT_EQ(body(reply_), "789");
  head.if_range = "\"stale\"";
  EXPECT_EQ(send(head).status, 200);
}

TEST_F(HandlerSemanticsTest, ARangeOfAStreamedFileStartsAtItsOffset) {
  RequestHead head;
  head.target = "/big.bin";
  head.host = "v1--docs.localhost";
  head.range = "bytes=90-";
  head.has_range = true;
  Reply& r = send(head);
  EXPECT_EQ(r.status, 206);
  EXPECT_TRUE(r.file.valid());
  EXPECT_EQ(r.file_offset, 90U);
  EXPECT_EQ(r.content_length, 10U);
}

TEST_F(HandlerSemanticsTest, PrecompressedFormsAreChosenByAcceptEncodingWithTheirOwnETags) {
  RequestHead head;
  head.target = "/text.txt";
  head.host = "v3--docs.localhost";  // v3 was never live: a preview reaches it
  head.accept_encoding = "gzip, deflate, br";
  Reply& r = send(head);
  EXPECT_EQ(r.content_encoding, "br");
  EXPECT_EQ(body(r), "BR-FORM");
  EXPECT_EQ(r.etag, "\"" + br_ + "\"");
  EXPECT_TRUE(r.vary_encoding);

  head.accept_encoding = "gzip";
  EXPECT_EQ(body(send(head)), "GZIP-FORM!");
  EXPECT_EQ(reply_.content_encoding, "gzip");
  EXPECT_EQ(reply_.etag, "\"" + gz_ + "\"");

  head.accept_encoding = "";
  EXPECT_EQ(body(send(head)), "0123456789");
  EXPECT_EQ(reply_.content_encoding, "");
  EXPECT_TRUE(reply_.vary_encoding);  // the answer still depended on Accept-Encoding

  // A 304 for the brotli form needs the brotli ETag.
  head.accept_encoding = "br";
  std::string br_etag = "\"" + br_ + "\"";
  head.if_none_match = br_etag;
  head.has_if_none_match = true;
  EXPECT_EQ(send(head).status, 304);
  // Files without forms do not vary.
  EXPECT_FALSE(get("/style.css").vary_encoding);
}

TEST_F(HandlerSemanticsTest, HeaderRulesAddJoinRemoveAndMayOverrideCacheControl) {
  Manifest v4 = v2_;
  v4.version = "v4";
  auto headers = parseHeaders(
      "/*\n  X-Frame-Options: DENY\n  X-Team: web\n"
      "/app.3f9a1c2e.js\n  Cache-Control: no-store\n  X-Team: assets\n"
      "/style.css\n  ! X-Frame-Options\n  Content-Length: 1\n");
  ASSERT_TRUE(headers) << headers.error().describe();
  v4.rules.headers = *headers;
  ASSERT_TRUE(objects_->commitManifest(v4));
  setLive(*pointers_, "docs", "v4");
  ASSERT_TRUE(eventually([&] { return get("/").version == "v4"; }));

  auto header = [](const Reply& r, std::string_view name) {
    std::string out;
    for (const auto& [n, v] : r.headers) {
      if (n == name) out = v;
    }
    return out;
  };
  Reply& index = get("/");
  EXPECT_EQ(header(index, "X-Frame-Options"), "DENY");
  EXPECT_EQ(header(index, "X-Team"), "web");
  Reply& app = get("/app.3f9a1c2e.js");
  EXPECT_EQ(app.cache_control, "no-store");
  EXPECT_EQ(header(app, "X-Team"), "web, assets");
  Reply& style = get("/style.css");
  EXPECT_EQ(header(style, "X-Frame-Options"), "");
  EXPECT_EQ(header(style, "Content-Length"), "");  // framing stays the server's
  EXPECT_EQ(style.content_length, 6U);
}

}  // namespace
}  // namespace cutover::edge
