#include "edge/router.h"

#include <gtest/gtest.h>

#include "cutover/rules/parse.h"

namespace cutover::edge {
namespace {

Manifest manifestOf(std::initializer_list<std::string> paths) {
  Manifest m;
  m.site = "docs";
  m.version = "v1";
  for (const auto& p : paths) m.files[p] = FileEntry{std::string(64, 'a'), 1, "text/html"};
  return m;
}

struct Routed {
  RouteKind kind;
  std::string file;  // the manifest key served, "" if none
  std::string location;
  int status = 0;
};

Routed resolve(const VersionIndex& index, std::string_view target, RouteOptions options = {}) {
  DecodedTarget decoded;
  EXPECT_TRUE(decodeTarget(target, decoded)) << target;
  RouteScratch scratch;
  Route r = route(index, decoded, scratch, options);
  std::string file;
  if (r.file != nullptr) {
    for (const auto& candidate :
         {"index.html", "about.html", "docs/index.html", "404.html", "css/site.css",
          "blog/index.html", "blog.html", "a b.html", "docs/guide.html", "x/index.html",
          "app/shell.html", "gone.html", "app.js"}) {
      if (index.find(candidate) == r.file) file = candidate;
    }
  }
  return {r.kind, file, r.location, r.status};
}

class RouterTest : public ::testing::Test {
 protected:
  VersionIndex index_{
      manifestOf({"index.html", "about.html", "docs/index.html", "css/site.css", "blog/index.html",
                  "blog.html", "a b.html", "docs/guide.html", "404.html"})};
};

TEST_F(RouterTest, ServesExactFiles) {
  auto r = resolve(index_, "/css/site.css");
  EXPECT_EQ(r.kind, RouteKind::file);
  EXPECT_EQ(r.file, "css/site.css");
  EXPECT_EQ(resolve(index_, "/about.html").file, "about.html");
  EXPECT_EQ(resolve(index_, "/a%20b.html").file, "a b.html");
}

TEST_F(RouterTest, ServesAFolderIndex) {
  EXPECT_EQ(resolve(index_, "/").file, "index.html");
  EXPECT_EQ(resolve(index_, "/?x=1").file, "index.html");
  EXPECT_EQ(resolve(index_, "/docs/").file, "docs/index.html");
  EXPECT_EQ(resolve(index_, "/docs/index.html").file, "docs/index.html");
}

TEST_F(RouterTest, CleanUrlsPreferTheHtmlFile) {
  EXPECT_EQ(resolve(index_, "/about").file, "about.html");
  EXPECT_EQ(resolve(index_, "/docs/guide").file, "docs/guide.html");
  // blog.html and blog/index.html both exist: "/blog" is the file, "/blog/" the folder.
  EXPECT_EQ(resolve(index_, "/blog").file, "blog.html");
  EXPECT_EQ(resolve(index_, "/blog/").file, "blog/index.html");
}

TEST_F(RouterTest, RedirectsAFolderNamedWithoutItsSlash) {
  auto r = resolve(index_, "/docs");
  EXPECT_EQ(r.kind, RouteKind::redirect);
  EXPECT_EQ(r.location, "/docs/");
  EXPECT_EQ(resolve(index_, "/docs?page=2&q=%20").location, "/docs/?page=2&q=%20");
  EXPECT_EQ(resolve(index_, "/do%63s").location, "/do%63s/");  // echoes what was sent
}

TEST_F(RouterTest, MissingFilesGetTheVersions404Page) {
  for (const char* target : {"/nope", "/nope/", "/about/", "/css/", "/about.html/x"}) {
    auto r = resolve(index_, target);
    EXPECT_EQ(r.kind, RouteKind::not_found) << target;
    EXPECT_EQ(r.file, "404.html") << target;
  }
}

TEST(Router, MissingFilesWithoutA404PageGetAPlain404) {
  VersionIndex index(manifestOf({"x/index.html"}));
  auto r = resolve(index, "/");
  EXPECT_EQ(r.kind, RouteKind::not_found);
  EXPECT_EQ(r.file, "");
  EXPECT_EQ(resolve(index, "/x").kind, RouteKind::redirect);
  EXPECT_EQ(resolve(index, "/x/").file, "x/index.html");
}

// A version whose `_redirects` holds `redirects` (parsed as a deploy would).
VersionIndex withRedirects(std::initializer_list<std::string> paths, std::string_view redirects) {
  Manifest m = manifestOf(paths);
  auto parsed = parseRedirects(redirects);
  EXPECT_TRUE(parsed) << parsed.error().describe();
  if (parsed) m.rules.redirects = *parsed;
  return VersionIndex(m);
}

TEST(RouterRules, RedirectsWithSplatsPlaceholdersAndTheQueryKept) {
  auto index = withRedirects({"index.html", "blog/index.html", "404.html"},
                             "/news/*  /blog/:splat  302\n"
                             "/u/:name/profile  https://example.com/people/:name\n"
                             "/old  /new  308\n");
  auto r = resolve(index, "/news/2026/11/post?ref=mail");
  EXPECT_EQ(r.kind, RouteKind::redirect);
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.location, "/blog/2026/11/post?ref=mail");
  r = resolve(index, "/u/ada/profile");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.location, "https://example.com/people/ada");
  EXPECT_EQ(resolve(index, "/old").status, 308);
  EXPECT_EQ(resolve(index, "/blog/").file, "blog/index.html");  // no rule matches
}

