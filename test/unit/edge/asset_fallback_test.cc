// Skew protection across tabs and the cache policy of content-hashed names, through the Handler
// on in-memory stores, with names a Vite build produced (test/browser/app, vite 7.3.8).
#include "edge/asset_fallback.h"

#include <gtest/gtest.h>

#include <limits>

#include "edge/cache_policy.h"
#include "edge/handler.h"
#include "edge/http_date.h"
#include "edge_fixture.h"

namespace cutover::edge {
namespace {

using testing::eventually;
using testing::putVersion;

// A lazy chunk only v1 has, and one only v2 has, as two builds of one app name them.
constexpr std::string_view kChunkV1 = "assets/About-BBH89ct8.js";
constexpr std::string_view kChunkV2 = "assets/About-B8slI0pE.js";

class AssetFallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    putVersion(*objects_, "app", "v1",
               {{"index.html", "<p>v1</p>"},
                {"assets/index-BGoSemGT.js", "main v1"},
                {std::string(kChunkV1), "about v1"},
                {".env", "SECRET=1"},
                {"old-page.html", "removed later"},
                {"data.json", "{\"v\":1}"}});
    putVersion(*objects_, "app", "v2",
               {{"index.html", "<p>v2</p>"},
                {"assets/index-Szk5uvUS.js", "main v2"},
                {std::string(kChunkV2), "about v2"},
                {"data.json", "{\"v\":2}"}});
    flip("v1");
    ASSERT_TRUE(state_.start());
  }

  // Flips live/app the way a deploy does (LivePointer::next: `previous` and `retired` name the
  // version going out), at `since`, now unless told otherwise.
  void flip(const std::string& version, std::string since = nowRfc3339()) {
    auto current = pointers_->get(liveKey("app"));
    ASSERT_TRUE(current);
    LivePointer before;
    if (*current) before = *LivePointer::fromJson(**current);
    std::time_t at = parseRfc3339(since).value_or(std::time(nullptr));
    LivePointer p = before.next(version, std::move(since), "test", at);
    ASSERT_TRUE(pointers_->compareAndSet(liveKey("app"), *current, p.toJson()));
  }

  // A request to a fresh edge (a RoutingState and Handler started now, on the same stores).
  Reply& fetchFromFreshEdge(RequestHead head) {
    RoutingState fresh{objects_, pointers_, "localhost"};
    EXPECT_TRUE(fresh.start());
    Handler handler{fresh, *objects_, cache_, options_};
    head.host = "app.localhost";
    head.has_host = true;
    handler.handle(head, reply_, scratch_);
    return reply_;
  }

  void flipAndWait(const std::string& version, std::string since = nowRfc3339()) {
    flip(version, std::move(since));
    ASSERT_TRUE(eventually([&] { return navigate("/").version == version; }));
  }

  // A script the page of `pinned` asks for, as a browser sends it with the pin cookie.
  Reply& fetchFromPage(std::string_view target, const std::string& pinned,
                       std::string_view mode = "cors") {
    cookie_ = "cutover_pin=" + pinned + "." + std::to_string(std::time(nullptr));
    RequestHead head;
    head.target = target;
    head.host = "app.localhost";
    head.has_host = true;
    head.sec_fetch_mode = mode;
    head.accept = "*/*";
    head.cookie = cookie_;
    handler_.handle(head, reply_, scratch_);
    return reply_;
  }

  Reply& navigate(std::string_view target) {
    RequestHead head;
    head.target = target;
    head.host = "app.localhost";
    head.has_host = true;
    head.sec_fetch_mode = "navigate";
    head.accept = "text/html";
    handler_.handle(head, reply_, scratch_);
    return reply_;
  }

  static std::string body(const Reply& r) { return std::string(r.body); }

  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  RoutingState state_{objects_, pointers_, "localhost"};
  FileCache cache_{1 << 20};
  HandlerOptions options_{};
  Handler handler_{state_, *objects_, cache_, options_};
  Reply reply_;
  RequestScratch scratch_;
  std::string cookie_;
};

