#include "cli/output.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cutover/config/config.h"
#include "cutover/pointer/records.h"

namespace cutover::cli {

int reportError(const Error& error) {
  std::fprintf(stderr, "cutover: %s\n", error.message.c_str());
  return error.code == Errc::conflict ? kExitConflict : kExitFailed;
}

std::string formatBytes(std::uint64_t bytes) {
  if (bytes < 1000) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  const char* units[] = {"kB", "MB", "GB", "TB"};
  int unit = -1;
  while (value >= 1000 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string formatMillis(double ms) {
  if (ms < 1) return fmt::format("{:.2f} ms", ms);
  if (ms < 10) return fmt::format("{:.1f} ms", ms);
  if (ms < 1000) return fmt::format("{:.0f} ms", ms);
  return fmt::format("{:.2f} s", ms / 1000);
}

ProgressBar::ProgressBar() : enabled_(::isatty(STDERR_FILENO) != 0) {}

void ProgressBar::update(std::string_view label, std::uint64_t done, std::uint64_t total,
                         std::uint64_t files_done, std::uint64_t files_total) {
  if (!enabled_) return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  if (drawn_ && now - last_draw_ms_ < 100 && done < total) return;
  last_draw_ms_ = now;
  constexpr int kWidth = 30;
  double fraction = total == 0 ? 0 : static_cast<double>(done) / static_cast<double>(total);
  if (fraction > 1) fraction = 1;
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '-');
  std::string files = files_total != 0
                          ? fmt::format("  {}/{} files", files_done, files_total)
                          : (files_done != 0 ? fmt::format("  {} files", files_done) : "");
  std::fprintf(stderr, "\r\033[K%-8.*s [%s] %3.0f%%  %s / %s%s", static_cast<int>(label.size()),
               label.data(), bar.c_str(), fraction * 100, formatBytes(done).c_str(),
               formatBytes(total).c_str(), files.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

Result<std::int64_t> parsePreviewExpiry(std::string_view text, std::string_view flag) {
  auto duration = parseDuration(text);
  auto seconds =
      duration ? std::chrono::duration_cast<std::chrono::seconds>(*duration).count() : -1;
  if (seconds < 0 || seconds > kMaxPreviewSeconds) {
    return fail(Errc::invalid_argument,
                fmt::format("{} '{}' is not a duration like 7d, 12h or 0 (no link), of at most "
                            "366d",
                            flag, text));
  }
  return seconds;
}

}  // namespace cutover::cli
