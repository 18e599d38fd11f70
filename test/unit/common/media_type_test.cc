#include "cutover/common/media_type.h"

#include <gtest/gtest.h>

namespace cutover {
namespace {

TEST(MediaType, ByExtensionWithCharsetForText) {
  EXPECT_EQ(mediaTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mediaTypeFor("a/b/STYLE.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(mediaTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mediaTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(mediaTypeFor("font.woff2"), "font/woff2");
}

TEST(MediaType, UnknownIsOctetStream) {
  EXPECT_EQ(mediaTypeFor("README"), "application/octet-stream");
  EXPECT_EQ(mediaTypeFor("dir.d/file"), "application/octet-stream");
  EXPECT_EQ(mediaTypeFor("x.unknownext"), "application/octet-stream");
}

}  // namespace
}  // namespace cutover
