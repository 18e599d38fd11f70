#include "cutover/common/utf8.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cutover/common/guard.h"

namespace cutover {
namespace {

TEST(Utf8, TellsWellFormedTextFromBytesThatAreNot) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("plain"));
  EXPECT_TRUE(isValidUtf8("café 日本 🚀"));
  EXPECT_FALSE(isValidUtf8("caf\xE9"));           // Latin-1
  EXPECT_FALSE(isValidUtf8("\xC3"));              // cut short
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(isValidUtf8("\x80"));
}

TEST(Utf8, ClipsOnACharacterBoundary) {
  EXPECT_EQ(clipUtf8("short", 200), "short");
  EXPECT_EQ(clipUtf8("abcdef", 3), "abc");
  EXPECT_EQ(clipUtf8("caf\xC3\xA9", 4), "caf");     // not half an 'é'
  EXPECT_EQ(clipUtf8("\xF0\x9F\x9A\x80x", 3), "");  // not part of a rocket
  EXPECT_EQ(clipUtf8("\xF0\x9F\x9A\x80x", 4), "\xF0\x9F\x9A\x80");
  std::string long_name;
  while (long_name.size() < 300) long_name += "é";
  auto clipped = clipUtf8(long_name, 201);
  EXPECT_EQ(clipped.size(), 200U);
  EXPECT_TRUE(isValidUtf8(clipped));
}

TEST(Utf8, EscapesWhatIsNotUtf8SoJsonCanHoldIt) {
  EXPECT_EQ(escapeInvalidUtf8("café"), "café");
  EXPECT_EQ(escapeInvalidUtf8("a\\b"), "a\\b");  // valid text comes back unchanged
  EXPECT_EQ(escapeInvalidUtf8("caf\xE9.html"), "caf\\xE9.html");
  EXPECT_EQ(escapeInvalidUtf8("\\\xFF"), "\\\\\\xFF");
  EXPECT_NO_THROW((void)nlohmann::json(escapeInvalidUtf8("\xFF\xFE push")).dump());
}

TEST(Guarded, TurnsAnEscapingExceptionIntoAnError) {
  EXPECT_TRUE(guarded("test", [] {}));
  auto thrown = guarded("a test route", [] { throw std::out_of_range("past the end \xFF"); });
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code, Errc::io);
  EXPECT_EQ(thrown.error().message, "unexpected error in a test route: past the end \\xFF");
  auto odd = guarded("x", [] { throw 42; });
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message.find("unknown type"), std::string::npos);
}

}  // namespace
}  // namespace cutover
