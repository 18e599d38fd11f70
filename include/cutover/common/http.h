#pragma once

#include <array>
#include <chrono>
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

// The bounds both servers put on their connections, from EdgeOptions or ApiOptions.
struct ConnectionLimits {
  std::size_t max_header_bytes = 0;             // a larger request head gets 431
  std::size_t max_connections = 0;              // see each server for who makes room at the limit
  std::size_t max_connections_per_client = 0;   // per address (IPv6: per /64); 0: no bound
  std::chrono::milliseconds header_timeout{0};  // to receive a whole request head
  std::chrono::milliseconds idle_timeout{0};    // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{0};   // for each piece of a response to drain
};

// One of cutover's HTTP servers (edge/http_server.h, api/http.h) as its owner drives it.
class HttpServerBase {
 public:
  HttpServerBase() = default;
  virtual ~HttpServerBase() = default;
  HttpServerBase(const HttpServerBase&) = delete;
  HttpServerBase& operator=(const HttpServerBase&) = delete;

  // Binds and listens on "host:port" (port 0: any free one); returns the bound port.
  // invalid_argument for an address it cannot parse, io if it cannot bind (also when another
  // process listens there already).
  [[nodiscard]] virtual Result<std::uint16_t> listen(const std::string& host_port) = 0;
  virtual void start() = 0;
  // Stops accepting, closes idle connections, lets requests in flight finish for up to `grace`,
  // then closes the rest and joins every thread. Idempotent.
  virtual void stop(std::chrono::milliseconds grace) = 0;
};

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
