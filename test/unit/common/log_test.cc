#include "common/log.h"

#include <gtest/gtest.h>

namespace cutover {
namespace {

TEST(Log, ACaptureKeepsEveryMessageAtOrAboveTheLevelAsWritten) {
  log::Capture capture;
  log::info("api on http://{}:{}", "127.0.0.1", 8080);
  log::warn("cutover: a brace {{}} stays a brace");
  log::write(log::Level::error, "cutover edge: {} is not a placeholder here");
  log::write(log::Level::debug, "below the default level");
  EXPECT_EQ(
      capture.messages(),
      (std::vector<std::string>{"api on http://127.0.0.1:8080", "cutover: a brace {} stays a brace",
                                "cutover edge: {} is not a placeholder here"}));
}

TEST(Log, JsonLinesStillCaptureThePlainMessage) {
  log::Capture capture;
  log::setJson(true);
  log::error("cutover: \"quoted\"");
  log::setJson(false);
  log::setLevel(log::Level::error);
  log::info("dropped");
  log::setLevel(log::Level::info);
  EXPECT_EQ(capture.messages(), std::vector<std::string>{"cutover: \"quoted\""});
}

}  // namespace
}  // namespace cutover
