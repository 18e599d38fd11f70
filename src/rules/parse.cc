#include "cutover/rules/parse.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "cutover/common/ascii.h"
#include "rules/pattern.h"

namespace cutover {
namespace {

bool isBlank(char c) { return c == ' ' || c == '\t'; }

bool isAbsoluteUrl(std::string_view text) {
  return startsWithIgnoreCase(text, "http://") || startsWithIgnoreCase(text, "https://");
}

// Calls fn(line number, line) for each line, without its "\n" or "\r\n", after a UTF-8 BOM.
template <class Fn>
Result<void> forEachLine(std::string_view text, Fn&& fn) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  int number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    start = end + 1;
    if (auto ok = fn(++number, line); !ok) return ok;
  }
  return {};
}

// A byte no line of a rules file may hold (tabs separate fields, so they are fine).
std::optional<unsigned char> controlCharacter(std::string_view line) {
  for (char c : line) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return u;
  }
  return std::nullopt;
}

std::string describeControl(unsigned char c) {
  switch (c) {
    case '\r':
      return "a carriage return (CR)";
    case '\n':
      return "a line feed (LF)";
    case '\0':
      return "a NUL byte";
    default:
      return fmt::format("a control character (byte 0x{:02X})", c);
  }
}

// A `key=value` field: how Netlify writes conditions on query parameters, country, language...
bool isCondition(std::string_view field) {
  return field.find('=') != std::string_view::npos && !field.starts_with('/') &&
         !isAbsoluteUrl(field);
}

std::string conditionError(std::string_view field) {
  std::string_view key = field.substr(0, field.find('='));
  for (std::string_view other : {"Country", "Language", "Role", "Cookie"}) {
    if (equalsIgnoreCase(key, other)) {
      return fmt::format("'{}': conditions on country, language, role or cookie are not supported",
                         field);
    }
  }
  return fmt::format(
      "'{}': conditions on query parameters are not supported (the request's query string is "
      "kept and passed on to the target)",
      field);
}

// RFC 9110 token characters, which a field name is made of.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Result<void> validateHeaderName(std::string_view name) {
  if (name.empty()) return fail(Errc::invalid_argument, "a header needs a name");
  for (char c : name) {
    if (!isTokenChar(c)) {
      return fail(Errc::invalid_argument,
                  fmt::format("'{}' is not a header name: it may hold letters, digits and "
                              "!#$%&'*+-.^_`|~ only",
                              name));
    }
  }
  return {};
}

Result<void> validateHeaderValue(std::string_view name, std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return fail(Errc::invalid_argument,
                  fmt::format("the value of {} contains {}, which a header cannot carry", name,
                              describeControl(u)));
    }
  }
  return {};
}

Result<void> atLine(std::string_view file, int line, Result<void> result) {
  if (result) return result;
  return fail(Errc::invalid_argument, fmt::format("{}:{}: {}", file, line, result.error().message));
}

tl::unexpected<Error> lineError(std::string_view file, int line, std::string_view message) {
  return fail(Errc::invalid_argument, fmt::format("{}:{}: {}", file, line, message));
}

// Rules files are echoed in errors; a very long field is shown by its start.
std::string clipped(std::string_view text) {
  constexpr std::size_t kShown = 80;
  if (text.size() <= kShown) return std::string(text);
  return fmt::format("{}... ({} bytes)", text.substr(0, kShown), text.size());
}

std::size_t placeholdersOf(const rules::Target& target) {
  std::size_t n = 0;
  for (const auto* pieces : {&target.path, &target.query, &target.fragment}) {
    for (const auto& piece : *pieces) n += piece.capture >= 0 ? 1 : 0;
  }
  return n;
}

// What one `Name: value` line adds to every response head the block applies to.
std::size_t fieldBytes(std::string_view name, std::string_view value) {
  return name.size() + 2 + value.size() + 2;
}

std::size_t blockBytes(const HeaderRule& rule) {
  std::size_t bytes = 0;
  for (const auto& [name, value] : rule.set) bytes += fieldBytes(name, value);
  return bytes;
}

std::string tooManyFields(const HeaderRule& rule) {
  return fmt::format(
      "the block for '{}' (line {}) has more than {} header lines, the most one block may hold",
      clipped(rule.pattern), rule.line, kMaxHeaderFieldsPerBlock);
}

std::string tooManyBytes(const HeaderRule& rule) {
  return fmt::format(
      "the block for '{}' (line {}) would add more than {} bytes of header fields to every "
      "response it matches, the most one block may add",
      clipped(rule.pattern), rule.line, kMaxHeaderBytesPerBlock);
}

