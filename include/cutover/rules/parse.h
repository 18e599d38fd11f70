#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/rules/rules.h"

namespace cutover {

// Most rules one file may hold: `_redirects` lines, or `_headers` path blocks.
inline constexpr std::size_t kMaxRules = 10000;

// Bounds on what one rule may make the edge send: every response a `_headers` block matches
// carries the block, and a redirect's target grows with each placeholder it repeats.
inline constexpr std::size_t kMaxHeaderFieldsPerBlock = 64;   // `Name: value` and `! Name` lines
inline constexpr std::size_t kMaxHeaderBytesPerBlock = 8192;  // "Name: value\r\n" of its lines
inline constexpr std::size_t kMaxTargetPlaceholders = 16;     // `:name`/`:splat` in one target
inline constexpr std::size_t kMaxTargetBytes = 2048;          // a target as written
// At the edge: what every block matching one path adds together (later blocks that would go
// beyond it are not applied), and the longest target a substitution may make (a rule whose
// target would be longer does not apply to that request).
inline constexpr std::size_t kMaxRuleHeaderBytes = 32768;
inline constexpr std::size_t kMaxSubstitutedTargetBytes = 16384;

// Parses a `_redirects` file: one rule a line, `from to [status][!]`; `#` starts a comment (a
// whole line, or a field starting with '#'); blank lines are ignored; CRLF line ends are fine.
//   from    a path: literal segments, `:name` placeholders (whole segments), a trailing `/*`
//   to      a path, or for redirects an http(s) URL; may use the placeholders and `:splat`
//   status  301 (the default), 302, 303, 307, 308; 200 rewrites to a file of the same version;
//           404 serves the target with status 404. `!` makes the rule apply even where a file
//           exists.
// Anything else fails with invalid_argument and `_redirects:LINE: what is wrong`: conditions on
// query parameters, country, language, role or cookie; a 200 or 404 to another host (proxying);
// an unknown status; a placeholder in `to` that `from` does not define; a malformed line; more
// than kMaxRules rules.
[[nodiscard]] Result<std::vector<RedirectRule>> parseRedirects(std::string_view text);

// Parses a `_headers` file: a path pattern at column 0 (same syntax as `from` above), then
// indented `Name: value` lines that responses for matching paths get, and indented `! Name` lines
// that take away a header set by an earlier matching block. Blank lines and lines starting with
// `#` are ignored ('#' later in a line is part of a value).
// Fails with invalid_argument and `_headers:LINE: what is wrong`: a header name that is not an
// RFC 9110 token, a value with a control character (CR, LF, NUL...), a header line before any
// pattern or not indented, more than kMaxRules blocks.
[[nodiscard]] Result<std::vector<HeaderRule>> parseHeaders(std::string_view text);

// Checks one rule the way the parsers do, for rules read back from a stored manifest; the error
// names the rule's line as the parsers would.
[[nodiscard]] Result<void> validateRedirectRule(const RedirectRule& rule);
[[nodiscard]] Result<void> validateHeaderRule(const HeaderRule& rule);

// Whether `status` is one a `_redirects` rule may have; 3xx ones redirect.
[[nodiscard]] bool isRuleStatus(int status);
[[nodiscard]] constexpr bool isRedirectStatus(int status) { return status >= 300 && status < 400; }

}  // namespace cutover
