#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cutover/common/content_hash_name.h"

namespace cutover::edge {

// Cache-Control by what a file is. A flip must be seen at once, so anything whose URL stays the
// same across versions revalidates or expires soon; a file whose name carries its content hash
// can never change under that name, so browsers may keep it for a year.
inline constexpr std::string_view kRevalidate = "public, max-age=0, must-revalidate";
inline constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
inline constexpr std::string_view kNoStore = "no-store";

// "public, max-age=N".
[[nodiscard]] std::string shortMaxAge(std::uint32_t seconds);

// A response chosen by a pin (a version other than the live one, on the site's own host) is for
// the browser that asked: a shared cache must not keep it under a URL the plain site answers
// too. Writes `policy` with `public` (and the shared-cache-only `s-maxage`, `proxy-revalidate`)
// replaced by `private`, the other directives kept: "public, max-age=60" → "private, max-age=60".
void privateCacheControl(std::string_view policy, std::string& out);

// The policy for one file: HTML → kRevalidate; a content-hashed name (`immutable_name`: see
// hasContentHashName, unless its version's manifest lists the path in short_cache) →
// kImmutable; the rest → `short_policy`. Returns a view of one of the three.
[[nodiscard]] std::string_view cacheControlFor(bool immutable_name, std::string_view media_type,
                                               std::string_view short_policy);

}  // namespace cutover::edge
