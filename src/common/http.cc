#include "cutover/common/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace cutover {

int statusFor(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
    case Errc::bad_archive:
      return 400;
    case Errc::not_found:
      return 404;
    case Errc::already_exists:
    case Errc::conflict:
      return 409;
    case Errc::too_large:
      return 413;
    case Errc::unavailable:
    case Errc::interrupted:
      return 503;
    case Errc::io:
      return 500;
  }
  return 500;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
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

Result<ListenAddress> parseListenAddress(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return fail(Errc::invalid_argument, "listen address '" + host_port + "' needs host:port");
  }
  std::string host = host_port.substr(0, colon);
  std::string_view port_text = std::string_view(host_port).substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  unsigned char address[16];
  bool numeric = ::inet_pton(AF_INET, host.c_str(), address) == 1 ||
                 ::inet_pton(AF_INET6, host.c_str(), address) == 1;
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (!numeric || port_text.empty() || ec != std::errc() ||
      end != port_text.data() + port_text.size() || port > 65535) {
    return fail(Errc::invalid_argument, "listen address '" + host_port + "' is not valid");
  }
  return ListenAddress{std::move(host), static_cast<std::uint16_t>(port)};
}

std::optional<ClientKey> clientKeyOfPeer(int fd) {
  sockaddr_storage peer{};
  socklen_t length = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return std::nullopt;
  ClientKey key{};
  if (peer.ss_family == AF_INET) {
    // As an IPv4-mapped IPv6 address, so both families compare alike.
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    key[10] = key[11] = 0xff;
    std::memcpy(key.data() + 12, &v4.sin_addr, 4);
    return key;
  }
  if (peer.ss_family != AF_INET6) return std::nullopt;
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
  std::memcpy(key.data(), &v6.sin6_addr, 16);
  if (!IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) std::fill(key.begin() + 8, key.end(), 0);
  return key;
}

}  // namespace cutover
