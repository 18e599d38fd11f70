#include "edge/cache_policy.h"

#include <fmt/format.h>

namespace cutover::edge {

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