TEST_F(AssetFallbackTest, ViteNamesAreCachedForAYear) {
  for (const char* path : {"/assets/index-BGoSemGT.js", "/assets/About-BBH89ct8.js"}) {
    Reply& r = fetchFromPage(path, "v1");
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.cache_control, kImmutable) << path;
  }
  EXPECT_EQ(fetchFromPage("/data.json", "v1").cache_control, "public, max-age=60");
}

TEST_F(AssetFallbackTest, AFirstTabsLazyChunkIsServedAfterASecondTabMovedThePin) {
  flipAndWait("v2");
  // The second tab's navigation set the pin to v2; the first tab, still running v1, now asks for
  // its lazy route's chunk, which only v1 has.
  Reply& r = fetchFromPage("/assets/About-BBH89ct8.js", "v2");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r), "about v1");
  EXPECT_EQ(r.version, "v1");
  EXPECT_EQ(r.log_version, "v1");  // the access log names the version that answered
  EXPECT_EQ(r.cache_control, kImmutable);
  // The same from a script element (no-cors) and with no pin at all (the live version lacks it).
  EXPECT_EQ(body(fetchFromPage("/assets/About-BBH89ct8.js", "v2", "no-cors")), "about v1");
  RequestHead plain;
  plain.target = "/assets/About-BBH89ct8.js";
  plain.host = "app.localhost";
  plain.has_host = true;
  handler_.handle(plain, reply_, scratch_);
  EXPECT_EQ(body(reply_), "about v1");
  // The new version's own chunk is its own, whatever the pin.
  EXPECT_EQ(body(fetchFromPage("/assets/About-B8slI0pE.js", "v1")), "about v2");
}

TEST_F(AssetFallbackTest, OnlyContentHashedNamesFallBack) {
  flipAndWait("v2");
  // Removed on purpose: a leaked secret, a page. They must not stay reachable through v1.
  EXPECT_EQ(fetchFromPage("/.env", "v2").status, 404);
  EXPECT_EQ(fetchFromPage("/old-page.html", "v2").status, 404);
  EXPECT_EQ(fetchFromPage("/old-page", "v2").status, 404);
  // A file both have answers from the chosen version, never from another.
  EXPECT_EQ(body(fetchFromPage("/data.json", "v2")), "{\"v\":2}");
  // A hashed name no recent version has is a plain 404.
  EXPECT_EQ(fetchFromPage("/assets/Gone-CGrmbWP6.js", "v2").status, 404);
}

TEST_F(AssetFallbackTest, ANavigationToAHashedPathDoesNotFallBack) {
  flipAndWait("v2");
  EXPECT_EQ(navigate("/assets/About-BBH89ct8.js").status, 404);
}

TEST_F(AssetFallbackTest, APreviewAnswersFromItsOwnVersionOnly) {
  flipAndWait("v2");
  RequestHead head;
  head.target = "/assets/About-BBH89ct8.js";
  head.host = "v2--app.localhost";
  head.has_host = true;
  head.sec_fetch_mode = "cors";
  handler_.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 404);
}

TEST_F(AssetFallbackTest, AVersionLiveLongerAgoThanThePinWindowIsNoCandidate) {
  // v1 stopped being live two hours ago (the window is one hour).
  std::time_t earlier = std::time(nullptr) - 7200;
  char since[32];
  std::tm utc{};
  gmtime_r(&earlier, &utc);
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%S.000Z", &utc);
  flipAndWait("v2", since);
  EXPECT_EQ(fetchFromPage("/assets/About-BBH89ct8.js", "v2").status, 404);
}

TEST_F(AssetFallbackTest, AnEdgeStartedAfterTwoDeploysServesAChunkFromTwoFlipsBack) {
  putVersion(*objects_, "app", "v3", {{"index.html", "<p>v3</p>"}});
  flip("v2");
  flip("v3");
  // A first tab still runs v1; a second tab moved the pin to v3. The edge started after both
  // deploys, so only the live pointer can tell it that v1 was live within the pin window.
  RequestHead head;
  head.target = "/assets/About-BBH89ct8.js";
  head.sec_fetch_mode = "cors";
  cookie_ = "cutover_pin=v3." + std::to_string(std::time(nullptr));
  head.cookie = cookie_;
  Reply& r = fetchFromFreshEdge(head);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r), "about v1");
  EXPECT_EQ(r.version, "v1");
}

