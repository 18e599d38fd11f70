#include "edge/router.h"

#include <gtest/gtest.h>

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
};

Routed resolve(const VersionIndex& index, std::string_view target) {
  DecodedTarget decoded;
  EXPECT_TRUE(decodeTarget(target, decoded)) << target;
  std::string key;
  Route r = route(index, decoded, key);
  std::string file;
  if (r.file != nullptr) {
    for (const auto& candidate : {"index.html", "about.html", "docs/index.html", "404.html",
                                  "css/site.css", "blog/index.html", "blog.html", "a b.html",
                                  "docs/guide.html", "x/index.html"}) {
      if (index.find(candidate) == r.file) file = candidate;
    }
  }
  return {r.kind, file, r.location};
}

class RouterTest : public ::testing::Test {
 protected:
  VersionIndex index_{manifestOf({"index.html", "about.html", "docs/index.html", "css/site.css",
                                  "blog/index.html", "blog.html", "a b.html", "docs/guide.html",
                                  "404.html"})};
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

}  // namespace
}  // namespace cutover::edge
