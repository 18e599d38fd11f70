#pragma once

#include <string_view>

#include "cutover/common/http.h"
#include "cutover/common/result.h"

namespace cutover::edge {

// The one place where a failure on the request path becomes an HTTP status.
//   invalid_argument, bad_archive → 400 (a target that cannot name a file)
//   not_found                     → 404
//   too_large                     → 413
//   unavailable, interrupted      → 503
//   io, conflict, already_exists  → 500 (the server's fault: e.g. a blob the manifest names is
//   gone)
[[nodiscard]] int statusFor(Errc code);

}  // namespace cutover::edge
