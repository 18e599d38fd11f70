#include "cutover/rules/parse.h"

#include <gtest/gtest.h>

#include <string>

namespace cutover {
namespace {

// The error a `_redirects` text fails with; empty if it parses.
std::string redirectsError(std::string_view text) {
  auto parsed = parseRedirects(text);
  if (parsed) return "";
  EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
  return parsed.error().message;
}

std::string headersError(std::string_view text) {
  auto parsed = parseHeaders(text);
  if (parsed) return "";
  EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
  return parsed.error().message;
}

#define EXPECT_STARTS_WITH(text, prefix) \
  EXPECT_TRUE(std::string(text).starts_with(prefix)) << "got: " << (text)
#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "got: " << (text)

TEST(ParseRedirects, ReadsEveryStatusForceAndLineNumber) {
  auto rules = parseRedirects(
      "# moved pages\n"
      "/old /new\n"
      "\n"
      "/a /b 302\n"
      "/c   /d\t303\n"
      "/e /f 307\n"
      "/g /h 308!\n"
      "/* /index.html 200\n"
      "/shop/* /closed.html 404!\n");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules->size(), 7u);
  EXPECT_EQ((*rules)[0], (RedirectRule{"/old", "/new", 301, false, 2}));
  EXPECT_EQ((*rules)[1], (RedirectRule{"/a", "/b", 302, false, 4}));
  EXPECT_EQ((*rules)[2], (RedirectRule{"/c", "/d", 303, false, 5}));
  EXPECT_EQ((*rules)[3], (RedirectRule{"/e", "/f", 307, false, 6}));
  EXPECT_EQ((*rules)[4], (RedirectRule{"/g", "/h", 308, true, 7}));
  EXPECT_EQ((*rules)[5], (RedirectRule{"/*", "/index.html", 200, false, 8}));
  EXPECT_EQ((*rules)[6], (RedirectRule{"/shop/*", "/closed.html", 404, true, 9}));
}

TEST(ParseRedirects, AcceptsCommentsBlankLinesCrlfAndABom) {
  auto rules = parseRedirects(
      "\xEF\xBB\xBF# first\r\n"
      "   \r\n"
      "  # indented comment\r\n"
      "/a /b 302 # why: the page moved\r\n"
      "\t/c\t/d\r\n");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0], (RedirectRule{"/a", "/b", 302, false, 4}));
  EXPECT_EQ((*rules)[1], (RedirectRule{"/c", "/d", 301, false, 5}));
  EXPECT_TRUE(parseRedirects("")->empty());
  EXPECT_TRUE(parseRedirects("# nothing\n\n")->empty());
}

TEST(ParseRedirects, AcceptsPlaceholdersSplatsAndAbsoluteTargets) {
  auto rules = parseRedirects(
      "/news/* /blog/:splat\n"
      "/blog/:year/:month/:slug /posts/:year-:month/:slug 302\n"
      "/go/* https://example.com/:splat 302\n"
      "/docs https://docs.example.com:8443/start?from=old#top\n"
      "/:lang/about /about?lang=:lang 301\n"
      "/caf%C3%A9 /cafe\n");
  ASSERT_TRUE(rules) << rules.error().message;
  EXPECT_EQ(rules->size(), 6u);
}

