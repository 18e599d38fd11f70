#include "edge/request_target.h"

#include <gtest/gtest.h>

namespace cutover::edge {
namespace {

std::string decode(std::string_view target) {
  DecodedTarget out;
  auto r = decodeTarget(target, out);
  EXPECT_TRUE(r) << target << ": " << (r ? "" : r.error().message);
  return out.path;
}

bool rejected(std::string_view target) {
  DecodedTarget out;
  auto r = decodeTarget(target, out);
  if (r) return false;
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  return true;
}

TEST(RequestTarget, DecodesPercentEscapesOnce) {
  EXPECT_EQ(decode("/"), "/");
  EXPECT_EQ(decode("/a%20b.html"), "/a b.html");
  EXPECT_EQ(decode("/caf%C3%A9/"), "/caf\xC3\xA9/");
  EXPECT_EQ(decode("/%2541"),
            "/%41");                  // decoded once: "%25" is '%', not the start of another escape
  EXPECT_EQ(decode("/a+b"), "/a+b");  // '+' is only a space in form queries
  EXPECT_EQ(decode("/.well-known/x"), "/.well-known/x");
  EXPECT_EQ(decode("/a..b/c.."), "/a..b/c..");  // dots inside a name are fine
}

TEST(RequestTarget, SplitsTheQueryAndLeavesItEncoded) {
  DecodedTarget out;
  ASSERT_TRUE(decodeTarget("/docs%2Dx?q=%2e%2e&x=%zz", out));
  EXPECT_EQ(out.path, "/docs-x");
  EXPECT_EQ(out.raw_path, "/docs%2Dx");
  EXPECT_TRUE(out.has_query);
  EXPECT_EQ(out.query, "q=%2e%2e&x=%zz");
  ASSERT_TRUE(decodeTarget("/a?", out));
  EXPECT_TRUE(out.has_query);
  EXPECT_EQ(out.query, "");
  ASSERT_TRUE(decodeTarget("/a", out));
  EXPECT_FALSE(out.has_query);
}

TEST(RequestTarget, RejectsEveryTraversalTrick) {
  for (const char* target : {"/../etc/passwd",
                             "/..",
                             "/a/..",
                             "/a/../b",
                             "/%2e%2e/",
                             "/%2E%2E/etc/passwd",
                             "/.%2e/",
                             "/%2e./",
                             "/a/%2e%2e/%2e%2e/x",
                             "/a/.%2E/x",
                             "/static/..%2f..%2fetc",
                             "/%2f",
                             "/a%2Fb",
                             "/%2F..%2F",
                             "/\\..\\",
                             "/a\\b",
                             "/%5c..%5c",
                             "/%5C",
                             "/..\\x",
                             "/x/..?q=1"}) {
    EXPECT_TRUE(rejected(target)) << target;
  }
}

TEST(RequestTarget, RejectsNulAndControlCharacters) {
  EXPECT_TRUE(rejected("/%00"));
  EXPECT_TRUE(rejected("/index.html%00.png"));
  EXPECT_TRUE(rejected(std::string_view("/a\0b", 4)));
  EXPECT_TRUE(rejected("/a%0d%0aSet-Cookie:x"));
  EXPECT_TRUE(rejected("/a%09b"));
  EXPECT_TRUE(rejected("/a%7f"));
  EXPECT_TRUE(rejected("/a\x01"));
}

TEST(RequestTarget, RejectsMalformedEscapes) {
  for (const char* target : {"/%zz", "/%2", "/%", "/a%g0", "/a%0g", "/%%32%65"}) {
    EXPECT_TRUE(rejected(target)) << target;
  }
}

TEST(RequestTarget, RejectsTargetsThatAreNotAPath) {
  for (const char* target : {"", "*", "index.html", "http://docs.localhost/index.html", "?x"}) {
    EXPECT_TRUE(rejected(target)) << target;
  }
}

TEST(RequestTarget, RejectsPathsOverTheLimits) {
  EXPECT_TRUE(rejected("/" + std::string(2000, 'a')));
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "/d";
  EXPECT_TRUE(rejected(deep));
  EXPECT_FALSE(rejected("/" + std::string(1000, 'a')));
}

}  // namespace
}  // namespace cutover::edge
