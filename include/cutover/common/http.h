#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

// HTTP pieces both of cutover's servers (the edge and the admin API) need.
namespace cutover {

// "OK", "Not Found", …; "Unknown" for a status neither server sends.
[[nodiscard]] std::string_view reasonPhrase(int status);

// The one place a failure becomes an HTTP status, for the edge and the API alike:
//   invalid_argument, bad_archive → 400; not_found → 404; already_exists, conflict → 409;
//   too_large → 413; unavailable, interrupted → 503 (it may pass: try again); io → 500.
[[nodiscard]] int statusFor(Errc code);

// A listen address, checked: `host` is a numeric IPv4 or IPv6 address.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;  // 0: any free port
};

// Parses "host:port", "[v6]:port", "*:port" or ":port" (every address), "localhost:port"
// (127.0.0.1). invalid_argument, naming the text, for anything else.
[[nodiscard]] Result<ListenAddress> parseListenAddress(const std::string& host_port);

// Whom a connection counts against where connections per client are bounded: its peer's IPv4
// address, or the /64 of an IPv6 one (what one subscriber usually holds).
using ClientKey = std::array<unsigned char, 16>;

struct ClientKeyHash {
  std::size_t operator()(const ClientKey& key) const noexcept {
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
  }
};

// The key of a connected socket's peer; nullopt if it has none (the client is gone already).
[[nodiscard]] std::optional<ClientKey> clientKeyOfPeer(int fd);

}  // namespace cutover
