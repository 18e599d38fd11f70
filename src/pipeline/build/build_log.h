#pragma once

#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

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
  // A line of the command's output.
  void output(bool is_stderr, std::string_view text);

  // The last lines of command output (at most `n`), for an error message.
  [[nodiscard]] std::string tail(std::size_t n = 15) const;

  [[nodiscard]] const std::filesystem::path& file() const { return file_; }

 private:
  BuildLog(std::filesystem::path file, UniqueFd fd) : file_(std::move(file)), fd_(std::move(fd)) {}
  void write(std::string_view source, std::string_view text);

  std::filesystem::path file_;
  UniqueFd fd_;
  mutable std::mutex mutex_;
  std::deque<std::string> tail_;
};

}  // namespace cutover::build
