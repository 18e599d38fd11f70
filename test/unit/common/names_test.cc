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
  EXPECT_EQ(seen.size(), 1000U);
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
