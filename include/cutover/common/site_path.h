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
// an absolute path, a ".." segment, a backslash, a NUL or control character, bytes that are
// not UTF-8 (a manifest is JSON), an empty result, or a path over the limits. Repeated slashes
// collapse and one leading "./" is dropped. The message shows the path through printablePath.
// Every source of file names (folders, archives, build outputs, remote file lists) goes through
// this, so a name that passes can be written to a manifest.
[[nodiscard]] Result<std::string> normalizeSitePath(std::string_view raw);

// `raw` for a message: valid UTF-8 is kept, every byte that is not part of a well-formed
// character and every control character is written as \xNN ("caf\xE9.html"), so the result is
// always valid UTF-8 and a terminal shows it as it is. Unlike escapeInvalidUtf8 (utf8.h), which
// keeps control characters for JSON to escape, this is for a line a person reads.
[[nodiscard]] std::string printablePath(std::string_view raw);

}  // namespace cutover