Result<void> checkRedirect(const RedirectRule& rule) {
  if (rule.to.size() > kMaxTargetBytes) {
    return fail(Errc::invalid_argument,
                fmt::format("target '{}' is longer than {} bytes, the most a target may be",
                            clipped(rule.to), kMaxTargetBytes));
  }
  if (isAbsoluteUrl(rule.from)) {
    return fail(Errc::invalid_argument,
                fmt::format("'{}': 'from' must be a path; rules for other hosts are not supported",
                            rule.from));
  }
  auto from = rules::parsePattern(rule.from);
  if (!from) return tl::unexpected(from.error());
  if (!isRuleStatus(rule.status)) {
    return fail(Errc::invalid_argument,
                fmt::format("unknown status {}: use 301, 302, 303, 307, 308, 200 (rewrite) or 404",
                            rule.status));
  }
  bool redirect = isRedirectStatus(rule.status);
  auto to = rules::parseTarget(rule.to, *from, !redirect);
  if (!to) return tl::unexpected(to.error());
  if (std::size_t n = placeholdersOf(*to); n > kMaxTargetPlaceholders) {
    return fail(Errc::invalid_argument,
                fmt::format("target '{}' uses {} placeholders, more than {} placeholders, the most "
                            "a target may use (each repeats part of the request)",
                            clipped(rule.to), n, kMaxTargetPlaceholders));
  }
  if (to->absolute && rule.status == 200) {
    return fail(
        Errc::invalid_argument,
        fmt::format("'{}': a 200 rule to another host would proxy to it, which is not "
                    "supported; rewrite to a path of this site, or redirect with 301 or 302",
                    rule.to));
  }
  if (to->absolute && !redirect) {
    return fail(
        Errc::invalid_argument,
        fmt::format("'{}': a 404 rule serves a file of this site, not another host", rule.to));
  }
  return {};
}

Result<void> checkHeaderRule(const HeaderRule& rule) {
  if (isAbsoluteUrl(rule.pattern)) {
    return fail(Errc::invalid_argument,
                fmt::format("'{}': patterns for other hosts are not supported; write a path "
                            "starting with '/'",
                            rule.pattern));
  }
  if (auto pattern = rules::parsePattern(rule.pattern); !pattern) {
    return tl::unexpected(pattern.error());
  }
  for (const auto& [name, value] : rule.set) {
    if (auto ok = validateHeaderName(name); !ok) return ok;
    if (auto ok = validateHeaderValue(name, value); !ok) return ok;
  }
  for (const auto& name : rule.remove) {
    if (auto ok = validateHeaderName(name); !ok) return ok;
  }
  if (rule.set.size() + rule.remove.size() > kMaxHeaderFieldsPerBlock) {
    return fail(Errc::invalid_argument, tooManyFields(rule));
  }
  if (blockBytes(rule) > kMaxHeaderBytesPerBlock) {
    return fail(Errc::invalid_argument, tooManyBytes(rule));
  }
  return {};
}

// The whitespace-separated fields of a `_redirects` line, up to a field starting with '#'.
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && isBlank(line[i])) ++i;
    if (i == line.size() || line[i] == '#') break;
    std::size_t end = i;
    while (end < line.size() && !isBlank(line[end])) ++end;
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

// "301", "200!": the status and whether it is forced; nullopt if the field is not one.
std::optional<std::pair<int, bool>> parseStatus(std::string_view field) {
  bool force = field.ends_with('!');
  if (force) field.remove_suffix(1);
  if (field.empty() || field.size() > 3) return std::nullopt;
  int status = 0;
  for (char c : field) {
    if (c < '0' || c > '9') return std::nullopt;
    status = status * 10 + (c - '0');
  }
  return std::pair{status, force};
}

}  // namespace

bool isRuleStatus(int status) {
  static constexpr std::array kStatuses{200, 301, 302, 303, 307, 308, 404};
  return std::find(kStatuses.begin(), kStatuses.end(), status) != kStatuses.end();
}

Result<void> validateRedirectRule(const RedirectRule& rule) {
  return atLine("_redirects", rule.line, checkRedirect(rule));
}

Result<void> validateHeaderRule(const HeaderRule& rule) {
  return atLine("_headers", rule.line, checkHeaderRule(rule));
}

