// A `_headers` file, as a site's owner writes it: parsed and validated as at deploy time, then
// compiled and matched as the edge does, against paths taken from the blocks themselves.
#include <string>
#include <vector>

#include "cutover/rules/parse.h"
#include "fuzz_support.h"
#include "rules/matcher.h"

using cutover::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = cutover::parseHeaders(cutover::fuzz::text(data, size));
  if (!parsed) {
    check(parsed.error().message.starts_with("_headers:"), "an error names _headers:LINE");
    return 0;
  }
  check(parsed->size() <= cutover::kMaxRules, "at most kMaxRules blocks");
  for (const auto& rule : *parsed) {
    check(cutover::validateHeaderRule(rule).has_value(),
          "a parsed block passes the check stored manifests get");
  }
  cutover::SiteRules rules;
  rules.headers = *parsed;
  cutover::rules::RulesMatcher matcher(rules);
  check(matcher.skipped() == 0, "every validated block compiles");

  std::vector<std::string> paths{"/", "/index.html", "/a/b/c"};
  for (const auto& rule : *parsed) {
    std::string p;
    for (char c : rule.pattern) p += c == '*' ? std::string("x/y") : std::string(1, c);
    paths.push_back(p);
    if (paths.size() > 64) break;
  }
  cutover::rules::HeaderMatch match;
  for (const auto& path : paths) {
    if (path.empty() || path.front() != '/') continue;
    matcher.headers(path, match);
    for (const auto& field : match.fields) {
      check(!field.name.empty(), "a header has a name");
      for (char c : field.value) {
        auto u = static_cast<unsigned char>(c);
        check(c == '\t' || (u >= 0x20 && u != 0x7f), "no control character in a header value");
      }
      for (char c : field.name) {
        auto u = static_cast<unsigned char>(c);
        check(u > 0x20 && u < 0x7f && c != ':', "a header name is a token");
      }
    }
  }
  return 0;
}
