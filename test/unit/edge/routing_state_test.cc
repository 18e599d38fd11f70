#include "edge/routing_state.h"

#include <gtest/gtest.h>

#include "edge_fixture.h"

namespace cutover::edge {
namespace {

using testing::eventually;
using testing::putVersion;
using testing::setHosts;
using testing::setLive;

class RoutingStateTest : public ::testing::Test {
 protected:
  std::string liveVersionAt(std::string_view host) {
    auto table = state_.current();
    const SiteRoute* site = table->findHost(host);
    return site == nullptr ? "<no site>" : site->version;
  }

  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  RoutingState state_{objects_, pointers_, "localhost"};
};

TEST_F(RoutingStateTest, SeedsFromWhatIsLiveAtStart) {
  putVersion(*objects_, "docs", "v1", {{"index.html", "one"}});
  setLive(*pointers_, "docs", "v1");
  ASSERT_TRUE(state_.start());
  EXPECT_EQ(liveVersionAt("docs.localhost"), "v1");
  auto site = state_.current()->findHost("docs.localhost");
  ASSERT_NE(site, nullptr);
  ASSERT_NE(site->index, nullptr);
  EXPECT_NE(site->index->find("index.html"), nullptr);
  EXPECT_EQ(liveVersionAt("other.localhost"), "<no site>");
  EXPECT_EQ(liveVersionAt("docs"), "<no site>");
}

TEST_F(RoutingStateTest, FollowsThePointerAsItFlips) {
  putVersion(*objects_, "docs", "v1", {{"index.html", "one"}});
  putVersion(*objects_, "docs", "v2", {{"index.html", "two"}});
  ASSERT_TRUE(state_.start());
  EXPECT_EQ(liveVersionAt("docs.localhost"), "<no site>");
  setLive(*pointers_, "docs", "v1");
  EXPECT_TRUE(eventually([&] { return liveVersionAt("docs.localhost") == "v1"; }));
  auto pinned = state_.current();
  setLive(*pointers_, "docs", "v2");
  EXPECT_TRUE(eventually([&] { return liveVersionAt("docs.localhost") == "v2"; }));
  setLive(*pointers_, "docs", "v1");  // rollback
  EXPECT_TRUE(eventually([&] { return liveVersionAt("docs.localhost") == "v1"; }));
  // A table taken earlier still routes to the version it named.
  EXPECT_EQ(pinned->findHost("docs.localhost")->version, "v1");
}

TEST_F(RoutingStateTest, AnswersAtTheSettingsHostsNormalized) {
  putVersion(*objects_, "docs", "v1", {{"index.html", "one"}});
  setLive(*pointers_, "docs", "v1");
  setHosts(*pointers_, "docs", {"Docs.Example.COM.", "www.example.com"});
  ASSERT_TRUE(state_.start());
  EXPECT_EQ(liveVersionAt("docs.example.com"), "v1");
  EXPECT_EQ(liveVersionAt("www.example.com"), "v1");
  EXPECT_EQ(liveVersionAt("docs.localhost"), "v1");
  setHosts(*pointers_, "docs", {"new.example.com"});
  EXPECT_TRUE(eventually([&] { return liveVersionAt("new.example.com") == "v1"; }));
  EXPECT_EQ(liveVersionAt("www.example.com"), "<no site>");
}

TEST_F(RoutingStateTest, ASiteWithSettingsButNoLiveVersionIsKnown) {
  setHosts(*pointers_, "blog", {"blog.example.com"});
  ASSERT_TRUE(state_.start());
  auto table = state_.current();
  const SiteRoute* site = table->findHost("blog.example.com");
  ASSERT_NE(site, nullptr);
  EXPECT_EQ(site->site, "blog");
  EXPECT_EQ(site->index, nullptr);
}

TEST_F(RoutingStateTest, KeepsThePreviousVersionWhenAManifestCannotBeLoaded) {
  putVersion(*objects_, "docs", "v1", {{"index.html", "one"}});
  setLive(*pointers_, "docs", "v1");
  ASSERT_TRUE(state_.start());
  setLive(*pointers_, "docs", "missing");
  setHosts(*pointers_, "docs", {"marker.example.com"});  // an event after the bad one
  EXPECT_TRUE(eventually([&] { return liveVersionAt("marker.example.com") == "v1"; }));
  EXPECT_EQ(liveVersionAt("docs.localhost"), "v1");
  // Garbage in the pointer is ignored the same way.
  auto current = pointers_->get(liveKey("docs"));
  ASSERT_TRUE(pointers_->compareAndSet(liveKey("docs"), *current, "not json"));
  setHosts(*pointers_, "docs", {"marker2.example.com"});
  EXPECT_TRUE(eventually([&] { return liveVersionAt("marker2.example.com") == "v1"; }));
}

// cutover never removes a live pointer or a site's settings; keys that vanish mean the store lost
// its data (a Redis restarted without persistence), and dropping the site would take it down.
TEST_F(RoutingStateTest, PointersThatVanishFromTheStoreKeepTheSiteServingItsLastVersion) {
  putVersion(*objects_, "docs", "v1", {{"index.html", "one"}});
  putVersion(*objects_, "docs", "v2", {{"index.html", "two"}});
  setLive(*pointers_, "docs", "v1");
  setHosts(*pointers_, "docs", {"docs.example.com"});
  ASSERT_TRUE(state_.start());
  auto live = pointers_->get(liveKey("docs"));
  ASSERT_TRUE(pointers_->compareAndSet(liveKey("docs"), *live, std::nullopt));
  auto settings = pointers_->get(siteKey("docs"));
  ASSERT_TRUE(pointers_->compareAndSet(siteKey("docs"), *settings, std::nullopt));
  setHosts(*pointers_, "blog", {"marker.example.com"});  // an event after the removals
  EXPECT_TRUE(eventually([&] { return state_.current()->findHost("marker.example.com"); }));
  EXPECT_EQ(liveVersionAt("docs.localhost"), "v1");
  EXPECT_EQ(liveVersionAt("docs.example.com"), "v1");
  // A pointer written again (the store is back) is followed as usual.
  setLive(*pointers_, "docs", "v2");
  EXPECT_TRUE(eventually([&] { return liveVersionAt("docs.localhost") == "v2"; }));
}

TEST_F(RoutingStateTest, IgnoresKeysItDoesNotRouteBy) {
  ASSERT_TRUE(state_.start());
  auto before = state_.current();
  ASSERT_TRUE(pointers_->compareAndSet("deploy/123", std::nullopt, "{}"));
  ASSERT_TRUE(pointers_->compareAndSet("live/Not_A_Site", std::nullopt, "{}"));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(state_.current(), before);
}

TEST_F(RoutingStateTest, StoredVersionsAreLoadedOnceAndTheOutgoingLiveOneIsKeptInMemory) {
  putVersion(*objects_, "docs", "v1", {{"index.html", "one"}});
  putVersion(*objects_, "docs", "v2", {{"index.html", "two"}});
  putVersion(*objects_, "docs", "v3", {{"index.html", "three"}});
  setLive(*pointers_, "docs", "v1");
  ASSERT_TRUE(state_.start());
  auto table = state_.current();
  const SiteRoute* docs = table->findSite("docs");
  ASSERT_NE(docs, nullptr);
  EXPECT_EQ(state_.storedVersion(*docs, "v1"), docs->index);  // the live one, from the table
  EXPECT_EQ(state_.storedVersion(*docs, "v9"), nullptr);
  EXPECT_EQ(state_.storedVersion(*docs, "../v1"), nullptr);
  auto v3 = state_.storedVersion(*docs, "v3");
  ASSERT_NE(v3, nullptr);
  EXPECT_EQ(v3->version(), "v3");

  // After a flip, pages of v1 keep asking for it: its index stays in memory. Deleting its manifest
  // from the store shows no store read happens.
  setLive(*pointers_, "docs", "v2");
  ASSERT_TRUE(eventually([&] { return liveVersionAt("docs.localhost") == "v2"; }));
  ASSERT_TRUE(objects_->deleteManifest("docs", "v1"));
  ASSERT_TRUE(objects_->deleteManifest("docs", "v3"));
  auto now = state_.current();
  auto v1 = state_.storedVersion(*now->findSite("docs"), "v1");
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->version(), "v1");
  EXPECT_EQ(state_.storedVersion(*now->findSite("docs"), "v3"), v3);  // loaded once, kept
}

}  // namespace
}  // namespace cutover::edge
