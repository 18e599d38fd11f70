#include "cutover/pipeline/gc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pointer/aliases.h"
#include "cutover/pointer/records.h"
#include "pipeline/store_lock.h"
#include "pointer/memory/memory_pointer_store.h"
#include "store/memory/memory_object_store.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::TempDir;
using testing::writeFile;

class GcTest : public ::testing::Test {
 protected:
  // Deploys a small site whose files name `tag`, and makes it live (unless told not to); returns
  // its version. No preview link unless asked for: these tests are about what else keeps it.
  std::string deployLive(const std::string& tag, bool activate = true,
                         std::int64_t preview_seconds = 0) {
    writeFile(dir_ / tag / "index.html", "<h1>" + tag + "</h1>");
    writeFile(dir_ / tag / ("assets/app-" + tag + ".js"), "console.log('" + tag + "')");
    DeployOptions o;
    o.site = "docs";
    o.source = dir_ / tag;
    o.threads = 1;
    o.activate = activate;
    o.preview_seconds = preview_seconds;
    auto report = deploy(PipelineContext{objects_.get(), pointers_.get(), nullptr, nullptr, {}}, o);
    EXPECT_TRUE(report) << report.error().describe();
    return report ? report->version : "";
  }
  bool stored(const std::string& version) {
    return static_cast<bool>(objects_->readManifest("docs", version));
  }

  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  TempDir dir_;
};

// A tab opened on a version a minute ago still loads its lazy chunks from it: gc --keep 0 must
// not take a version that was live within the pin window, even once it is neither live nor the
// previous one.
TEST_F(GcTest, KeepsEveryVersionLiveWithinThePinWindow) {
  auto v1 = deployLive("one");
  auto v2 = deployLive("two");
  auto v3 = deployLive("three");
  GcOptions options;
  options.keep = 0;
  auto report = collectGarbage(*objects_, *pointers_, options);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_TRUE(report->removed_versions.empty());
  for (const auto& v : {v1, v2, v3}) EXPECT_TRUE(stored(v)) << v;
  auto manifest = objects_->readManifest("docs", v1).value();
  for (const auto& [path, entry] : manifest.files) {
    EXPECT_TRUE(objects_->readBlob(entry.hash)) << path << " of " << v1;
  }
}

TEST_F(GcTest, AVersionOutOfThePinWindowGoesAndTheRetiredListKeepsTheNewestFirst) {
  auto v1 = deployLive("one");
  auto v2 = deployLive("two");
  auto v3 = deployLive("three");
  auto live = LivePointer::fromJson(pointers_->get(liveKey("docs")).value().value()).value();
  ASSERT_EQ(live.retired.size(), 2U);
  EXPECT_EQ(live.retired[0].version, v2);  // most recently live first
  EXPECT_EQ(live.retired[1].version, v1);
  auto now = std::time(nullptr);
  EXPECT_EQ(versionsLiveWithin(live, now, 3600), (std::vector<std::string>{v3, v2, v1}));
  EXPECT_EQ(versionsLiveWithin(live, now + 7200, 3600), std::vector<std::string>{v3});

  GcOptions options;
  options.keep = 0;
  options.pin_window_seconds = 0;
  auto report = collectGarbage(*objects_, *pointers_, options).value();
  EXPECT_EQ(report.removed_versions, std::vector<std::string>{"docs/" + v1});
  EXPECT_FALSE(stored(v1));
  EXPECT_TRUE(stored(v2));  // the previous one: what rollback returns to
  // Edges learn it is gone from the pointer store.
  EXPECT_TRUE(pointers_->get(goneKey("docs", v1)).value());
}

