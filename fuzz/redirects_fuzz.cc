// A `_redirects` file, as a site's owner writes it: parsed and validated as at deploy time, then
// compiled and matched as the edge does, against paths taken from the rules themselves.
#include <string>
#include <vector>

#include "cutover/rules/parse.h"
#include "fuzz_support.h"
#include "rules/matcher.h"

using cutover::fuzz::check;

namespace {

// Request paths worth matching: each rule's `from` with placeholders and the splat filled in,
// and a few fixed ones.
std::vector<std::string> pathsFor(const std::vector<cutover::RedirectRule>& rules) {
  std::vector<std::string> paths{"/", "/index.html", "/a/b/c", "/x//y", "/%2e%2e/"};
  for (const auto& rule : rules) {
    std::string p;
    for (std::size_t i = 0; i < rule.from.size(); ++i) {
      char c = rule.from[i];
      if (c == ':' && (i == 0 || rule.from[i - 1] == '/')) {
        p += "v";
        while (i + 1 < rule.from.size() && rule.from[i + 1] != '/') ++i;
      } else if (c == '*') {
        p += "/evil.example/u";  // the splat of "/go//evil.example/u"
      } else {
        p += c;
      }
    }
    paths.push_back(p);
    paths.push_back(p + "/");
    if (paths.size() > 64) break;
  }
  return paths;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = cutover::parseRedirects(cutover::fuzz::text(data, size));
  if (!parsed) {
    check(parsed.error().message.starts_with("_redirects:"), "an error names _redirects:LINE");
    return 0;
  }
  check(parsed->size() <= cutover::kMaxRules, "at most kMaxRules rules");
  for (const auto& rule : *parsed) {
    check(cutover::validateRedirectRule(rule).has_value(),
          "a parsed rule passes the check stored manifests get");
  }
  cutover::SiteRules rules;
  rules.redirects = *parsed;
  cutover::rules::RulesMatcher matcher(rules);
  check(matcher.skipped() == 0, "every validated rule compiles");
  cutover::rules::RedirectMatch match;
  for (const auto& path : pathsFor(*parsed)) {
    if (path.empty() || path.front() != '/') continue;
    for (bool exists : {false, true}) {
      for (std::string_view query : {"", "a=1&b=%20"}) {
        if (!matcher.redirect(path, query, exists, match)) continue;
        check(cutover::isRuleStatus(match.status), "a match has a rule's status");
        for (char c : match.target) {
          auto u = static_cast<unsigned char>(c);
          check(u >= 0x20 && u != 0x7f, "no control character in a redirect target");
        }
        if (!match.redirects()) continue;
        check(!match.target.empty(), "a redirect has a Location");
        // A rule whose target is a path keeps the client on the site, whatever was substituted.
        for (const auto& rule : *parsed) {
          if (rule.line != match.line || rule.to.starts_with("http")) continue;
          check(!match.target.starts_with("//") && !match.target.starts_with("/\\"),
                "a path target stays on the site (no '//host' Location)");
        }
      }
    }
  }
  return 0;
}
