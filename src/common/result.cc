#include "cutover/common/result.h"

#include <cerrno>
#include <cstring>

namespace cutover {

std::string_view errcName(Errc code) {
  switch (code) {
    case Errc::not_found:
      return "not found";
    case Errc::already_exists:
      return "already exists";
    case Errc::conflict:
      return "conflict";
    case Errc::invalid_argument:
      return "invalid argument";
    case Errc::bad_archive:
      return "bad archive";
    case Errc::too_large:
      return "too large";
    case Errc::io:
      return "i/o error";
    case Errc::unavailable:
      return "unavailable";
    case Errc::interrupted:
      return "interrupted";
  }
  return "error";
}

std::string Error::describe() const { return std::string(errcName(code)) + ": " + message; }

tl::unexpected<Error> failErrno(std::string what, int errnum) {
  // A full disk or quota says so first, whatever was being done: "the disk is full (what: ...)".
  if (errnum == ENOSPC || errnum == EDQUOT) {
    return fail(Errc::io, "the disk is full (" + what + ": " + std::strerror(errnum) + ")");
  }
  Errc code = errnum == ENOENT   ? Errc::not_found
              : errnum == EEXIST ? Errc::already_exists
                                 : Errc::io;
  return fail(code, std::move(what) + ": " + std::strerror(errnum));
}

}  // namespace cutover
