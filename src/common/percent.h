#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cutover {

// The value of one hex digit ('0'-'9', 'a'-'f', 'A'-'F'), or -1.
[[nodiscard]] constexpr int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in` into `out` (replacing it); false on a '%' not followed by two hex digits.
[[nodiscard]] bool percentDecode(std::string_view in, std::string& out);
// The same, returning the decoded text; nullopt on a malformed escape.
[[nodiscard]] std::optional<std::string> percentDecode(std::string_view in);

}  // namespace cutover
