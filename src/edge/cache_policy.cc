#include "edge/cache_policy.h"

#include <fmt/format.h>

#include "cutover/common/ascii.h"

namespace cutover::edge {

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

std::string_view cacheControlFor(bool immutable_name, std::string_view media_type,
                                 std::string_view short_policy) {
  if (media_type.starts_with("text/html")) return kRevalidate;
  if (immutable_name) return kImmutable;
  return short_policy;
}

}  // namespace cutover::edge
