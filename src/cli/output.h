#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover::cli {

// Exit statuses every command shares.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the operation failed (the message says why)
inline constexpr int kExitUsage = 2;     // bad command line or configuration
inline constexpr int kExitConflict = 3;  // lost a compare-and-set race: retry or activate

// Prints "cutover: <message>" to stderr and returns the exit status for the error.
int reportError(const Error& error);

// "1.5 MB", "312 B".
std::string formatBytes(std::uint64_t bytes);
// "12 ms", "1.24 s".
std::string formatMillis(double ms);

// A one-line progress bar on stderr, drawn only when stderr is a terminal, at most 10 times a
// second; finish() clears it.
class ProgressBar {
 public:
  ProgressBar();
  void update(std::string_view label, std::uint64_t done, std::uint64_t total,
              std::uint64_t files_done, std::uint64_t files_total);
  void finish();

 private:
  bool enabled_;
  std::int64_t last_draw_ms_ = 0;
  bool drawn_ = false;
};

// A preview link's lifetime as given to `flag` ("7d", "12h", "0"): seconds, from 0 (no link) to
// kMaxPreviewSeconds; invalid_argument naming the flag otherwise.
[[nodiscard]] Result<std::int64_t> parsePreviewExpiry(std::string_view text, std::string_view flag);

}  // namespace cutover::cli
