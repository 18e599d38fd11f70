#pragma once

#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover {

// A site name is one DNS label: 1–63 of [a-z0-9-], not starting or ending with '-', and without
// "--" (which separates version and site in preview host names).
[[nodiscard]] Result<void> validateSiteName(std::string_view name);

// A version id has the same alphabet as a site name (it too appears in host names).
[[nodiscard]] Result<void> validateVersionId(std::string_view id);

// A fresh, never-reused version id: "<prefix>-<yyyymmdd>-<hhmmss>-<6 random hex>" (UTC), or
// without "<prefix>-" when the prefix is empty. For a git build the prefix is the short commit.
[[nodiscard]] std::string newVersionId(std::string_view prefix = {});

// A host name as it is matched: lowercased, without a port or a trailing dot.
[[nodiscard]] std::string normalizeHost(std::string_view host);
// The same into `out`, reusing its buffer (the edge calls this once per request).
void normalizeHostInto(std::string_view host, std::string& out);

}  // namespace cutover
