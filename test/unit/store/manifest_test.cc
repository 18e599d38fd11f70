#include "cutover/store/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace cutover {
namespace {

const std::string kHashA(64, 'a');
const std::string kHashB(64, 'b');
const std::string kHashC(64, 'c');

Manifest sample() {
  Manifest m;
  m.site = "docs";
  m.version = "v1-abc";
  m.created = "2026-11-27T19:55:29.123Z";
  m.source = "public/";
  m.files["index.html"] = {kHashA, 1200, "text/html; charset=utf-8", {kHashB, 400}, {kHashC, 450}};
  m.files["app.js"] = {kHashB, 5000, "text/javascript; charset=utf-8", {}, {kHashC, 1900}};
  m.files["logo.png"] = {kHashC, 800, "image/png", {}, {}};
  m.rules.redirects = {{"/old", "/new", 301, false, 1},
                       {"/news/*", "/blog/:splat", 302, true, 2},
                       {"/*", "/index.html", 200, false, 3}};
  m.rules.headers = {
      {"/*", {{"X-Frame-Options", "DENY"}, {"Link", "</a.css>; rel=preload"}}, {}, 1},
      {"/assets/:file", {{"Cache-Control", "immutable"}}, {"X-Frame-Options"}, 4}};
  m.short_cache = {"app.js"};
  return m;
}

TEST(ManifestJson, RoundTripsFilesPrecompressedFormsAndRules) {
  Manifest m = sample();
  auto back = Manifest::fromJson(m.toJson());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, m);
  EXPECT_EQ(back->files["index.html"].br, (Encoded{kHashB, 400}));
  EXPECT_EQ(back->files["app.js"].gzip, (Encoded{kHashC, 1900}));
  EXPECT_FALSE(back->files["app.js"].br.present());
  EXPECT_EQ(back->rules.redirects[1].to, "/blog/:splat");
  EXPECT_TRUE(back->rules.redirects[1].force);
  EXPECT_EQ(back->rules.headers[1].remove, std::vector<std::string>{"X-Frame-Options"});
}

TEST(ManifestJson, AVersionWithoutRulesWritesNoRules) {
  Manifest m = sample();
  m.rules = {};
  auto j = nlohmann::json::parse(m.toJson());
  EXPECT_FALSE(j.contains("rules"));
  auto back = Manifest::fromJson(m.toJson());
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->rules.empty());
}

TEST(ManifestJson, RejectsRulesNoDeployWouldHaveAccepted) {
  auto j = nlohmann::json::parse(sample().toJson());
  j["rules"]["redirects"][0]["status"] = 418;
  auto bad_status = Manifest::fromJson(j.dump());
  ASSERT_FALSE(bad_status);
  EXPECT_EQ(bad_status.error().code, Errc::invalid_argument);
  EXPECT_NE(bad_status.error().message.find("_redirects:1: unknown status 418"), std::string::npos)
      << bad_status.error().message;

  j = nlohmann::json::parse(sample().toJson());
  j["rules"]["headers"][0]["set"][0][1] = "DENY\r\nSet-Cookie: session=stolen";
  auto injected = Manifest::fromJson(j.dump());
  ASSERT_FALSE(injected);
  EXPECT_NE(injected.error().message.find("_headers:1:"), std::string::npos)
      << injected.error().message;

  j = nlohmann::json::parse(sample().toJson());
  j["rules"]["redirects"][0].erase("to");
  EXPECT_FALSE(Manifest::fromJson(j.dump()));
}

TEST(ManifestJson, RejectsABadPrecompressedHash) {
  auto j = nlohmann::json::parse(sample().toJson());
  j["files"]["index.html"]["br"]["hash"] = "not-a-hash";
  auto bad = Manifest::fromJson(j.dump());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bad br hash for 'index.html'"), std::string::npos)
      << bad.error().message;
}

// A stored manifest is read by edges and gc, so a damaged one must be refused with a message,
// never throw past fromJson.
TEST(ManifestJson, RefusesAFormatThatIsNotANumber) {
  auto bad = Manifest::fromJson(R"({"format": "1", "site": "docs"})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_NE(bad.error().message.find("unknown format"), std::string::npos) << bad.error().message;
}

// fuzz/manifest_fuzz on such a manifest, under UBSan: "1e+300 is outside the range of
// representable values of type 'unsigned long'". Sizes, statuses and lines must be integers in
// range, not numbers cast.
TEST(ManifestJson, RefusesSizesAndStatusesThatAreNotIntegersInRange) {
  for (const char* size : {"1e300", "-1", "1.5"}) {
    auto j = nlohmann::json::parse(sample().toJson());
    j["files"]["index.html"]["size"] = nlohmann::json::parse(size);
    auto bad = Manifest::fromJson(j.dump());
    ASSERT_FALSE(bad) << size;
    EXPECT_EQ(bad.error().code, Errc::invalid_argument);
    EXPECT_NE(bad.error().message.find("'size' must be an integer"), std::string::npos)
        << bad.error().message;
  }
  auto j = nlohmann::json::parse(sample().toJson());
  j["files"]["app.js"]["gzip"]["size"] = 1e300;
  EXPECT_FALSE(Manifest::fromJson(j.dump()));
  j = nlohmann::json::parse(sample().toJson());
  j["rules"]["redirects"][0]["status"] = 301.9e300;
  EXPECT_FALSE(Manifest::fromJson(j.dump()));
  j = nlohmann::json::parse(sample().toJson());
  j["rules"]["headers"][0]["line"] = -1e300;
  EXPECT_FALSE(Manifest::fromJson(j.dump()));
}

}  // namespace
}  // namespace cutover