// Someone was sent a version's preview link: gc keeps the version until the link expires, then
// collects it and its link's record.
TEST_F(GcTest, KeepsAVersionWhosePreviewLinkIsOpenAndCollectsItOnceTheLinkExpired) {
  auto preview = deployLive("preview", /*activate=*/false, /*preview_seconds=*/3600);
  auto unlinked = deployLive("unlinked", /*activate=*/false);
  deployLive("one");
  deployLive("two");
  auto link = pointers_->get(previewKey("docs", preview)).value();
  ASSERT_TRUE(link);
  auto now = std::time(nullptr);
  EXPECT_GE(parseUnixSeconds(*link).value(), now + 3590);
  EXPECT_FALSE(pointers_->get(previewKey("docs", unlinked)).value());

  GcOptions options;
  options.keep = 0;
  auto report = collectGarbage(*objects_, *pointers_, options).value();
  EXPECT_EQ(report.removed_versions, std::vector<std::string>{"docs/" + unlinked});
  EXPECT_TRUE(stored(preview));

  // Expired a while ago (more than the clock margin): the version and its record go.
  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", preview, now - 2 * 60, now - 3 * 60));
  report = collectGarbage(*objects_, *pointers_, options).value();
  EXPECT_EQ(report.removed_versions, std::vector<std::string>{"docs/" + preview});
  EXPECT_FALSE(stored(preview));
  EXPECT_FALSE(pointers_->get(previewKey("docs", preview)).value());
}

// A preview alias keeps the version it names, and those it named within the pin window (a page
// loaded from one may still ask for its files); once it expires, gc removes it and its versions.
TEST_F(GcTest, KeepsWhatAPreviewAliasNamesUntilTheAliasExpires) {
  auto first = deployLive("first", /*activate=*/false);
  auto second = deployLive("second", /*activate=*/false);
  deployLive("one");
  deployLive("two");
  auto now = std::time(nullptr);
  AliasTarget branch{"docs", "feature", 0, "", 3600};
  ASSERT_TRUE(flipAlias(*pointers_, branch, first, "d-1", now));
  ASSERT_TRUE(flipAlias(*pointers_, branch, second, "d-2", now));

  GcOptions options;
  options.keep = 0;
  auto report = collectGarbage(*objects_, *pointers_, options).value();
  EXPECT_TRUE(report.removed_versions.empty());
  EXPECT_TRUE(stored(first));
  EXPECT_TRUE(stored(second));

  options.pin_window_seconds = 0;  // nothing loaded from the alias's first version any more
  report = collectGarbage(*objects_, *pointers_, options).value();
  EXPECT_EQ(report.removed_versions, std::vector<std::string>{"docs/" + first});
  EXPECT_TRUE(stored(second));

  // No build for longer than the alias lives (and the clock margin): the alias and its version go.
  ASSERT_TRUE(removeAlias(*pointers_, "docs", "feature"));
  AliasTarget stale{"docs", "feature", 0, "", 60};
  ASSERT_TRUE(flipAlias(*pointers_, stale, second, "d-3", now - std::int64_t{180}));
  report = collectGarbage(*objects_, *pointers_, options).value();
  EXPECT_EQ(report.removed_aliases, std::vector<std::string>{"docs/feature"});
  EXPECT_EQ(report.removed_versions, std::vector<std::string>{"docs/" + second});
  EXPECT_FALSE(pointers_->get(aliasKey("docs", "feature")).value());
}

TEST_F(GcTest, APreviewLinkIsRenewedShortenedAndClosed) {
  auto v = deployLive("one", /*activate=*/false, /*preview_seconds=*/60);
  auto now = std::time(nullptr);
  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", v, now + 86400, now));
  EXPECT_EQ(pointers_->get(previewKey("docs", v)).value(), std::to_string(now + 86400));
  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", v, now + 10, now));
  EXPECT_EQ(pointers_->get(previewKey("docs", v)).value(), std::to_string(now + 10));
  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", v, now, now));  // until now: closed
  EXPECT_FALSE(pointers_->get(previewKey("docs", v)).value());
  // Deleting a version closes its link.
  ASSERT_TRUE(setPreviewLink(*pointers_, "docs", v, now + 600, now));
  ASSERT_TRUE(deleteVersion(*objects_, *pointers_, "docs", v));
  EXPECT_FALSE(pointers_->get(previewKey("docs", v)).value());
}

