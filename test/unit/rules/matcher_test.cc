#include "rules/matcher.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <string>

#include "cutover/rules/parse.h"

namespace cutover::rules {
namespace {

RulesMatcher redirects(std::string_view text) {
  auto parsed = parseRedirects(text);
  EXPECT_TRUE(parsed) << parsed.error().message;
  SiteRules rules;
  if (parsed) rules.redirects = std::move(*parsed);
  return RulesMatcher(rules);
}

RulesMatcher headerRules(std::string_view text) {
  auto parsed = parseHeaders(text);
  EXPECT_TRUE(parsed) << parsed.error().message;
  SiteRules rules;
  if (parsed) rules.headers = std::move(*parsed);
  return RulesMatcher(rules);
}

// "301 /new" for a match, "none" otherwise: one string to compare in a test.
std::string follow(const RulesMatcher& matcher, std::string_view path, std::string_view query = "",
                   bool file_exists = false) {
  RedirectMatch out;
  if (!matcher.redirect(path, query, file_exists, out)) return "none";
  return std::to_string(out.status) + (out.force ? "! " : " ") + out.target;
}

// "Name: value" lines, in order.
std::string headersFor(const RulesMatcher& matcher, std::string_view path) {
  HeaderMatch out;
  matcher.headers(path, out);
  std::string text;
  for (const auto& field : out.fields) {
    text += std::string(field.name) + ": " + std::string(field.value) + "\n";
  }
  return text;
}

TEST(RedirectMatcher, MatchesExactPathsWithOrWithoutATrailingSlash) {
  auto m = redirects("/old /new\n/docs/start/ /guide 302\n/ /home 302\n");
  EXPECT_EQ(follow(m, "/old"), "301 /new");
  EXPECT_EQ(follow(m, "/old/"), "301 /new");
  EXPECT_EQ(follow(m, "/older"), "none");
  EXPECT_EQ(follow(m, "/old/more"), "none");
  EXPECT_EQ(follow(m, "/docs/start"), "302 /guide");
  EXPECT_EQ(follow(m, "/docs/start/"), "302 /guide");
  EXPECT_EQ(follow(m, "/"), "302 /home");
  EXPECT_EQ(follow(m, "/Old"), "none");  // paths are case-sensitive
}

TEST(RedirectMatcher, KeepsTheRequestQueryUnlessTheTargetHasItsOwn) {
  auto m = redirects(
      "/old /new\n"
      "/own /new?ref=rule\n"
      "/top /page#top\n"
      "/ext https://example.com/x 302\n");
  EXPECT_EQ(follow(m, "/old", "a=1&b=%20x"), "301 /new?a=1&b=%20x");
  EXPECT_EQ(follow(m, "/own", "a=1"), "301 /new?ref=rule");
  EXPECT_EQ(follow(m, "/top", "q=2"), "301 /page?q=2#top");
  EXPECT_EQ(follow(m, "/top"), "301 /page#top");
  EXPECT_EQ(follow(m, "/ext", "utm=1"), "302 https://example.com/x?utm=1");
}

TEST(RedirectMatcher, SubstitutesSplatsAndPlaceholders) {
  auto m = redirects(
      "/news/* /blog/:splat\n"
      "/blog/:year/:month/:slug /posts/:year-:month/:slug 302\n"
      "/go/* https://example.com/:splat 302\n"
      "/:lang/about /about?lang=:lang\n");
  EXPECT_EQ(follow(m, "/news/2024/launch"), "301 /blog/2024/launch");
  EXPECT_EQ(follow(m, "/news/2024/launch/"), "301 /blog/2024/launch/");
  EXPECT_EQ(follow(m, "/news/"), "301 /blog/");
  EXPECT_EQ(follow(m, "/news"), "301 /blog/");
  EXPECT_EQ(follow(m, "/newsletter"), "none");
  EXPECT_EQ(follow(m, "/blog/2024/05/hello"), "302 /posts/2024-05/hello");
  EXPECT_EQ(follow(m, "/blog/2024/05/hello/"), "302 /posts/2024-05/hello");
  EXPECT_EQ(follow(m, "/blog/2024/05"), "none");  // a placeholder needs its segment
  EXPECT_EQ(follow(m, "/blog/2024/05/hello/more"), "none");
  EXPECT_EQ(follow(m, "/go/a/b", "x=1"), "302 https://example.com/a/b?x=1");
  EXPECT_EQ(follow(m, "/de/about"), "301 /about?lang=de");
}

TEST(RedirectMatcher, EncodesWhatItSubstitutesIntoALocation) {
  // The path arrives decoded: a space, a '?' (sent as %3F) and UTF-8 must not reach the header raw.
  auto m = redirects("/news/* /blog/:splat\n/t/:tag /search?tag=:tag\n");
  EXPECT_EQ(follow(m, "/news/a b?c/caf\xC3\xA9"), "301 /blog/a%20b%3Fc/caf%C3%A9");
  EXPECT_EQ(follow(m, "/t/a&b=c"), "301 /search?tag=a%26b%3Dc");
}

TEST(RedirectMatcher, FirstMatchingRuleWinsInFileOrder) {
  auto m = redirects(
      "/blog/special /one\n"
      "/blog/* /two\n"
      "/blog/special /three\n"
      "/* /four\n");
  EXPECT_EQ(follow(m, "/blog/special"), "301 /one");
  EXPECT_EQ(follow(m, "/blog/other"), "301 /two");
  EXPECT_EQ(follow(m, "/elsewhere"), "301 /four");

  // A catch-all first shadows every later rule, whichever index they sit in.
  auto greedy = redirects("/* /all 302\n/exact /one\n/blog/* /two\n");
  EXPECT_EQ(follow(greedy, "/exact"), "302 /all");
  EXPECT_EQ(follow(greedy, "/blog/x"), "302 /all");
}

TEST(RedirectMatcher, AnExistingFileShadowsRulesWithoutForce) {
  auto m = redirects(
      "/page /elsewhere\n"
      "/page /forced 302!\n"
      "/other /moved\n");
  EXPECT_EQ(follow(m, "/page", "", false), "301 /elsewhere");
  EXPECT_EQ(follow(m, "/page", "", true), "302! /forced");
  EXPECT_EQ(follow(m, "/other", "", true), "none");
  EXPECT_EQ(follow(m, "/other", "", false), "301 /moved");
}

TEST(RedirectMatcher, RewritesAndNotFoundRulesNameADecodedFile) {
  auto m = redirects(
      "/app/* /app/index.html 200\n"
      "/shop/* /closed.html 404\n"
      "/menu /caf%C3%A9.html 200\n"
      "/docs/* /v2/:splat 200!\n");
  EXPECT_EQ(follow(m, "/app/settings/profile", "tab=1"), "200 /app/index.html");
  EXPECT_EQ(follow(m, "/shop/cart"), "404 /closed.html");
  EXPECT_EQ(follow(m, "/menu"), "200 /caf\xC3\xA9.html");
  EXPECT_EQ(follow(m, "/docs/a b.html", "", true), "200! /v2/a b.html");
  EXPECT_EQ(follow(m, "/app/logo.png", "", true), "none");
}

TEST(RedirectMatcher, ARuleNeverRedirectsARequestToItself) {
  auto m = redirects("/docs /docs/ 301\n/same /same?x=1 302\n/* /fallback 302\n");
  EXPECT_EQ(follow(m, "/docs"), "301 /docs/");
  // "/docs/" matches "/docs" too, but redirecting it to itself would loop: the next rule applies.
  EXPECT_EQ(follow(m, "/docs/"), "302 /fallback");
  EXPECT_EQ(follow(m, "/same"), "302 /same?x=1");
  EXPECT_EQ(follow(m, "/same", "x=1"), "302 /fallback?x=1");
}

TEST(RedirectMatcher, ReusesItsOutputAcrossCalls) {
  auto m = redirects("/a/:x /b/:x\n");
  RedirectMatch out;
  ASSERT_TRUE(m.redirect("/a/first-long-segment", "", false, out));
  EXPECT_EQ(out.target, "/b/first-long-segment");
  EXPECT_EQ(out.line, 1);
  EXPECT_FALSE(m.redirect("/nothing", "", false, out));
  EXPECT_EQ(out.status, 0);
  EXPECT_TRUE(out.target.empty());
  ASSERT_TRUE(m.redirect("/a/x", "q", false, out));
  EXPECT_EQ(out.target, "/b/x?q");
}

TEST(RedirectMatcher, SkipsRulesThatNeverPassedValidation) {
  SiteRules rules;
  rules.redirects = {{"/a", "/b", 418, false, 1},
                     {"no-slash", "/b", 301, false, 2},
                     {"/p/*", "https://x.example/:splat", 200, false, 3},
                     {"/c", "/d", 302, false, 4}};
  RulesMatcher m(rules);
  EXPECT_EQ(m.skipped(), 3u);
  EXPECT_EQ(follow(m, "/a"), "none");
  EXPECT_EQ(follow(m, "/c"), "302 /d");
  EXPECT_FALSE(RulesMatcher().hasRedirects());
  EXPECT_EQ(follow(RulesMatcher(), "/c"), "none");
}

TEST(RedirectMatcher, ASubstitutedTargetStaysOnTheSite) {
  // "//evil.example/x" in a Location is another host: a splat must not make one.
  auto m = redirects(
      "/go/* /:splat 301\n"
      "/to/:p /:p/page 302\n"
      "/ext/* https://example.com/:splat 302\n"
      "/app/* /:splat 200\n");
  EXPECT_EQ(follow(m, "/go//evil.example/x"), "301 /evil.example/x");
  EXPECT_EQ(follow(m, "/go////evil.example/x", "q=1"), "301 /evil.example/x?q=1");
  EXPECT_EQ(follow(m, "/go/\\evil.example/x"), "301 /%5Cevil.example/x");
  EXPECT_EQ(follow(m, "/go/a//b"), "301 /a//b");
  EXPECT_EQ(follow(m, "/go/"), "301 /");
  EXPECT_EQ(follow(m, "/to/x"), "302 /x/page");
  // An absolute target names its host itself; what follows it is a path on that host.
  EXPECT_EQ(follow(m, "/ext//evil.example"), "302 https://example.com//evil.example");
  // A rewrite names a file of the version, never a host: left as it is.
  EXPECT_EQ(follow(m, "/app//x.html"), "200 //x.html");
}

TEST(RedirectMatcher, ARuleWhoseLocationWouldBeTooLongDoesNotApply) {
  std::string to = "/";
  for (std::size_t i = 0; i < kMaxTargetPlaceholders; ++i) to += ":splat";
  auto m = redirects("/r/* " + to + " 302\n/r/* /fallback 302\n/big/* /:splat 302\n");
  std::string sixteen_ab;
  for (int i = 0; i < 16; ++i) sixteen_ab += "ab";
  EXPECT_EQ(follow(m, "/r/ab"), "302 /" + sixteen_ab);
  // A 1 KiB path would make a 16 KiB Location: the rule does not apply, the next one does.
  // (Compared by their first bytes and size: a failure must not print megabytes.)
  auto brief = [](const std::string& s) {
    return s.substr(0, 40) + " (" + std::to_string(s.size()) + ")";
  };
  std::string kib(1024, 'x');
  EXPECT_EQ(brief(follow(m, "/r/" + kib)), "302 /fallback (13)");
  // Escaping counts too: 6,000 spaces become 18,000 bytes.
  EXPECT_EQ(brief(follow(m, "/big/" + std::string(6000, ' '))), "none (4)");
  EXPECT_EQ(brief(follow(m, "/big/" + std::string(5000, 'y'))),
            brief("302 /" + std::string(5000, 'y')));
}

TEST(HeaderMatcher, BoundsWhatAllMatchingBlocksAddTogether) {
  // Ten blocks within their own bounds, all matching every path: the response head stays bounded;
  // the blocks that fit apply whole, in file order, the rest not at all.
  std::string text;
  std::string value(100, 'v');
  for (int block = 0; block < 10; ++block) {
    text += "/*\n";
    for (int field = 0; field < 60; ++field) {
      text += fmt::format("  X-B{}-F{}: {}\n", block, field, value);
    }
  }
  auto m = headerRules(text);
  HeaderMatch out;
  m.headers("/page", out);
  std::size_t bytes = 0;
  for (const auto& field : out.fields) bytes += field.name.size() + field.value.size() + 4;
  EXPECT_LE(bytes, kMaxRuleHeaderBytes);
  ASSERT_FALSE(out.fields.empty());
  EXPECT_EQ(out.fields.front().name, "X-B0-F0");
  EXPECT_EQ(out.fields.size() % 60, 0u);
  EXPECT_GE(out.fields.size(), 60u * (kMaxRuleHeaderBytes / (60 * 116 + 1)));
}

TEST(HeaderMatcher, CombinesEveryMatchingBlockInFileOrder) {
  auto m = headerRules(
      "/*\n"
      "  X-Frame-Options: DENY\n"
      "  Cache-Control: public\n"
      "/assets/*\n"
      "  Cache-Control: max-age=31536000\n"
      "  cache-control: immutable\n"
      "/assets/:file\n"
      "  X-Asset: yes\n"
      "/about\n"
      "  X-About: 1\n");
  EXPECT_EQ(headersFor(m, "/"), "X-Frame-Options: DENY\nCache-Control: public\n");
  EXPECT_EQ(headersFor(m, "/assets/app.js"),
            "X-Frame-Options: DENY\n"
            "Cache-Control: public, max-age=31536000, immutable\n"
            "X-Asset: yes\n");
  EXPECT_EQ(headersFor(m, "/assets/js/app.js"),
            "X-Frame-Options: DENY\nCache-Control: public, max-age=31536000, immutable\n");
  EXPECT_EQ(headersFor(m, "/about/"), "X-Frame-Options: DENY\nCache-Control: public\nX-About: 1\n");
  EXPECT_EQ(headersFor(headerRules("/only\n  X-A: 1\n"), "/other"), "");
}

TEST(HeaderMatcher, RemovesWhatEarlierBlocksSetWithoutRegardToCase) {
  auto m = headerRules(
      "/*\n"
      "  X-Robots-Tag: noindex\n"
      "  Link: </a.css>; rel=preload\n"
      "/public/*\n"
      "  ! x-robots-tag\n"
      "  ! X-Never-Set\n"
      "  Link: </b.css>; rel=preload\n"
      "/public/special\n"
      "  X-Robots-Tag: nofollow\n"
      "  ! Link\n");
  EXPECT_EQ(headersFor(m, "/private"), "X-Robots-Tag: noindex\nLink: </a.css>; rel=preload\n");
  EXPECT_EQ(headersFor(m, "/public/page"), "Link: </a.css>; rel=preload, </b.css>; rel=preload\n");
  // Removal applies to earlier blocks only, and within a block before the block's own lines.
  EXPECT_EQ(headersFor(m, "/public/special"), "X-Robots-Tag: nofollow\n");
}

TEST(HeaderMatcher, ReusesItsOutputAcrossCallsAndVersions) {
  auto first = headerRules("/*\n  A: 1\n  a: 2\n  B: x\n");
  auto second = headerRules("/*\n  C: 1\n/x\n  D: 2\n  E: 3\n  F: 4\n  d: 5\n");
  HeaderMatch out;
  for (int round = 0; round < 3; ++round) {
    first.headers("/p", out);
    ASSERT_EQ(out.fields.size(), 2u);
    EXPECT_EQ(out.fields[0].value, "1, 2");
    EXPECT_EQ(out.fields[1].value, "x");
    second.headers("/x", out);
    ASSERT_EQ(out.fields.size(), 4u);
    EXPECT_EQ(out.fields[1].name, "D");
    EXPECT_EQ(out.fields[1].value, "2, 5");
    second.headers("/y", out);
    ASSERT_EQ(out.fields.size(), 1u);
    EXPECT_EQ(out.fields[0].value, "1");
  }
}

// Every rule tried in file order, without the index: what the matcher must agree with.
std::string followNaively(const std::vector<Pattern>& patterns, const SiteRules& rules,
                          std::string_view path) {
  std::vector<std::string_view> captures;
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    if (matchPattern(patterns[i], path, &captures)) return std::to_string(rules.redirects[i].line);
  }
  return "none";
}

// 10,000 rules of every kind, checked against a rule-by-rule scan, then timed (no assertion on
// the time: the figure is printed for whoever changes the index).
TEST(RulesMatcherScale, TenThousandRulesAgreeWithAScanAndStayFast) {
  std::string text;
  for (int i = 0; i < 8000; ++i) text += fmt::format("/old/page-{} /new/page-{}\n", i, i);
  for (int i = 0; i < 1000; ++i) text += fmt::format("/blog/{}/* /posts/{}/:splat 302\n", i, i);
  for (int i = 0; i < 980; ++i) text += fmt::format("/s{}/:slug /t{}/:slug 307\n", i, i);
  for (int i = 0; i < 18; ++i) text += fmt::format("/:lang/x{} /x{}?lang=:lang\n", i, i);
  text += "/old/* /old-section/:splat\n/* /index.html 200\n";
  auto parsed = parseRedirects(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), kMaxRules);
  SiteRules rules;
  rules.redirects = std::move(*parsed);

