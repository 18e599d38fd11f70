#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
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
  std::string_view site;     // the site the request resolved to ("" when none)
  std::string_view version;  // the version that answered ("" when none)
};

// `combined`: exactly nginx's and Apache's combined format, for tools that read only that.
// `vhost` (the default): the combined line followed by the Host the client sent, the site and the
// version that answered, so several sites on one port can be told apart:
//   ... "-" "curl/7.88.1" "docs.example.com" docs 20261127-223225-3f9a1c
enum class AccessLogFormat { vhost, combined };

// "vhost" or "combined"; nullopt for anything else.
[[nodiscard]] std::optional<AccessLogFormat> parseAccessLogFormat(std::string_view name);

// Appends one line in the combined log format (what nginx and Apache write by default, and what
// log analysers read):
//   127.0.0.1 - - [27/Nov/2026:22:32:25 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1"
// Quotes, backslashes and control characters in client-sent text are written as \xHH, so a
// client cannot forge a line.
void appendCombinedLine(std::string& out, const LoggedRequest& request);

// The combined line with " \"HOST\" SITE VERSION" before its newline ("-" for an empty field).
void appendVhostLine(std::string& out, const LoggedRequest& request);

// Where access log lines go: a file opened for appending, or standard output. Lines are buffered
// by each server thread and written in blocks (writes with O_APPEND never interleave mid-block).
class AccessLogFile {
 public:
  // "-" for standard output, else a path (created if missing, appended to).
  [[nodiscard]] static Result<std::unique_ptr<AccessLogFile>> open(
      const std::string& where, AccessLogFormat format = AccessLogFormat::vhost);

  AccessLogFile(UniqueFd fd, AccessLogFormat format) : fd_(std::move(fd)), format_(format) {}

  // Appends the line for `request` to `out` in this log's format.
  void append(std::string& out, const LoggedRequest& request) const;

  // Writes a buffer of whole lines and clears it; any thread may call it. Errors are reported
  // once, then lines are dropped: a full disk must not stop the site.
  void write(std::string& lines);

 private:
  UniqueFd fd_;
  AccessLogFormat format_;
  std::atomic<bool> failed_{false};
};

}  // namespace cutover::edge