TEST_F(AssetFallbackTest, APinToAVersionLiveBeforeTheEdgeStartedHoldsAndANeverLiveOneIsRefused) {
  putVersion(*objects_, "app", "v3", {{"index.html", "<p>v3</p>"}});
  putVersion(*objects_, "app", "draft", {{"index.html", "<p>draft</p>"}});
  flip("v2");
  flip("v3");
  RequestHead head;
  head.target = "/?dpl=v1";
  Reply& r = fetchFromFreshEdge(head);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r), "<p>v1</p>");
  // A stored version that was never live is for its preview host, not for the site's origin.
  head.target = "/?dpl=draft";
  EXPECT_EQ(body(fetchFromFreshEdge(head)), "<p>v3</p>");
}

TEST_F(AssetFallbackTest, AnEdgeStartedAfterTheFlipKnowsThePreviousVersionFromThePointer) {
  // A pointer written before pointers listed their retired versions: `previous` alone.
  auto current = pointers_->get(liveKey("app"));
  ASSERT_TRUE(current && *current);
  LivePointer legacy{"v2", "v1", nowRfc3339(), "test"};
  ASSERT_TRUE(pointers_->compareAndSet(liveKey("app"), *current, legacy.toJson()));
  RoutingState fresh{objects_, pointers_, "localhost"};
  ASSERT_TRUE(fresh.start());
  Handler handler{fresh, *objects_, cache_, options_};
  cookie_ = "cutover_pin=v2." + std::to_string(std::time(nullptr));
  RequestHead head;
  head.target = "/assets/About-BBH89ct8.js";
  head.host = "app.localhost";
  head.has_host = true;
  head.sec_fetch_mode = "cors";
  head.cookie = cookie_;
  handler.handle(head, reply_, scratch_);
  EXPECT_EQ(reply_.status, 200);
  EXPECT_EQ(reply_.version, "v1");
}

TEST_F(AssetFallbackTest, TheNewestRecentVersionThatHasThePathAnswers) {
  // v3 has v1's chunk name again, with other bytes (a name its deploy found reused, so listed in
  // short_cache), and v4 has neither: v3 is newer but its copy is no content hash, so v1 answers.
  Manifest v3 = putVersion(*objects_, "app", "v3",
                           {{"index.html", "<p>v3</p>"}, {std::string(kChunkV1), "about v3"}});
  v3.version = "v3b";
  v3.short_cache = {std::string(kChunkV1)};
  ASSERT_TRUE(objects_->commitManifest(v3));
  putVersion(*objects_, "app", "v4", {{"index.html", "<p>v4</p>"}});
  flipAndWait("v2");
  flipAndWait("v3b");
  EXPECT_EQ(fetchFromPage("/assets/About-BBH89ct8.js", "v3b").cache_control,
            "public, max-age=60");  // v3b's own copy, which it serves short
  flipAndWait("v4");
  Reply& r = fetchFromPage("/assets/About-BBH89ct8.js", "v4");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r), "about v1");
  // And v2's chunk from v2, the newest that has it.
  EXPECT_EQ(fetchFromPage("/assets/About-B8slI0pE.js", "v4").version, "v2");
}

TEST(VersionsLiveWithinTest, LiveFirstThenRetiredWithinTheWindow) {
  LivePointer live{"v4", "v3", "", "test", {{"v3", 1000}, {"v2", 901}, {"v1", 100}}};
  EXPECT_EQ(versionsLiveWithin(live, 1500, 600), (std::vector<std::string>{"v4", "v3", "v2"}));
  EXPECT_FALSE(liveWithin({"v2", 900}, 1500, 600));  // a whole window ago: out
  EXPECT_FALSE(liveWithin({"v0", std::numeric_limits<std::int64_t>::min()}, 1500, 600));
}

}  // namespace
}  // namespace cutover::edge