TEST_F(GcTest, TheRetiredListIsBoundedAndAVersionLiveAgainLeavesIt) {
  LivePointer p{"v0", "", "", "test", {}};
  for (int i = 1; i <= 150; ++i) p = p.next("v" + std::to_string(i), "", "test", 1000 + i);
  EXPECT_EQ(p.retired.size(), LivePointer::kRetiredKept);
  EXPECT_EQ(p.retired.front().version, "v149");
  EXPECT_EQ(p.previous, "v149");
  p = p.next("v100", "", "test", 2000);  // a rollback to an old one
  EXPECT_EQ(p.retired.front().version, "v150");
  for (const auto& r : p.retired) EXPECT_NE(r.version, "v100");
  auto again = LivePointer::fromJson(p.toJson()).value();
  ASSERT_EQ(again.retired.size(), p.retired.size());
  EXPECT_EQ(again.retired[0].until, 2000);
}

// While a deploy runs on any machine (its lease in the pointer store), gc removes no blob: the
// deploy may have just stored any of them, or found one stored and counted on it.
TEST_F(GcTest, WhileADeployLeaseIsAliveNoBlobIsRemoved) {
  auto v1 = deployLive("one");
  // An orphan: a blob a deploy (elsewhere) has just stored and not yet named in a manifest.
  auto writer = objects_->newBlob().value();
  std::string bytes = "uploaded by a deploy on another machine";
  ASSERT_TRUE(writer->write(std::as_bytes(std::span(bytes.data(), bytes.size()))));
  auto orphan = writer->finish().value().hash;
  {
    auto lease = FleetLease::take(*pointers_, FleetLease::Kind::deploy, "deploy docs", "docs");
    ASSERT_TRUE(lease);
    GcOptions options;
    options.keep = 0;
    auto report = collectGarbage(*objects_, *pointers_, options).value();
    EXPECT_EQ(report.removed_blobs, 0U);
    ASSERT_EQ(report.running_deploys.size(), 1U);
    EXPECT_NE(report.running_deploys[0].find("deploy docs"), std::string::npos);
    EXPECT_TRUE(objects_->readBlob(orphan));
  }
  EXPECT_TRUE(pointers_->list(std::string(kDeployLeasePrefix)).value().empty());
  GcOptions options;
  options.keep = 0;
  auto report = collectGarbage(*objects_, *pointers_, options).value();
  EXPECT_EQ(report.removed_blobs, 1U);
  EXPECT_FALSE(objects_->readBlob(orphan));
  EXPECT_TRUE(stored(v1));
}

// A deploy that starts while a gc runs somewhere waits for it before it counts on any blob.
TEST_F(GcTest, ADeployWaitsForAGcRunningElsewhere) {
  deployLive("one");
  auto gc = std::make_unique<FleetLease>(
      FleetLease::take(*pointers_, FleetLease::Kind::gc, "gc").value());
  std::atomic<bool> waited{false};
  std::atomic<bool> done{false};
  std::thread deployer([&] {
    writeFile(dir_ / "two" / "index.html", "two");
    DeployOptions o;
    o.site = "docs";
    o.source = dir_ / "two";
    o.threads = 1;
    auto report = deploy(PipelineContext{objects_.get(), pointers_.get(), nullptr, nullptr, {}}, o);
    EXPECT_TRUE(report) << report.error().describe();
    done = true;
  });
  // The deploy's lease appears, and the deploy does not finish while the gc lease is held.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pointers_->list(std::string(kDeployLeasePrefix)).value().empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  waited = !done;
  gc.reset();
  deployer.join();
  EXPECT_TRUE(waited) << "the deploy went on while gc ran";
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace cutover
