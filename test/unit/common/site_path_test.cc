#include "cutover/common/site_path.h"

#include <gtest/gtest.h>

namespace cutover {
namespace {

TEST(NormalizeSitePath, KeepsOrdinaryPaths) {
  EXPECT_EQ(normalizeSitePath("index.html").value(), "index.html");
  EXPECT_EQ(normalizeSitePath("a/b/c.css").value(), "a/b/c.css");
  EXPECT_EQ(normalizeSitePath("./a//b/./c.js").value(), "a/b/c.js");
  EXPECT_EQ(normalizeSitePath("dir/").value(), "dir");
  EXPECT_EQ(normalizeSitePath("caf\xc3\xa9.html").value(), "caf\xc3\xa9.html");
}

TEST(NormalizeSitePath, RejectsWhatCouldLeaveTheVersion) {
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "a/..", "a\\b", "..", ""}) {
    auto r = normalizeSitePath(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
  }
  EXPECT_FALSE(normalizeSitePath(std::string("a\0b", 3)));
  EXPECT_FALSE(normalizeSitePath("a\nb"));
  EXPECT_FALSE(normalizeSitePath(std::string(2000, 'a')));
}

TEST(NormalizeSitePath, ErrorNamesThePath) {
  auto r = normalizeSitePath("../secret");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("../secret"), std::string::npos);
}

}  // namespace
}  // namespace cutover
