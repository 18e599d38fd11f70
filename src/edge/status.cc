#include "edge/status.h"

namespace cutover::edge {

int statusFor(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
    case Errc::bad_archive:
      return 400;
    case Errc::not_found:
      return 404;
    case Errc::too_large:
      return 413;
    case Errc::unavailable:
    case Errc::interrupted:
      return 503;
    case Errc::io:
    case Errc::conflict:
    case Errc::already_exists:
      return 500;
  }
  return 500;
}

}  // namespace cutover::edge
