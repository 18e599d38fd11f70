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

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace cutover::edge
