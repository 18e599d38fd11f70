#include "cutover/common/site_path.h"

#include <gtest/gtest.h>

#include "cutover/common/utf8.h"

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

// A manifest is JSON, which holds only UTF-8: a name that is not UTF-8 is refused here, and the
// message shows the bad bytes escaped, so the message itself is valid UTF-8.
TEST(NormalizeSitePath, RefusesNamesThatAreNotUtf8NamingThemEscaped) {
  for (const char* bad : {"caf\xe9.html", "a/\xff", "\xc3", "\xc0\xaf.html", "\xed\xa0\x80.js",
                          "\xf4\x90\x80\x80.css"}) {
    auto r = normalizeSitePath(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos) << r.error().message;
    EXPECT_TRUE(isValidUtf8(r.error().message)) << r.error().message;
  }
  auto r = normalizeSitePath("d/caf\xe9.html");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'d/caf\\xE9.html'"), std::string::npos) << r.error().message;
  EXPECT_TRUE(normalizeSitePath("\xf0\x9f\x98\x80/\xe2\x82\xac.html"));
}

TEST(PrintablePath, EscapesWhatIsNotPrintableUtf8AndKeepsTheRest) {
  EXPECT_EQ(printablePath("caf\xc3\xa9.html"), "caf\xc3\xa9.html");
  EXPECT_EQ(printablePath("caf\xe9.html"), "caf\\xE9.html");
  EXPECT_EQ(printablePath("a\nb"), "a\\x0Ab");
  EXPECT_EQ(printablePath("\xc3"), "\\xC3");
}

}  // namespace
}  // namespace cutover
