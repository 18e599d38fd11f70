#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cutover/common/fd.h"
#include "cutover/common/result.h"

namespace cutover::edge {

// One request as the access log records it.
struct LoggedRequest {
  std::string_view remote;  // client address
  std::string_view method;
  std::string_view target;
  bool http10 = false;
  int status = 0;
  std::uint64_t body_bytes = 0;
  std::string_view referer;
  std::string_view user_agent;
  std::string_view host;
};

// Appends one line in the combined log format (what nginx and Apache write by default, and what
// log analysers read):
//   127.0.0.1 - - [27/Nov/2026:22:32:25 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1"
// Quotes, backslashes and control characters in client-sent text are written as \xHH, so a
// client cannot forge a line.
void appendCombinedLine(std::string& out, const LoggedRequest& request);

// Where access log lines go: a file opened for appending, or standard output. Lines are buffered
// by each server thread and written in blocks (writes with O_APPEND never interleave mid-block).
class AccessLogFile {
 public:
  // "-" for standard output, else a path (created if missing, appended to).
  [[nodiscard]] static Result<std::unique_ptr<AccessLogFile>> open(const std::string& where);

  explicit AccessLogFile(UniqueFd fd) : fd_(std::move(fd)) {}

  // Writes a buffer of whole lines and clears it; any thread may call it. Errors are reported
  // once, then lines are dropped: a full disk must not stop the site.
  void write(std::string& lines);

 private:
  UniqueFd fd_;
  std::atomic<bool> failed_{false};
};

}  // namespace cutover::edge
