// The deploy-time guard on content-hashed names, through deploy() on in-memory stores.
#include "pipeline/immutable_guard.h"

#include <gtest/gtest.h>

#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pointer/records.h"
#include "pointer/memory/memory_pointer_store.h"
#include "store/memory/memory_object_store.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

using testing::TempDir;
using testing::writeFile;

constexpr const char* kReused = "assets/index-DqTC_HVI.js";  // a Vite name

class ImmutableGuardTest : public ::testing::Test {
 protected:
  // Deploys `files` (path → content) as a new version of "app"; returns its report.
  DeployReport deployFiles(const std::map<std::string, std::string>& files, bool activate = true) {
    auto root = dir_ / ("src" + std::to_string(++deploys_));
    for (const auto& [path, content] : files) writeFile(root / path, content);
    DeployOptions o;
    o.site = "app";
    o.source = root;
    o.activate = activate;
    o.threads = 1;
    auto report = deploy(PipelineContext{objects_.get(), pointers_.get()}, o);
    EXPECT_TRUE(report) << (report ? "" : report.error().describe());
    return report ? *report : DeployReport{};
  }
  Manifest manifest(const DeployReport& report) {
    return objects_->readManifest("app", report.version).value();
  }

  std::shared_ptr<MemoryObjectStore> objects_ = std::make_shared<MemoryObjectStore>();
  std::shared_ptr<MemoryPointerStore> pointers_ = std::make_shared<MemoryPointerStore>();
  TempDir dir_;
  int deploys_ = 0;
};

TEST_F(ImmutableGuardTest, AChangedFileUnderAnImmutableNameIsReportedAndServedShort) {
  auto v1 = deployFiles({{"index.html", "<p>1</p>"},
                         {kReused, "main 1"},
                         {"assets/About-BBH89ct8.js", "about"},
                         {"data.json", "1"}});
  EXPECT_TRUE(v1.warnings.empty());
  auto v2 = deployFiles({{"index.html", "<p>2</p>"},
                         {kReused, "main 2: other bytes under the same name"},
                         {"assets/About-BBH89ct8.js", "about"},
                         {"data.json", "2"}});
  ASSERT_EQ(v2.warnings.size(), 1U);
  EXPECT_NE(v2.warnings[0].find(kReused), std::string::npos) << v2.warnings[0];
  EXPECT_NE(v2.warnings[0].find(v1.version), std::string::npos) << v2.warnings[0];
  EXPECT_EQ(manifest(v2).short_cache, std::set<std::string>{kReused});

  // The next deploy keeps the name short (it changed once), without warning again.
  auto v3 = deployFiles(
      {{"index.html", "<p>3</p>"}, {kReused, "main 2: other bytes under the same name"}});
  EXPECT_TRUE(v3.warnings.empty());
  EXPECT_EQ(manifest(v3).short_cache, std::set<std::string>{kReused});
}

TEST_F(ImmutableGuardTest, UnchangedHashedNamesAndOrdinaryNamesAreLeftAlone) {
  deployFiles({{"index.html", "<p>1</p>"}, {kReused, "main"}, {"app.js", "1"}});
  auto v2 = deployFiles({{"index.html", "<p>2</p>"}, {kReused, "main"}, {"app.js", "2"}});
  EXPECT_TRUE(v2.warnings.empty());
  EXPECT_TRUE(manifest(v2).short_cache.empty());
}

TEST_F(ImmutableGuardTest, AVersionStoredWithoutActivationIsComparedWithTheLiveOne) {
  auto v1 = deployFiles({{"index.html", "<p>1</p>"}, {kReused, "main 1"}});
  auto v2 = deployFiles({{"index.html", "<p>2</p>"}, {kReused, "main 2"}}, false);
  ASSERT_EQ(v2.warnings.size(), 1U);
  EXPECT_EQ(manifest(v2).short_cache, std::set<std::string>{kReused});
  EXPECT_EQ(readLivePointer(*pointers_, "app").value()->version, v1.version);  // still live
}

TEST_F(ImmutableGuardTest, ManyChangedNamesAreCountedBeyondTheFirstOnes) {
  std::map<std::string, std::string> before{{"index.html", "1"}}, after{{"index.html", "2"}};
  for (int i = 0; i < 25; ++i) {
    std::string name =
        "assets/chunk" + std::to_string(i) + "-Bc7iC" + std::to_string(i % 10) + "cz.js";
    before[name] = "a";
    after[name] = "b";
  }
  deployFiles(before);
  auto v2 = deployFiles(after);
  ASSERT_EQ(v2.warnings.size(), kMaxImmutableWarnings + 1);
  EXPECT_NE(v2.warnings.back().find("5 more"), std::string::npos) << v2.warnings.back();
  EXPECT_EQ(manifest(v2).short_cache.size(), 25U);
}

}  // namespace
}  // namespace cutover
