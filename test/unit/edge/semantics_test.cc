// The pieces of HTTP semantics the handler composes: byte ranges, dates, the cache policy and
// skew-protection pins. Each is what a browser or a CDN in front would act on.
#include <gtest/gtest.h>

#include "edge/cache_policy.h"
#include "edge/http_date.h"
#include "edge/range.h"
#include "edge/skew.h"

namespace cutover::edge {
namespace {

using Kind = ByteRange::Kind;

TEST(RangeTest, ParsesTheThreeFormsOfASingleRange) {
  auto r = parseRange("bytes=0-99", 1000);
  EXPECT_EQ(r.kind, Kind::partial);
  EXPECT_EQ(r.first, 0U);
  EXPECT_EQ(r.last, 99U);
  EXPECT_EQ(r.length(), 100U);

  r = parseRange("bytes=900-", 1000);
  EXPECT_EQ(r.kind, Kind::partial);
  EXPECT_EQ(r.first, 900U);
  EXPECT_EQ(r.last, 999U);

  r = parseRange("bytes=-10", 1000);
  EXPECT_EQ(r.kind, Kind::partial);
  EXPECT_EQ(r.first, 990U);
  EXPECT_EQ(r.last, 999U);

  r = parseRange("Bytes=5-5", 1000);  // the unit is case-insensitive; no spaces around "="
  EXPECT_EQ(r.kind, Kind::partial);
  EXPECT_EQ(r.length(), 1U);
}

TEST(RangeTest, ClampsAnEndPastTheSizeAndASuffixLongerThanTheFile) {
  auto r = parseRange("bytes=10-5000", 100);
  EXPECT_EQ(r.kind, Kind::partial);
  EXPECT_EQ(r.last, 99U);
  r = parseRange("bytes=-5000", 100);
  EXPECT_EQ(r.kind, Kind::partial);
  EXPECT_EQ(r.first, 0U);
  EXPECT_EQ(r.last, 99U);
}

TEST(RangeTest, AStartPastTheEndIsUnsatisfiable) {
  EXPECT_EQ(parseRange("bytes=1000-", 1000).kind, Kind::unsatisfiable);
  EXPECT_EQ(parseRange("bytes=5000-6000", 1000).kind, Kind::unsatisfiable);
  EXPECT_EQ(parseRange("bytes=-0", 1000).kind, Kind::unsatisfiable);
  EXPECT_EQ(parseRange("bytes=0-", 0).kind, Kind::unsatisfiable);
}

TEST(RangeTest, WhatMayBeIgnoredGetsTheWholeFile) {
  for (const char* field :
       {"", "bytes", "items=0-1", "bytes=0-1,5-6", "bytes=abc", "bytes=5-1", "bytes=-",
        "bytes=1-2-3", "bytes=+1-2", "bytes=99999999999999999999-"}) {
    EXPECT_EQ(parseRange(field, 1000).kind, Kind::whole) << field;
  }
}

TEST(HttpDateTest, FormatsAndParsesAllThreeForms) {
  std::time_t t = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(formatHttpDate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), t);
  EXPECT_EQ(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), t);
  EXPECT_EQ(parseHttpDate("Sun Nov  6 08:49:37 1994"), t);
  EXPECT_EQ(parseHttpDate("yesterday"), std::nullopt);
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT trailing"), std::nullopt);
  EXPECT_EQ(parseRfc3339("1994-11-06T08:49:37.123Z"), t);
  EXPECT_EQ(parseRfc3339("1994-11-06 08:49:37"), std::nullopt);
}

TEST(CachePolicyTest, HtmlRevalidatesHashedAssetsAreImmutableTheRestShort) {
  std::string short_policy = shortMaxAge(60);
  EXPECT_EQ(short_policy, "public, max-age=60");
  EXPECT_EQ(cacheControlFor(false, "text/html; charset=utf-8", short_policy), kRevalidate);
  // Even an HTML file with a hash-like name: HTML is what a flip must change at once.
  EXPECT_EQ(cacheControlFor(true, "text/html; charset=utf-8", short_policy), kRevalidate);
  EXPECT_EQ(cacheControlFor(true, "text/javascript", short_policy), kImmutable);
  EXPECT_EQ(cacheControlFor(false, "image/png", short_policy), short_policy);
}

TEST(SkewTest, ACookieRoundTripsWithinItsWindowOnly) {
  std::string cookie;
  formatPinCookie(cookie, "20261127-120000-abcdef", 1000, 3600);
  EXPECT_EQ(
      cookie,
      "cutover_pin=20261127-120000-abcdef.1000; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax");
  std::string sent = "theme=dark; cutover_pin=20261127-120000-abcdef.1000; other=1";
  EXPECT_EQ(pinnedByCookie(sent, 1000 + 3600, 3600), "20261127-120000-abcdef");
  EXPECT_EQ(pinnedByCookie(sent, 1000 + 3601, 3600), "");  // the window has passed
  EXPECT_EQ(pinnedByCookie(sent, 1000 - 3600, 3600), "");  // issued in the future
  EXPECT_EQ(pinnedByCookie("cutover_pin=../etc.1000", 1000, 3600), "");
  EXPECT_EQ(pinnedByCookie("cutover_pin=v1", 1000, 3600), "");
  EXPECT_EQ(pinnedByCookie("xcutover_pin=v1.1000", 1000, 3600), "");
  EXPECT_EQ(pinnedByCookie("", 1000, 3600), "");
}

TEST(SkewTest, ACookieIssuedAtAFarPastOrFarFutureTimeDoesNotPin) {
  // `now - issued` must not overflow (and wrap into the window).
  EXPECT_EQ(pinnedByCookie("cutover_pin=v1.-9223372036854775807", 1764000000, 3600), "");
  EXPECT_EQ(pinnedByCookie("cutover_pin=v1.-9223372036854775808", 1764000000, 3600), "");
  EXPECT_EQ(pinnedByCookie("cutover_pin=v1.9223372036854775807", 1764000000, 3600), "");
  EXPECT_EQ(pinnedByCookie("cutover_pin=v1.1764000000", 1764000000, 3600), "v1");
}

TEST(SkewTest, TheQueryParameterPins) {
  EXPECT_EQ(pinnedByQuery("dpl=v2"), "v2");
  EXPECT_EQ(pinnedByQuery("a=1&dpl=v2&b=3"), "v2");
  EXPECT_EQ(pinnedByQuery("xdpl=v2"), "");
  EXPECT_EQ(pinnedByQuery("dpl"), "");
  EXPECT_EQ(pinnedByQuery(""), "");
}

TEST(SkewTest, NavigationsAreToldBySecFetchModeElseByAccept) {
  EXPECT_TRUE(isNavigation("navigate", ""));
  EXPECT_FALSE(isNavigation("cors", "text/html"));
  EXPECT_FALSE(isNavigation("no-cors", ""));
  EXPECT_TRUE(isNavigation("", "text/html,application/xhtml+xml,*/*;q=0.8"));
  EXPECT_FALSE(isNavigation("", "*/*"));
}

}  // namespace
}  // namespace cutover::edge