TEST(ParseRedirects, NamesTheLineOfEveryMalformedRule) {
  struct Case {
    std::string line;
    std::string says;
  };
  const Case cases[] = {
      {"/only-one", "expected 'from to [status]', found only '/only-one'"},
      {"/a /b 301 extra", "unexpected 'extra' after the status"},
      {"/a /b 418", "unknown status 418"},
      {"/a /b 200x", "'200x' is not a status"},
      {"/a /b !", "'!' is not a status"},
      {"/a /b 3011", "'3011' is not a status"},
      {"/store id=:id /blog/:id 301", "'id=:id': conditions on query parameters are not supported"},
      {"/a?id=1 /b", "contains '?'"},
      {"/a /b 302 Country=us", "'Country=us': conditions on country, language"},
      {"/a /b 302 Language=en,de", "'Language=en,de': conditions on country, language"},
      {"/a /b 301! Role=admin", "conditions on country, language, role or cookie"},
      {"/proxy/* https://api.example.com/:splat 200",
       "a 200 rule to another host would proxy to it, which is not supported"},
      {"/gone https://example.com/gone.html 404", "a 404 rule serves a file of this site"},
      {"/a/:x /b/:y", "':y' is not a placeholder of 'from'"},
      {"/a /b/:splat", "':splat' needs a '*' at the end of 'from'"},
      {"/a/*/b /c", "may use '*' only as its whole last segment"},
      {"/a* /c", "may use '*' only as its whole last segment"},
      {"/a/:x/:x /c", "uses ':x' twice"},
      {"/a/:splat /c", "uses ':splat'"},
      {"/a/:bad-name /c", "has placeholder ':bad-name'"},
      {"/a/: /c", "has placeholder ':'"},
      {"/a//b /c", "has an empty segment"},
      {"/a relative/path", "must be a path starting with '/' or an http:// or https:// URL"},
      {"/a ftp://example.com/", "must be a path starting with '/' or an http:// or https:// URL"},
      {"/a //evil.example.com/", "names another host without a scheme"},
      {"/a https:///path", "has no host"},
      {"https://old.example.com/* https://new.example.com/:splat 301!",
       "'from' must be a path; rules for other hosts are not supported"},
      {"old /new", "'old' must start with '/'"},
      {"/a%zz /b", "malformed percent-escape"},
      {"/a /b%2", "malformed percent-escape"},
      {"/a%2Fb /c", "encoded '/'"},
      {std::string("/a /b\x01"), "contains a control character (byte 0x01)"},
      {std::string("/a /b\rc"), "contains a carriage return (CR)"},
      {std::string("/a\0 /b", 6), "contains a NUL byte"},
  };
  for (const auto& c : cases) {
    // Two good lines first, so the line number has to be counted.
    std::string error = redirectsError("# rules\n/fine /ok\n" + c.line + "\n/after /ok\n");
    EXPECT_STARTS_WITH(error, "_redirects:3: ");
    EXPECT_CONTAINS(error, c.says);
  }
}

TEST(ParseRedirects, HoldsAtMostTenThousandRules) {
  std::string text;
  for (std::size_t i = 0; i < kMaxRules; ++i) text += "/old/" + std::to_string(i) + " /new\n";
  auto full = parseRedirects(text);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->size(), kMaxRules);

  text += "# comments do not count\n/one-more /new\n";
  std::string error = redirectsError(text);
  EXPECT_STARTS_WITH(error, "_redirects:10002: ");
  EXPECT_CONTAINS(error, "more than 10000 rules");
}

TEST(ParseHeaders, ReadsBlocksSetsAndRemovals) {
  auto rules = parseHeaders(
      "# every page\n"
      "/*\n"
      "  X-Frame-Options: DENY\n"
      "  Link: </style.css>; rel=preload; as=style\n"
      "\n"
      "  # a comment inside a block\n"
      "\tCache-Control: public, max-age=60\n"
      "/assets/:name\n"
      "  Cache-Control:   max-age=31536000, immutable  \n"
      "  ! X-Frame-Options\n"
      "  X-Empty:\n");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules->size(), 2u);
  HeaderRule all{"/*",
                 {{"X-Frame-Options", "DENY"},
                  {"Link", "</style.css>; rel=preload; as=style"},
                  {"Cache-Control", "public, max-age=60"}},
                 {},
                 2};
  HeaderRule assets{"/assets/:name",
                    {{"Cache-Control", "max-age=31536000, immutable"}, {"X-Empty", ""}},
                    {"X-Frame-Options"},
                    8};
  EXPECT_EQ((*rules)[0], all);
  EXPECT_EQ((*rules)[1], assets);
}

