#include "edge/conditional.h"

#include <gtest/gtest.h>

namespace cutover::edge {
namespace {

constexpr std::string_view kTag = "\"abc123\"";

TEST(IfNoneMatch, MatchesTheSameTag) {
  EXPECT_TRUE(ifNoneMatchMatches("\"abc123\"", kTag));
  EXPECT_FALSE(ifNoneMatchMatches("\"abc124\"", kTag));
  EXPECT_FALSE(ifNoneMatchMatches("\"abc12\"", kTag));
  EXPECT_FALSE(ifNoneMatchMatches("", kTag));
}

TEST(IfNoneMatch, MatchesAnyMemberOfAList) {
  EXPECT_TRUE(ifNoneMatchMatches("\"x\", \"abc123\"", kTag));
  EXPECT_TRUE(ifNoneMatchMatches("\"x\",\"abc123\" , \"y\"", kTag));
  EXPECT_FALSE(ifNoneMatchMatches("\"x\", \"y\"", kTag));
}

TEST(IfNoneMatch, StarMatchesEverything) {
  EXPECT_TRUE(ifNoneMatchMatches("*", kTag));
  EXPECT_TRUE(ifNoneMatchMatches(" * ", kTag));
}

TEST(IfNoneMatch, UsesTheWeakComparison) {
  EXPECT_TRUE(ifNoneMatchMatches("W/\"abc123\"", kTag));
  EXPECT_TRUE(ifNoneMatchMatches("\"x\", W/\"abc123\"", kTag));
}

TEST(IfNoneMatch, SkipsMalformedMembers) {
  EXPECT_FALSE(ifNoneMatchMatches("abc123", kTag));
  EXPECT_FALSE(ifNoneMatchMatches("\"abc123", kTag));
  EXPECT_TRUE(ifNoneMatchMatches("garbage, \"abc123\"", kTag));
}

}  // namespace
}  // namespace cutover::edge
