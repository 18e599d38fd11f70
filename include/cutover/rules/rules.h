#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cutover {

// One line of a version's `_redirects` file: `from to [status][!]`.
struct RedirectRule {
  std::string from;    // a path pattern: literal segments, `:name` placeholders, a trailing `*`
  std::string to;      // a path or (redirects only) an absolute URL; may use `:name` and `:splat`
  int status = 301;    // 301, 302, 303, 307, 308; 200 rewrites; 404 serves `to` with 404
  bool force = false;  // `!`: applies even when a file exists at the path
  int line = 0;        // where it came from, for messages

  bool operator==(const RedirectRule&) const = default;
};

// One block of a version's `_headers` file: a path pattern, then indented `Name: value` lines.
struct HeaderRule {
  std::string pattern;                                   // a path pattern, as RedirectRule::from
  std::vector<std::pair<std::string, std::string>> set;  // in file order; repeats are joined
  std::vector<std::string> remove;                       // `! Name` lines
  int line = 0;

  bool operator==(const HeaderRule&) const = default;
};

// A version's own routing and header rules, parsed and validated at deploy time and stored in its
// manifest, so a flip changes content and rules together.
struct SiteRules {
  std::vector<RedirectRule> redirects;  // first match wins
  std::vector<HeaderRule> headers;      // every matching block applies

  [[nodiscard]] bool empty() const { return redirects.empty() && headers.empty(); }
  bool operator==(const SiteRules&) const = default;
};

}  // namespace cutover
