#include "edge/cache_policy.h"

#include <fmt/format.h>

#include "cutover/common/ascii.h"

namespace cutover::edge {
namespace {

bool looksLikeHash(std::string_view part) {
  if (part.size() < 8 || part.size() > 64) return false;
  bool digit = false, lower = false, upper = false;
  for (char c : part) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c >= 'a' && c <= 'z') {
      lower = true;
    } else if (c >= 'A' && c <= 'Z') {
      upper = true;
    } else if (c != '_') {
      return false;
    }
  }
  // Letters and digits together: "3f9a1c2e", "B4kq9x2Z". Not a word such as "SemiBoldItalic": a
  // font or component whose name happens to be mixed case must not be cached for a year under a
  // name its next version reuses. A hash that drew no digit is missed, which only costs caching,
  // never correctness.
  return digit && (lower || upper);
}

}  // namespace

bool hasContentHashName(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') + 1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;  // no extension: not an asset name
  std::string_view stem = name.substr(0, dot);
  // Parts after the first, split at '.' and '-'.
  std::size_t start = stem.find_first_of(".-");
  while (start != std::string_view::npos) {
    std::size_t end = stem.find_first_of(".-", start + 1);
    std::string_view part = stem.substr(
        start + 1, end == std::string_view::npos ? std::string_view::npos : end - start - 1);
    if (looksLikeHash(part)) return true;
    start = end;
  }
  return false;
}

void privateCacheControl(std::string_view policy, std::string& out) {
  out.assign("private");
  while (!policy.empty()) {
    auto comma = policy.find(',');
    std::string_view directive = trimBlanks(policy.substr(0, comma));
    policy = comma == std::string_view::npos ? std::string_view{} : policy.substr(comma + 1);
    std::string_view name = directive.substr(0, directive.find('='));
    if (directive.empty() || equalsIgnoreCase(name, "public") ||
        equalsIgnoreCase(name, "private") || equalsIgnoreCase(name, "s-maxage") ||
        equalsIgnoreCase(name, "proxy-revalidate")) {
      continue;
    }
    out.append(", ");
    out.append(directive);
  }
}

std::string shortMaxAge(std::uint32_t seconds) {
  return fmt::format("public, max-age={}", seconds);
}

std::string_view cacheControlFor(std::string_view path, std::string_view media_type,
                                 std::string_view short_policy) {
  if (media_type.starts_with("text/html")) return kRevalidate;
  if (hasContentHashName(path)) return kImmutable;
  return short_policy;
}

}  // namespace cutover::edge
