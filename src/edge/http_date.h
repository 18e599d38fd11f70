#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace cutover::edge {

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate).
[[nodiscard]] std::string formatHttpDate(std::time_t t);

// Parses an HTTP date: IMF-fixdate, and the obsolete RFC 850 and asctime forms that RFC 9110
// §5.6.7 says recipients must accept. nullopt when it is none of them.
[[nodiscard]] std::optional<std::time_t> parseHttpDate(std::string_view text);

// Parses an RFC 3339 UTC time as cutover writes it ("2026-11-27T19:55:29.123Z"), to the second.
[[nodiscard]] std::optional<std::time_t> parseRfc3339(std::string_view text);

}  // namespace cutover::edge
