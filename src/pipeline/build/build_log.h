#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/common/fd.h"
#include "cutover/common/result.h"

namespace cutover::build {

// A deploy's log, `<data>/logs/<deploy-id>.log`: one line per event, each with its UTC time and
// where it came from:
//   2026-01-02T10:00:00.123Z cutover fetching main from file:///srv/git/docs.git
//   2026-01-02T10:00:01.456Z stdout  built 12 pages
// Lines are appended as they happen, so `cutover logs --follow` can tail the file.
class BuildLog {
 public:
  // Creates (or appends to) `file`, creating its folder.
  [[nodiscard]] static Result<std::unique_ptr<BuildLog>> open(const std::filesystem::path& file);

  // A line of the pipeline's own ("cutover").
  void note(std::string_view text) { write("cutover", text); }
  // A line of the command's output. Once the output written reaches the limit, one line says
  // the log was cut and further output is not written (it still counts for summary()).
  void output(bool is_stderr, std::string_view text);

  // Output beyond this many bytes is left out of the file (default 50 MiB).
  void setLimit(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    limit_ = bytes;
  }

  // The last lines of command output (at most `n`), for an error message.
  [[nodiscard]] std::string tail(std::size_t n = 15) const;

  // The lines of the output that say what went wrong, for a failed build's message: the first
  // lines that look like errors, then the last lines that are not stack frames, each once and
  // in order, "  | " before each, "  | …" where lines were left out. Empty if there was no
  // output.
  [[nodiscard]] std::string summary() const;

  [[nodiscard]] const std::filesystem::path& file() const { return file_; }

 private:
  BuildLog(std::filesystem::path file, UniqueFd fd) : file_(std::move(file)), fd_(std::move(fd)) {}
  void write(std::string_view source, std::string_view text);

  std::filesystem::path file_;
  UniqueFd fd_;
  mutable std::mutex mutex_;
  std::uint64_t limit_ = std::uint64_t{50} << 20;
  std::uint64_t written_ = 0;  // bytes of output written
  bool cut_ = false;
  std::uint64_t lines_ = 0;                                    // lines of output seen
  std::deque<std::pair<std::uint64_t, std::string>> tail_;     // {line number, text}
  std::vector<std::pair<std::uint64_t, std::string>> errors_;  // the first error-like lines
};

}  // namespace cutover::build
