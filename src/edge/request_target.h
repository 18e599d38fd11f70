#pragma once

#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover::edge {

// A request target, split and decoded once at the start of a request.
struct DecodedTarget {
  std::string path;  // percent-decoded, starts with '/'; matched only against manifest keys
  std::string_view raw_path;  // the path as sent (still encoded): what redirects echo back
  std::string_view query;     // after '?', without it, still encoded; empty if none
  bool has_query = false;
};

// Decodes an origin-form request target ("/path?query") into `out` (whose buffers are reused).
// Fails with invalid_argument, naming the problem, when the target cannot be a file of a version:
// not starting with '/' (absolute-form and '*' included), a malformed escape, a NUL, a control
// character, a backslash, an encoded '/', a '..' segment (however it was encoded), or a path
// over kMaxPathLength bytes or kMaxPathDepth segments. The query is not decoded.
[[nodiscard]] Result<void> decodeTarget(std::string_view target, DecodedTarget& out);

}  // namespace cutover::edge
