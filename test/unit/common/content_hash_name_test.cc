#include "cutover/common/content_hash_name.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace cutover {
namespace {

// bundler_names.txt: file names real builds produced, each block naming the tool and version.
// "+ NAME" must be recognised as content-hashed, "- NAME" must not; "~ NAME" is a hash that
// reads like words and is knowingly missed (the rule prefers a missed hash to a wrong one).
TEST(ContentHashNameTest, RecognisesTheNamesRealBundlersProduce) {
  std::ifstream in(CUTOVER_BUNDLER_NAMES);
  ASSERT_TRUE(in) << CUTOVER_BUNDLER_NAMES;
  std::string line, tool;
  int hashed = 0, missed = 0;
  while (std::getline(in, line)) {
    if (line.starts_with("# ")) tool = line.substr(2);
    if (line.size() < 3 || line[1] != ' ') continue;
    std::string name = line.substr(2);
    switch (line[0]) {
      case '+':
        ++hashed;
        EXPECT_TRUE(hasContentHashName(name)) << tool << ": " << name;
        break;
      case '~':
        ++missed;
        EXPECT_FALSE(hasContentHashName(name)) << tool << ": " << name << " is no longer missed";
        break;
      case '-':
        EXPECT_FALSE(hasContentHashName(name)) << tool << ": " << name;
        break;
      default:
        break;
    }
  }
  EXPECT_GT(hashed, 60);
  EXPECT_LT(missed * 6, hashed + missed);  // fewer than 1 in 6 hashed names missed
}

TEST(ContentHashNameTest, NamesPeopleWriteAreNotHashes) {
  for (const char* path : {"app.js",
                           "jquery-3.6.0.min.js",
                           "Inter-SemiBoldItalic.woff2",
                           "bootstrap.bundle.min.js",
                           "report.20260101.pdf",
                           "3f9a1c2e4d.js",
                           "dir.3f9a1c2e/app.js",
                           "a1b2c3d4e5f6",
                           "favicon.ico",
                           "logo-ORIGINAL.png",
                           "site-settings.js",
                           "bg.1920x1080.jpg",
                           "Lato-Semibold.ttf",
                           "report-Jan-2024.pdf",
                           "photo.IMG_2034.jpg",
                           "polyfills-ES2015.js",
                           "KaTeX_Main-Regular.woff2",
                           "lib.HTMLParser.js",
                           "fontawesome-webfont.woff2",
                           "profile.My_Photo.jpg",
                           "_app/version.json",
                           "next/static/app.js",
                           "x_astro/app.js"}) {
    EXPECT_FALSE(hasContentHashName(path)) << path;
  }
}

TEST(ContentHashNameTest, FrameworkFoldersAndHashesInAnyPosition) {
  for (const char* path :
       {"assets/app.3f9a1c2e.js", "index-B4kq9x2Z.css", "static/js/main.8f3c2a1b.chunk.js",
        "img/logo.a1b2c3d4e5.svg", "assets/index-DqTC_HVI.js", "assets/User-Bc7iC-cz.js",
        "assets/Home-DRjBlKSy.js", "docs/_next/static/css/ee5a8f1b9c3d.css",
        "_app/immutable/nodes/0.js", "base/_astro/logo.png", "lazy.77b75afd.js.map"}) {
    EXPECT_TRUE(hasContentHashName(path)) << path;
  }
}

}  // namespace
}  // namespace cutover
