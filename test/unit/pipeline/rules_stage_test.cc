#include "pipeline/rules_stage.h"

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

class RulesStageTest : public ::testing::Test {
 protected:
  MemoryObjectStore objects_;
  std::map<std::string, FileEntry> files_;

  // Stores `bytes` as the file at `path` of the deploy.
  void add(const std::string& path, std::string_view bytes) {
    auto writer = objects_.newBlob().value();
    ASSERT_TRUE(writer->write(std::as_bytes(std::span(bytes.data(), bytes.size()))));
    files_[path] = FileEntry{writer->finish().value().hash, bytes.size(), "text/plain", {}, {}};
  }
};

TEST_F(RulesStageTest, ParsesRootRulesFilesAndTakesThemOutOfTheFileList) {
  add("index.html", "<h1>hi</h1>");
  add("_redirects", "# moves\n/old /new 302\n/app/* /app/index.html 200\n");
  add("_headers", "/*\n  X-Frame-Options: DENY\n");
  add("docs/_redirects", "not a rules file: only the root one is");
  auto rules = takeRules(objects_, files_);
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules->redirects.size(), 2u);
  EXPECT_EQ(rules->redirects[0], (RedirectRule{"/old", "/new", 302, false, 2}));
  ASSERT_EQ(rules->headers.size(), 1u);
  EXPECT_EQ(rules->headers[0].set[0].second, "DENY");
  EXPECT_EQ(files_.count("_redirects"), 0u);
  EXPECT_EQ(files_.count("_headers"), 0u);
  EXPECT_EQ(files_.count("docs/_redirects"), 1u);
  EXPECT_EQ(files_.count("index.html"), 1u);
}

TEST_F(RulesStageTest, ASiteWithoutRulesFilesKeepsEveryFile) {
  add("index.html", "<h1>hi</h1>");
  auto rules = takeRules(objects_, files_);
  ASSERT_TRUE(rules);
  EXPECT_TRUE(rules->empty());
  EXPECT_EQ(files_.size(), 1u);
}

TEST_F(RulesStageTest, ABadRulesFileFailsWithItsLineAndLeavesTheFilesAsTheyWere) {
  add("_redirects", "/fine /ok\n/bad\n");
  add("_headers", "/*\n  X-A: 1\n");
  auto before = files_;
  auto rules = takeRules(objects_, files_);
  ASSERT_FALSE(rules);
  EXPECT_EQ(rules.error().code, Errc::invalid_argument);
  EXPECT_EQ(rules.error().message, "_redirects:2: expected 'from to [status]', found only '/bad'");
  EXPECT_EQ(files_, before);

  add("_redirects", "/fine /ok\n");
  add("_headers", "/*\nX-A: 1\n");
  auto headers = takeRules(objects_, files_);
  ASSERT_FALSE(headers);
  EXPECT_TRUE(headers.error().message.starts_with("_headers:2: ")) << headers.error().message;
}

TEST_F(RulesStageTest, RefusesAnOversizedRulesFileWithoutReadingIt) {
  files_["_redirects"] =
      FileEntry{std::string(64, 'a'), kMaxRulesFileBytes + 1, "text/plain", {}, {}};
  auto rules = takeRules(objects_, files_);
  ASSERT_FALSE(rules);
  EXPECT_EQ(rules.error().code, Errc::too_large);
  EXPECT_NE(rules.error().message.find("_redirects is"), std::string::npos);
}

TEST_F(RulesStageTest, AMissingBlobIsReportedByName) {
  files_["_headers"] = FileEntry{std::string(64, 'a'), 10, "text/plain", {}, {}};
  auto rules = takeRules(objects_, files_);
  ASSERT_FALSE(rules);
  EXPECT_EQ(rules.error().code, Errc::not_found);
  EXPECT_TRUE(rules.error().message.starts_with("reading _headers: ")) << rules.error().message;
}

// The stage in a whole deploy: a bad rules file stops it before any version exists.
TEST(DeployWithRules, BadRulesChangeNothingAndGoodRulesReachTheManifest) {
  TempDir dir;
  MemoryObjectStore objects;
  MemoryPointerStore pointers;
  PipelineContext context{&objects, &pointers, nullptr, nullptr, {}};
  DeployOptions options;
  options.site = "docs";
  options.threads = 1;

  writeFile(dir / "v1" / "index.html", "v1");
  options.source = dir / "v1";
  auto first = deploy(context, options);
  ASSERT_TRUE(first) << first.error().describe();

  writeFile(dir / "v2" / "index.html", "v2");
  writeFile(dir / "v2" / "_redirects", "/a /b\n/c /d 302 Country=us\n");
  options.source = dir / "v2";
  auto bad = deploy(context, options);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("_redirects:2: ")) << bad.error().message;
  EXPECT_EQ(objects.listVersions("docs").value().size(), 1u);
  EXPECT_EQ(readLivePointer(pointers, "docs").value()->version, first->version);

  writeFile(dir / "v2" / "_redirects", "/a /b\n");
  writeFile(dir / "v2" / "_headers", "/*\n  X-A: 1\n");
  auto good = deploy(context, options);
  ASSERT_TRUE(good) << good.error().describe();
  auto manifest = objects.readManifest("docs", good->version).value();
  EXPECT_EQ(manifest.rules.redirects, (std::vector<RedirectRule>{{"/a", "/b", 301, false, 1}}));
  ASSERT_EQ(manifest.rules.headers.size(), 1u);
  EXPECT_EQ(manifest.files.count("_redirects"), 0u);
  EXPECT_EQ(manifest.files.count("_headers"), 0u);
  EXPECT_EQ(manifest.files.count("index.html"), 1u);
}

}  // namespace
}  // namespace cutover
