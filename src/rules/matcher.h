#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/rules/rules.h"
#include "rules/pattern.h"
#include "rules/pattern_index.h"

namespace cutover::rules {

// The outcome of redirect matching. Reuse one per connection: its buffers keep their capacity.
struct RedirectMatch {
  int status = 0;      // 0: no rule applies; else 301, 302, 303, 307, 308, 200 or 404
  bool force = false;  // the rule had `!`
  int line = 0;        // the rule's line in `_redirects`
  // 3xx: the Location, with placeholders and :splat substituted (percent-encoded) and the
  //      request's query appended unless the target has its own.
  // 200, 404: the decoded path (leading '/') of the file to serve, looked up like a request path.
  std::string target;

  [[nodiscard]] bool matched() const { return status != 0; }
  [[nodiscard]] bool redirects() const { return status >= 300 && status < 400; }

  // Scratch space for the matcher.
  std::vector<std::string_view> captures;
  std::string scratch;
};

// One response header from `_headers`.
struct HeaderField {
  std::string_view name;   // as first written in the file
  std::string_view value;  // repeats joined with ", "
};

// The outcome of header matching. Reuse one per connection: its buffers keep their capacity.
// The views stay valid until the next call with this object, while the matcher lives.
struct HeaderMatch {
  std::vector<HeaderField> fields;  // in order of first appearance

  // Scratch space for the matcher.
  struct Contribution {
    std::uint32_t name_id;
    std::string_view name;
    std::string_view value;
  };
  std::vector<Contribution> work;
  std::vector<std::uint32_t> cut;    // per name: contributions before this index were removed
  std::vector<std::int32_t> slot;    // per name: its index in `fields`, or -1
  std::vector<std::uint32_t> count;  // per name: how many contributions survive
  std::vector<std::uint32_t> touched;
  std::vector<std::uint32_t> order;
  std::string joined;
};

// A version's `_redirects` and `_headers`, compiled once when its manifest is loaded. Immutable
// and thread-safe; the per-request calls allocate only while the caller's buffers grow.
// Lookups cost a few hash probes plus the rules that start with the path's first segment and the
// rules that could match any path ("/*", "/:lang/..."), whatever the number of rules.
class RulesMatcher {
 public:
  RulesMatcher() = default;
  // Rules that do not compile (only possible for rules that bypassed validation) are skipped and
  // counted in skipped().
  explicit RulesMatcher(const SiteRules& rules);
  RulesMatcher(const RulesMatcher&) = delete;  // views handed out point into it
  RulesMatcher& operator=(const RulesMatcher&) = delete;
  RulesMatcher(RulesMatcher&&) = default;
  RulesMatcher& operator=(RulesMatcher&&) = default;

  // The first rule, in file order, that applies to a request: its pattern matches `path` (the
  // decoded request path, leading '/') and either no file exists at the path or the rule has
  // `!`. A redirect whose target is the request itself (as "/docs /docs/ 301" would be for
  // "/docs/") does not apply, so no rule loops; nor does a rule whose substituted target would be
  // longer than kMaxSubstitutedTargetBytes. A redirect to a path of the site stays on the site:
  // leading slashes a substitution adds collapse into one ("/go/* /:splat" sends "/go//x.example"
  // to "/x.example", never to "//x.example", another host). `query` is the raw query string,
  // without '?'. Returns out.matched().
  bool redirect(std::string_view path, std::string_view query, bool file_exists,
                RedirectMatch& out) const;

  // The headers every `_headers` block matching `path` adds, in file order: a name set again is
  // joined with ", ", and `! Name` drops what earlier matching blocks set (names compare without
  // case). The matching blocks apply whole, in file order, as long as their fields together stay
  // within kMaxRuleHeaderBytes; the first that would go beyond it and every later one do not.
  // Replaces out.fields.
  void headers(std::string_view path, HeaderMatch& out) const;

  [[nodiscard]] bool hasRedirects() const { return !redirects_.empty(); }
  [[nodiscard]] bool hasHeaders() const { return !headers_.empty(); }
  [[nodiscard]] std::size_t skipped() const { return skipped_; }

 private:
  struct Redirect {
    Pattern from;
    Target to;
    int status = 301;
    bool force = false;
    int line = 0;
  };
  struct Setter {
    std::uint32_t name_id = 0;
    std::string name;
    std::string value;
  };
  struct HeaderBlock {
    Pattern pattern;
    std::vector<Setter> set;
    std::vector<std::uint32_t> remove;  // name ids; names no block sets are dropped
    std::size_t bytes = 0;              // what its fields add to a response head
  };

  // Writes the rule's target for this request into out.target; false (and the rule does not
  // apply) if it would be longer than kMaxSubstitutedTargetBytes.
  [[nodiscard]] bool expand(const Redirect& rule, std::string_view query, RedirectMatch& out,
                            std::size_t& path_end, std::size_t& query_begin,
                            std::size_t& query_end) const;

  std::vector<Redirect> redirects_;
  PatternIndex redirect_index_;
  bool any_forced_ = false;
  std::vector<HeaderBlock> headers_;
  PatternIndex header_index_;
  std::uint32_t header_names_ = 0;
  std::size_t skipped_ = 0;
};

}  // namespace cutover::rules
