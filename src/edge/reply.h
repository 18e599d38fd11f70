#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/common/fd.h"
#include "edge/routing_table.h"

namespace cutover::edge {

// What one request is answered with, independent of the HTTP library. The handler fills it; the
// session writes its head (appendHead) and then the body: `body` from memory, or `content_length`
// bytes read from `file` at `file_offset`. Views point into `pin`, `memory`, `text` or static
// strings, all of which the reply keeps alive until it is written.
struct Reply {
  int status = 200;
  std::string_view content_type;
  std::string_view etag;              // sent when not empty
  std::string_view cache_control;     // sent when not empty
  std::string_view version;           // X-Cutover-Version, sent when not empty
  std::string_view log_site;          // for the access log: the site resolved ("" if none)
  std::string_view log_version;       // for the access log: the version that answered
  std::string_view last_modified;     // sent when not empty
  std::string_view content_encoding;  // "br" or "gzip" when a precompressed form is sent
  bool vary_encoding = false;         // "Vary: Accept-Encoding": the file has precompressed forms
  bool vary_pin = false;       // "Vary: Cookie, X-Cutover-Pin": a pin could have chosen the version
  bool accept_ranges = false;  // "Accept-Ranges: bytes"
  bool noindex = false;        // "X-Robots-Tag: noindex" (previews)
  // Served from a preview alias's current version: a page loaded from it pins its later requests
  // to that version, as a page of the live version does on the site's own hosts.
  bool alias_page = false;
  // The host is protected and this request was checked: whatever it gets is private.
  bool access_checked = false;
  std::string content_range;                                 // sent when not empty
  std::string set_cookie;                                    // sent when not empty
  std::string location;                                      // sent when not empty
  std::vector<std::pair<std::string, std::string>> headers;  // from the version's `_headers`
  bool allow = false;                                        // "Allow: GET, HEAD" (405)
  bool close = false;  // the connection must close after this reply
  std::uint64_t content_length = 0;
  std::uint64_t file_offset = 0;  // where a streamed body starts in `file` (ranges)
  bool omit_body = false;  // HEAD and 304: the head says what GET would send, no body follows
  // The stored version chosen was found deleted (a file of it gone from the store) and has been
  // forgotten: the handler answers the request again, as if the version had never been stored.
  bool version_gone = false;

  std::string_view body;                       // the body, when it comes from memory
  std::string text;                            // a short message the body may point at
  std::string own_cache_control;               // a Cache-Control made for this reply
  std::shared_ptr<const std::string> memory;   // cached file bytes the body may point at
  UniqueFd file;                               // a streamed body, read from offset 0
  std::shared_ptr<const RoutingTable> pin;     // the table (and versions) this request resolved
  std::shared_ptr<const VersionIndex> stored;  // a preview or pinned version, when not live

  // Back to a fresh reply, keeping the buffers' capacity.
  void reset();
  // A short plain-text reply; the body is `message` and a newline.
  void setText(int status, std::string_view message);
  // Replaces the answer with a short plain-text one, keeping what says which site and version
  // it came from (the version header, the access log's fields and what keeps them alive).
  void replaceWithText(int status, std::string_view message);
};

// Appends the status line and header fields, through the empty line, to `out`.
// `keep_alive`: whether the connection stays open after this reply; `http10`: whether the
// request was HTTP/1.0 (which needs "Connection: keep-alive" to keep it).
void appendHead(std::string& out, const Reply& reply, bool keep_alive, bool http10);

// The current UTC time formatted by strftime's `format` (at most 39 characters), at most once a
// second: the caller keeps one SecondClock per thread and format.
struct SecondClock {
  std::time_t second = -1;
  char text[40] = "";
  std::size_t length = 0;
};
[[nodiscard]] std::string_view utcNow(const char* format, SecondClock& clock);

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted once a second
// per thread.
[[nodiscard]] std::string_view httpDateNow();

}  // namespace cutover::edge
