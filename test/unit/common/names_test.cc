#include "cutover/common/names.h"

#include <gtest/gtest.h>

#include <set>

namespace cutover {
namespace {

TEST(SiteName, AcceptsDnsLabels) {
  EXPECT_TRUE(validateSiteName("docs"));
  EXPECT_TRUE(validateSiteName("my-site-2"));
}

TEST(SiteName, RejectsWhatCannotBeAHostLabel) {
  for (const char* bad : {"", "Docs", "-a", "a-", "a--b", "a.b", "a/b", "a b"}) {
    EXPECT_FALSE(validateSiteName(bad)) << bad;
  }
  EXPECT_FALSE(validateSiteName(std::string(64, 'a')));
}

TEST(VersionId, IsUniqueAndUsableInHostNames) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = newVersionId();
    EXPECT_TRUE(validateVersionId(id)) << id;
    seen.insert(id);
  }
  // 24 random bits a second: 1,000 ids drawn in one second collide about once in 30 runs (a
  // deploy that draws a taken id draws again, see commitVersion), but 5 collisions would take a
  // broken generator.
  EXPECT_GE(seen.size(), 995U);
  auto git = newVersionId("3f9a1c2");
  EXPECT_EQ(git.rfind("3f9a1c2-", 0), 0U);
  EXPECT_TRUE(validateVersionId(git));
}

TEST(Host, NormalizesCaseAndPort) {
  EXPECT_EQ(normalizeHost("Docs.LocalHost:8080"), "docs.localhost");
  EXPECT_EQ(normalizeHost("example.com."), "example.com");
  EXPECT_EQ(normalizeHost("[::1]:80"), "[::1]");
}

}  // namespace
}  // namespace cutover