Result<std::vector<RedirectRule>> parseRedirects(std::string_view text) {
  std::vector<RedirectRule> rules;
  auto parsed = forEachLine(text, [&](int number, std::string_view line) -> Result<void> {
    auto bad = [&](std::string_view why) { return lineError("_redirects", number, why); };
    if (auto c = controlCharacter(line)) {
      return bad(fmt::format("contains {}", describeControl(*c)));
    }
    auto parts = fields(line);
    if (parts.empty()) return {};
    for (std::size_t i = 1; i < parts.size(); ++i) {
      if (isCondition(parts[i])) return bad(conditionError(parts[i]));
    }
    if (parts.size() == 1) {
      return bad(fmt::format("expected 'from to [status]', found only '{}'", parts[0]));
    }
    if (parts.size() > 3) {
      return bad(fmt::format("unexpected '{}' after the status: a rule is 'from to [status][!]'",
                             parts[3]));
    }
    RedirectRule rule{std::string(parts[0]), std::string(parts[1]), 301, false, number};
    if (parts.size() == 3) {
      auto status = parseStatus(parts[2]);
      if (!status) {
        return bad(fmt::format(
            "'{}' is not a status: use 301, 302, 303, 307, 308, 200 or 404, with '!' to apply "
            "the rule even where a file exists",
            parts[2]));
      }
      std::tie(rule.status, rule.force) = *status;
    }
    if (rules.size() == kMaxRules) {
      return bad(fmt::format("more than {} rules, the most one file may hold", kMaxRules));
    }
    if (auto ok = validateRedirectRule(rule); !ok) return ok;
    rules.push_back(std::move(rule));
    return {};
  });
  if (!parsed) return tl::unexpected(parsed.error());
  return rules;
}

Result<std::vector<HeaderRule>> parseHeaders(std::string_view text) {
  std::vector<HeaderRule> rules;
  auto parsed = forEachLine(text, [&](int number, std::string_view line) -> Result<void> {
    auto bad = [&](std::string_view why) { return lineError("_headers", number, why); };
    std::string_view content = trimBlanks(line);
    if (content.empty() || content.front() == '#') return {};
    if (auto c = controlCharacter(line)) {
      return bad(fmt::format("contains {}, which a header cannot carry", describeControl(*c)));
    }

    if (isBlank(line.front())) {
      if (rules.empty()) {
        return bad(
            fmt::format("'{}' comes before any path pattern: start a block with a path "
                        "such as /* at the start of a line",
                        content));
      }
      HeaderRule& rule = rules.back();
      if (rule.set.size() + rule.remove.size() == kMaxHeaderFieldsPerBlock) {
        return bad(tooManyFields(rule));
      }
      if (content.front() == '!') {
        std::string_view name = trimBlanks(content.substr(1));
        if (name.empty()) return bad("'!' needs the name of the header to remove");
        if (auto ok = validateHeaderName(name); !ok) return bad(ok.error().message);
        rule.remove.emplace_back(name);
        return {};
      }
      std::size_t colon = content.find(':');
      if (colon == std::string_view::npos) {
        return bad(fmt::format("expected 'Name: value' or '! Name', found '{}'", content));
      }
      std::string_view name = trimBlanks(content.substr(0, colon));
      std::string_view value = trimBlanks(content.substr(colon + 1));
      if (auto ok = validateHeaderName(name); !ok) return bad(ok.error().message);
      if (auto ok = validateHeaderValue(name, value); !ok) return bad(ok.error().message);
      if (blockBytes(rule) + fieldBytes(name, value) > kMaxHeaderBytesPerBlock) {
        return bad(tooManyBytes(rule));
      }
      rule.set.emplace_back(name, value);
      return {};
    }

    if (isAbsoluteUrl(content)) {
      return bad(fmt::format(
          "'{}': patterns for other hosts are not supported; write a path starting with '/'",
          content));
    }
    if (content.front() != '/') {
      if (content.find(':') != std::string_view::npos) {
        return bad(fmt::format(
            "'{}' is not indented: header lines go indented under a path pattern", content));
      }
      return bad(fmt::format("expected a path pattern starting with '/', found '{}'", content));
    }
    if (content.find_first_of(" \t") != std::string_view::npos) {
      return bad(fmt::format("'{}': a pattern line holds the path pattern alone", content));
    }
    if (rules.size() == kMaxRules) {
      return bad(fmt::format("more than {} path patterns, the most one file may hold", kMaxRules));
    }
    HeaderRule rule{std::string(content), {}, {}, number};
    if (auto pattern = rules::parsePattern(rule.pattern); !pattern) {
      return bad(pattern.error().message);
    }
    rules.push_back(std::move(rule));
    return {};
  });
  if (!parsed) return tl::unexpected(parsed.error());
  return rules;
}

}  // namespace cutover
