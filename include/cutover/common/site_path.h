#pragma once

#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover {

// Limits on the names of a version's files; the same for folders, archives and the edge.
inline constexpr std::size_t kMaxPathLength = 1024;
inline constexpr std::size_t kMaxPathDepth = 64;

// Turns the name of a file in a deploy (a folder's relative path or an archive entry name) into
// the path the manifest stores: segments joined by '/', no leading '/', no "." segments.
// Rejects (invalid_argument, naming the path) what could leave the version or is ambiguous:
// an absolute path, a ".." segment, a backslash, a NUL or control character, an empty result,
// or a path over the limits. Repeated slashes collapse and one leading "./" is dropped.
[[nodiscard]] Result<std::string> normalizeSitePath(std::string_view raw);

}  // namespace cutover
