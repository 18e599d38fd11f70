#include "cutover/common/guard.h"

#include <cstdio>
#include <string>

#include "common/log.h"
#include "cutover/common/utf8.h"

namespace cutover {

Error reportUnexpected(std::string_view where, const std::exception_ptr& error) noexcept {
  try {
    std::string what = "an exception of unknown type";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::string message =
        escapeInvalidUtf8("unexpected error in " + std::string(where) + ": " + what);
    log::error("cutover: {}", message);
    return Error{Errc::io, std::move(message)};
  } catch (...) {
    // Out of memory while describing it: say the least.
    std::fputs("cutover: unexpected error (and no memory to describe it)\n", stderr);
    return Error{Errc::io, {}};
  }
}

}  // namespace cutover