TEST(ParseHeaders, AcceptsCrlfABomAndEmptyBlocks) {
  auto rules = parseHeaders("\xEF\xBB\xBF/a\r\n  X-A: 1\r\n/b\r\n");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].set, (std::vector<std::pair<std::string, std::string>>{{"X-A", "1"}}));
  EXPECT_TRUE((*rules)[1].set.empty());
  EXPECT_TRUE(parseHeaders("")->empty());
}

TEST(ParseHeaders, NamesTheLineOfEveryMalformedLine) {
  struct Case {
    std::string line;
    std::string says;
  };
  const Case cases[] = {
      {"X-Frame-Options: DENY", "is not indented: header lines go indented under a path pattern"},
      {"assets/*", "expected a path pattern starting with '/', found 'assets/*'"},
      {"https://example.com/*", "patterns for other hosts are not supported"},
      {"/a /b", "a pattern line holds the path pattern alone"},
      {"/a?x=1", "contains '?'"},
      {"/a/*/b", "may use '*' only as its whole last segment"},
      {"/*.js", "may use '*' only as its whole last segment"},
      {"  X Bad: 1", "'X Bad' is not a header name"},
      {"  X(Bad): 1", "'X(Bad)' is not a header name"},
      {"  : value", "a header needs a name"},
      {"  NoColon", "expected 'Name: value' or '! Name', found 'NoColon'"},
      {"  !", "'!' needs the name of the header to remove"},
      {"  ! Bad Name", "'Bad Name' is not a header name"},
      {std::string("  X-A: a\rb"), "contains a carriage return (CR)"},
      {std::string("  X-A: a\0b", 10), "contains a NUL byte"},
      {std::string("  X-A: a\x7f"), "contains a control character (byte 0x7F)"},
  };
  for (const auto& c : cases) {
    std::string error = headersError("/ok\n  X-Ok: 1\n" + c.line + "\n/after\n");
    EXPECT_STARTS_WITH(error, "_headers:3: ");
    EXPECT_CONTAINS(error, c.says);
  }
}

TEST(ParseHeaders, RejectsAHeaderLineBeforeAnyPattern) {
  std::string error = headersError("# headers\n  X-A: 1\n/a\n");
  EXPECT_STARTS_WITH(error, "_headers:2: ");
  EXPECT_CONTAINS(error, "comes before any path pattern");
}

TEST(ParseHeaders, HoldsAtMostTenThousandBlocks) {
  std::string text;
  for (std::size_t i = 0; i < kMaxRules; ++i) {
    text += "/page/" + std::to_string(i) + "\n  X-Page: " + std::to_string(i) + "\n";
  }
  auto full = parseHeaders(text);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->size(), kMaxRules);

  std::string error = headersError(text + "/one-more\n");
  EXPECT_STARTS_WITH(error, "_headers:20001: ");
  EXPECT_CONTAINS(error, "more than 10000 path patterns");
}

TEST(ParseHeaders, BoundsTheFieldsAndBytesOfOneBlock) {
  // Every response for a matching path carries the block: its size is bounded at deploy time.
  std::string block = "/*\n";
  for (std::size_t i = 0; i < kMaxHeaderFieldsPerBlock; ++i) {
    block += "  X-F" + std::to_string(i) + ": 1\n";
  }
  ASSERT_TRUE(parseHeaders(block));
  std::string error = headersError(block + "  ! X-Gone\n/next\n  X-A: 1\n");
  EXPECT_STARTS_WITH(error, "_headers:66: ");
  EXPECT_CONTAINS(error, "more than 64 header lines");
  EXPECT_CONTAINS(error, "line 1");

  std::string big(5000, 'v');
  EXPECT_TRUE(parseHeaders("/a\n  X-One: " + big + "\n/b\n  X-Two: " + big + "\n"));
  error = headersError("/a\n  X-One: " + big + "\n  X-Two: " + big + "\n");
  EXPECT_STARTS_WITH(error, "_headers:3: ");
  EXPECT_CONTAINS(error, "8192 bytes");

  // The same bounds hold for rules read back from a stored manifest.
  HeaderRule many{"/*", {}, {}, 5};
  for (std::size_t i = 0; i <= kMaxHeaderFieldsPerBlock; ++i) many.set.emplace_back("X-A", "1");
  auto read_back = validateHeaderRule(many);
  ASSERT_FALSE(read_back);
  EXPECT_STARTS_WITH(read_back.error().message, "_headers:5: ");
}

