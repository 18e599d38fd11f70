#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/percent.h"
#include "cutover/common/result.h"

namespace cutover::rules {

// One segment of a path pattern: a literal (percent-decoded, compared with the decoded request
// path) or a `:name` placeholder, which matches one whole non-empty segment.
struct PatternSegment {
  bool placeholder = false;
  std::string text;  // the decoded literal, or the placeholder's name without ':'
};

// A `from` of `_redirects` or a path line of `_headers`: "/blog/:year/*".
// Matching ignores one trailing slash on either side ("/about" matches "/about/" and back), and a
// trailing "/*" also matches the path without it ("/news/*" matches "/news", with an empty splat).
struct Pattern {
  std::vector<PatternSegment> segments;  // between the slashes; a trailing slash adds none
  bool splat = false;                    // ends with "/*"
  std::size_t placeholders = 0;          // how many segments are placeholders

  // Only literal segments: the pattern names one path.
  [[nodiscard]] bool exact() const { return !splat && placeholders == 0; }
  // The capture index of a placeholder name, or -1. The splat's index is `placeholders`.
  [[nodiscard]] int captureOf(std::string_view name) const;
};

// Parses a pattern. The message says what is wrong, without the file and line.
[[nodiscard]] Result<Pattern> parsePattern(std::string_view text);

// Matches a decoded request path (leading '/'). On a match, `captures` (cleared first, when
// given) holds each placeholder's segment in pattern order, then the splat (views into `path`).
[[nodiscard]] bool matchPattern(const Pattern& pattern, std::string_view path,
                                std::vector<std::string_view>* captures);

// The path a pattern of literal segments names, the way exactKey() turns a request path into it.
[[nodiscard]] std::string exactKey(const Pattern& pattern);
// The request path with one trailing slash dropped ("/" stays "/"): what exact patterns index.
[[nodiscard]] std::string_view exactKey(std::string_view path);

// One piece of a target template: literal text, or the value of a capture.
struct TargetPiece {
  std::string literal;
  int capture = -1;  // >= 0: substitute this capture of the `from` pattern
};

// A `to` of `_redirects`, split where the request's query and fragment rules need it.
struct Target {
  bool absolute = false;           // http(s)://host...: only for redirects
  std::vector<TargetPiece> path;   // for an absolute URL this includes the scheme and host
  bool has_query = false;          // the target brings its own query (then the request's
  std::vector<TargetPiece> query;  // is not appended): after '?', without it
  bool has_fragment = false;
  std::vector<TargetPiece> fragment;  // after '#', without it
};

// Parses a target against the pattern whose captures it may use (`:name`, `:splat`). With
// `decode`, literal parts are percent-decoded (rewrites look files up by their decoded path).
// The message says what is wrong, without the file and line.
[[nodiscard]] Result<Target> parseTarget(std::string_view text, const Pattern& from, bool decode);

// Appends `value` percent-encoded for a URL's path or fragment (keeps '/'), or for its query
// (also encodes '&', '=', '+', '#' so a value cannot split a parameter).
void appendEncodedPath(std::string& out, std::string_view value);
void appendEncodedQuery(std::string& out, std::string_view value);

}  // namespace cutover::rules
