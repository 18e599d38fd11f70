#pragma once

#include <string_view>

namespace cutover::edge {

// Whether an If-None-Match field value (a list of entity-tags, or "*") matches `etag`, a quoted
// strong tag such as "\"3f9a…\"". Uses the weak comparison RFC 9110 §13.1.2 asks for: W/"x"
// matches "x". Malformed members are skipped, never matched.
[[nodiscard]] bool ifNoneMatchMatches(std::string_view field, std::string_view etag);

}  // namespace cutover::edge