  std::string header_text = "/*\n  X-All: 1\n";
  for (int i = 1; i < 10000; ++i) header_text += fmt::format("/h/{}\n  X-Page: {}\n", i, i);
  auto headers = parseHeaders(header_text);
  ASSERT_TRUE(headers) << headers.error().message;
  rules.headers = std::move(*headers);
  RulesMatcher matcher(rules);
  std::vector<Pattern> patterns;
  for (const auto& rule : rules.redirects) patterns.push_back(parsePattern(rule.from).value());

  std::mt19937 random(7);
  auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  std::vector<std::string> paths;
  for (int i = 0; i < 2000; ++i) {
    switch (pick(7)) {
      case 0:
        paths.push_back(fmt::format("/old/page-{}", pick(9000)));
        break;
      case 1:
        paths.push_back(fmt::format("/blog/{}/a/b", pick(1100)));
        break;
      case 2:
        paths.push_back(fmt::format("/s{}/{}", pick(1000), pick(5)));
        break;
      case 3:
        paths.push_back(fmt::format("/en/x{}/", pick(20)));
        break;
      case 4:
        paths.push_back(fmt::format("/old/page-{}/deeper", pick(10)));
        break;
      case 5:
        paths.push_back(fmt::format("/h/{}", pick(10000)));
        break;
      default:
        paths.push_back(fmt::format("/unknown/{}", pick(100)));
        break;
    }
  }
  RedirectMatch out;
  HeaderMatch header_out;
  // The scan is slow by design; a quarter of the paths covers every kind.
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const auto& path = paths[i];
    matcher.redirect(path, "", false, out);
    if (i % 4 == 0) {
      EXPECT_EQ(out.matched() ? std::to_string(out.line) : "none",
                followNaively(patterns, rules, path))
          << path;
    }
    matcher.headers(path, header_out);
    ASSERT_FALSE(header_out.fields.empty());
    EXPECT_EQ(header_out.fields[0].value, "1");
  }
  EXPECT_EQ(follow(matcher, "/old/page-7999"), "301 /new/page-7999");
  EXPECT_EQ(follow(matcher, "/old/page-8000"), "301 /old-section/page-8000");
  EXPECT_EQ(follow(matcher, "/s979/hello"), "307 /t979/hello");
  EXPECT_EQ(follow(matcher, "/nowhere"), "200 /index.html");

  constexpr int kRounds = 25;  // 50,000 redirect and 50,000 header lookups
  std::size_t matched = 0;
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  for (int round = 0; round < kRounds; ++round) {
    for (const auto& path : paths) {
      matched += matcher.redirect(path, "a=1", false, out) ? 1 : 0;
      matcher.headers(path, header_out);
      matched += header_out.fields.size();
    }
  }
  // CPU time as well as wall time: on a busy machine the wall clock mostly measures waiting.
  double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(matched, 0u);
  double pairs = kRounds * static_cast<double>(paths.size());
  std::printf(
      "10,000 rules: %.0f redirect + header lookups: %.3f s CPU (%.2f us per pair), %.3f s wall\n",
      pairs, cpu, cpu * 1e6 / pairs, seconds);
}

}  // namespace
}  // namespace cutover::rules