TEST(RouterRules, AnExistingFileShadowsARuleWithoutTheBang) {
  auto index = withRedirects({"index.html", "about.html", "blog.html", "docs/index.html"},
                             "/about  /elsewhere  301\n"
                             "/blog  /forced  301!\n"
                             "/docs  /also  301\n");
  EXPECT_EQ(resolve(index, "/about").file, "about.html");
  auto r = resolve(index, "/blog");
  EXPECT_EQ(r.kind, RouteKind::redirect);
  EXPECT_EQ(r.location, "/forced");
  // "/docs" names a folder that exists: shadowed, so the usual slash redirect.
  EXPECT_EQ(resolve(index, "/docs").location, "/docs/");
}

TEST(RouterRules, RewritesServeAnotherFileOfTheVersionAnd404RulesServeWith404) {
  auto index = withRedirects({"index.html", "app/shell.html", "gone.html", "404.html"},
                             "/app/*  /app/shell.html  200\n"
                             "/retired/*  /gone.html  404\n"
                             "/broken  /nothing-here  200\n");
  auto r = resolve(index, "/app/users/42");
  EXPECT_EQ(r.kind, RouteKind::file);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.file, "app/shell.html");
  r = resolve(index, "/retired/page");
  EXPECT_EQ(r.kind, RouteKind::not_found);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.file, "gone.html");
  r = resolve(index, "/broken");
  EXPECT_EQ(r.kind, RouteKind::not_found);
  EXPECT_EQ(r.file, "404.html");
}

TEST(RouterRules, FirstMatchWins) {
  auto index = withRedirects({"index.html"}, "/a/*  /first  301\n/a/b  /second  301\n");
  EXPECT_EQ(resolve(index, "/a/b").location, "/first");
}

TEST(RouterSpa, PathsWithoutAnExtensionServeTheShell) {
  VersionIndex index(manifestOf({"index.html", "app.js"}));
  EXPECT_EQ(resolve(index, "/users/42").kind, RouteKind::not_found);
  auto r = resolve(index, "/users/42", RouteOptions{true});
  EXPECT_EQ(r.kind, RouteKind::file);
  EXPECT_EQ(r.file, "index.html");
  EXPECT_EQ(resolve(index, "/missing.js", RouteOptions{true}).kind, RouteKind::not_found);
  EXPECT_EQ(resolve(index, "/app.js", RouteOptions{true}).file, "app.js");
}

}  // namespace
}  // namespace cutover::edge
