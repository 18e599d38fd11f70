#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

// HTTP pieces both of cutover's servers (the edge and the admin API) need.
namespace cutover {

// "OK", "Not Found", …; "Unknown" for a status neither server sends.
[[nodiscard]] std::string_view reasonPhrase(int status);

// A listen address, checked: `host` is a numeric IPv4 or IPv6 address.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;  // 0: any free port
};

// Parses "host:port", "[v6]:port", "*:port" or ":port" (every address), "localhost:port"
// (127.0.0.1). invalid_argument, naming the text, for anything else.
[[nodiscard]] Result<ListenAddress> parseListenAddress(const std::string& host_port);

}  // namespace cutover
