#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cutover::edge {

// Cache-Control by what a file is. A flip must be seen at once, so anything whose URL stays the
// same across versions revalidates or expires soon; a file whose name carries its content hash
// can never change under that name, so browsers may keep it for a year.
inline constexpr std::string_view kRevalidate = "public, max-age=0, must-revalidate";
inline constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";

// Whether the file name (the last segment of `path`) carries a content hash, the way bundlers
// name their output: "app.3f9a1c2e.js", "index-B4kq9x2Z.css", "chunk.5d41402abc4b2a76.js".
// The hash is a dot- or dash-separated part of the name, other than its first part and its
// extension, of 8 to 64 characters from [A-Za-z0-9_] with both letters and digits.
[[nodiscard]] bool hasContentHashName(std::string_view path);

// "public, max-age=N".
[[nodiscard]] std::string shortMaxAge(std::uint32_t seconds);

// A response chosen by a pin (a version other than the live one, on the site's own host) is for
// the browser that asked: a shared cache must not keep it under a URL the plain site answers
// too. Writes `policy` with `public` (and the shared-cache-only `s-maxage`, `proxy-revalidate`)
// replaced by `private`, the other directives kept: "public, max-age=60" → "private, max-age=60".
void privateCacheControl(std::string_view policy, std::string& out);

// The policy for one file: HTML → kRevalidate; content-hashed names → kImmutable; the rest →
// `short_policy`. Returns a view of one of the three.
[[nodiscard]] std::string_view cacheControlFor(std::string_view path, std::string_view media_type,
                                               std::string_view short_policy);

}  // namespace cutover::edge
