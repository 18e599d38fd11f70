#include "edge/encoding.h"

#include <gtest/gtest.h>

namespace cutover::edge {
namespace {

constexpr AvailableForms kBoth{true, true};
constexpr AvailableForms kGzipOnly{false, true};
constexpr AvailableForms kBrOnly{true, false};
constexpr AvailableForms kNone{false, false};

constexpr auto kBr = ContentCoding::br;
constexpr auto kGzip = ContentCoding::gzip;
constexpr auto kIdentity = ContentCoding::identity;

TEST(ChooseEncoding, WhatBrowsersSendGetsBrotli) {
  EXPECT_EQ(chooseEncoding("gzip, deflate, br, zstd", kBoth), kBr);
  EXPECT_EQ(chooseEncoding("gzip, deflate, br", kBoth), kBr);
  EXPECT_EQ(chooseEncoding("gzip, deflate", kBoth), kGzip);  // curl --compressed without brotli
}

TEST(ChooseEncoding, NoHeaderOrAnEmptyOneGetsTheFileAsStored) {
  EXPECT_EQ(chooseEncoding("", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("  ", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("identity", kBoth), kIdentity);
}

TEST(ChooseEncoding, OnlyFormsTheFileHasAreChosen) {
  EXPECT_EQ(chooseEncoding("br, gzip", kGzipOnly), kGzip);
  EXPECT_EQ(chooseEncoding("br, gzip", kBrOnly), kBr);
  EXPECT_EQ(chooseEncoding("br, gzip", kNone), kIdentity);
  EXPECT_EQ(chooseEncoding("br", kGzipOnly), kIdentity);
  EXPECT_EQ(chooseEncoding("gzip", kBrOnly), kIdentity);
}

TEST(ChooseEncoding, HonoursWeights) {
  EXPECT_EQ(chooseEncoding("br;q=0.5, gzip;q=0.8", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=0.8, gzip;q=0.5", kBoth), kBr);
  EXPECT_EQ(chooseEncoding("gzip;q=1.0, br;q=0.999", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("gzip;q=0.001", kBoth), kGzip);  // listed at all: wanted
  // Identity wins only when it is explicitly preferred.
  EXPECT_EQ(chooseEncoding("identity;q=1, gzip;q=0.5", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("identity;q=0.5, gzip;q=0.5", kBoth), kGzip);
}

TEST(ChooseEncoding, BrotliWinsATie) {
  EXPECT_EQ(chooseEncoding("gzip, br", kBoth), kBr);
  EXPECT_EQ(chooseEncoding("gzip;q=0.7, br;q=0.7", kBoth), kBr);
  EXPECT_EQ(chooseEncoding("*", kBoth), kBr);
}

TEST(ChooseEncoding, AFormWithQZeroIsNeverChosen) {
  EXPECT_EQ(chooseEncoding("br;q=0, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=0, gzip;q=0", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("br;q=0.000", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("*, br;q=0", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("*;q=0", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("gzip;q=0", kGzipOnly), kIdentity);
  // Named twice: the refusal stands.
  EXPECT_EQ(chooseEncoding("br, gzip, br;q=0", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=0, br, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=0, br", kBrOnly), kIdentity);
}

TEST(ChooseEncoding, StarStandsForEveryCodingNotNamed) {
  EXPECT_EQ(chooseEncoding("*;q=0.5", kGzipOnly), kGzip);
  EXPECT_EQ(chooseEncoding("gzip, *;q=0.1", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("*;q=0.5, identity", kBoth), kIdentity);
}

TEST(ChooseEncoding, IdentityRefusedStillGetsAnAnswer) {
  // Nothing acceptable is available: send the file as stored rather than nothing.
  EXPECT_EQ(chooseEncoding("identity;q=0", kNone), kIdentity);
  EXPECT_EQ(chooseEncoding("identity;q=0, br", kGzipOnly), kIdentity);
  EXPECT_EQ(chooseEncoding("identity;q=0, gzip", kBoth), kGzip);
}

TEST(ChooseEncoding, TokensAreCaseInsensitiveAndXGzipIsGzip) {
  EXPECT_EQ(chooseEncoding("BR", kBoth), kBr);
  EXPECT_EQ(chooseEncoding("GZip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("x-gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;Q=0, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("IDENTITY;q=1, gzip;q=0.5", kBoth), kIdentity);
}

TEST(ChooseEncoding, ToleratesWhitespace) {
  EXPECT_EQ(chooseEncoding("  gzip ;  q=0.5 ,\tbr ; q=0.2  ", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("gzip,br", kBoth), kBr);
  EXPECT_EQ(chooseEncoding(",, ,gzip,,", kBoth), kGzip);
}

TEST(ChooseEncoding, SkipsMalformedMembers) {
  // A weight that is not a qvalue drops its member, not the rest of the field.
  EXPECT_EQ(chooseEncoding("br;q=2, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=1.5, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=0.5555, gzip;q=0.1", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=abc, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("br;q=-1, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("b r, gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding("\"br\", gzip", kBoth), kGzip);
  EXPECT_EQ(chooseEncoding(";q=1, gzip", kBoth), kGzip);
  // Unknown codings and parameters other than q are ignored.
  EXPECT_EQ(chooseEncoding("zstd, deflate, compress", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("br;level=5", kBoth), kBr);
  EXPECT_EQ(chooseEncoding("br;level=5;q=0", kBoth), kIdentity);
  EXPECT_EQ(chooseEncoding("brotli, gzip", kBoth), kGzip);
}

TEST(ChooseEncoding, NamesTheContentEncoding) {
  EXPECT_EQ(contentEncodingName(kBr), "br");
  EXPECT_EQ(contentEncodingName(kGzip), "gzip");
  EXPECT_EQ(contentEncodingName(kIdentity), "");
}

}  // namespace
}  // namespace cutover::edge