TEST(ParseRedirects, BoundsThePlaceholdersAndLengthOfATarget) {
  std::string sixteen = "/a/* /";
  for (std::size_t i = 0; i < kMaxTargetPlaceholders; ++i) sixteen += ":splat";
  ASSERT_TRUE(parseRedirects(sixteen + "\n"));
  std::string error = redirectsError("/x /y\n" + sixteen + ":splat\n");
  EXPECT_STARTS_WITH(error, "_redirects:2: ");
  EXPECT_CONTAINS(error, "more than 16 placeholders");
  error = redirectsError("/a/:p /q?x=:p&y=:p&z=:p&w=:p#:p:p:p:p:p:p:p:p:p:p:p:p:p\n");
  EXPECT_CONTAINS(error, "more than 16 placeholders");

  std::string long_target = "/" + std::string(kMaxTargetBytes, 'a');
  error = redirectsError("/a " + long_target + "\n");
  EXPECT_STARTS_WITH(error, "_redirects:1: ");
  EXPECT_CONTAINS(error, "longer than 2048 bytes");
  EXPECT_TRUE(parseRedirects("/a /" + std::string(kMaxTargetBytes - 1, 'a') + "\n"));
}

TEST(ParseRedirects, RefusesATargetThatABrowserReadsAsAnotherHost) {
  // "/\evil.example" is "//evil.example" to a browser: another host, without a scheme.
  std::string error = redirectsError("/a /\\evil.example/x\n");
  EXPECT_STARTS_WITH(error, "_redirects:1: ");
  EXPECT_CONTAINS(error, "another host");
  EXPECT_CONTAINS(redirectsError("/a //evil.example/x\n"), "another host");
}

TEST(ParseRedirects, RefusesATargetWithAnEscapedControlCharacter) {
  // Found by the redirects fuzz target: "/%04.l" decodes to a control character, which a rewrite
  // would look up as a file name and a redirect would send in its Location.
  std::string error = redirectsError("/private/* /%04.l 200\n");
  EXPECT_STARTS_WITH(error, "_redirects:1: ");
  EXPECT_CONTAINS(error, "control character");
  EXPECT_CONTAINS(redirectsError("/a /b%0d%0aSet-Cookie:x 301\n"), "control character");
  EXPECT_CONTAINS(redirectsError("/a /b%7F 302\n"), "control character");
}

TEST(ValidateRules, ChecksRulesReadBackFromAManifest) {
  EXPECT_TRUE(validateRedirectRule({"/a/:x", "/b/:x", 302, false, 4}));
  auto status = validateRedirectRule({"/a", "/b", 418, false, 4});
  ASSERT_FALSE(status);
  EXPECT_STARTS_WITH(status.error().message, "_redirects:4: unknown status 418");
  EXPECT_FALSE(validateRedirectRule({"/a", "/b c", 301, false, 1}));

  EXPECT_TRUE(validateHeaderRule({"/*", {{"X-A", "1"}}, {"X-B"}, 2}));
  auto value = validateHeaderRule({"/*", {{"X-A", "a\r\nSet-Cookie: x=1"}}, {}, 7});
  ASSERT_FALSE(value);
  EXPECT_STARTS_WITH(value.error().message, "_headers:7: the value of X-A contains");
  EXPECT_FALSE(validateHeaderRule({"/*", {}, {"Bad Name"}, 2}));
  EXPECT_FALSE(validateHeaderRule({"*", {}, {}, 2}));
}

}  // namespace
}  // namespace cutover
