#pragma once

// What the two HTTP servers (edge/http_server.cc, api/http_listener.cc) do alike with their
// listening sockets. It speaks Asio: include it from those two files only.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/string.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Beast's string_view as the standard one.
inline std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

// "host:port" as parseListenAddress (common/http.h) reads it; invalid_argument naming the text.
[[nodiscard]] Result<tcp::endpoint> parseEndpoint(const std::string& host_port);

// A socket bound to `endpoint` and listening; `reuse_port` lets several sockets of this process
// share the port (SO_REUSEPORT). io, "cannot listen on <host_port>: …", if it cannot.
[[nodiscard]] Result<tcp::acceptor> openAcceptor(asio::io_context& ioc,
                                                 const tcp::endpoint& endpoint,
                                                 const std::string& host_port,
                                                 bool reuse_port = false);

// The port a listening socket has (the free one chosen for port 0).
[[nodiscard]] Result<std::uint16_t> boundPort(const tcp::acceptor& acceptor,
                                              const std::string& host_port);

// A short answer to a connection about to be refused, without waiting: the socket's buffer takes
// it at once, or it is lost.
void sendWithoutWaiting(int fd, std::string_view bytes);

// A graceful stop's wait: asks `drained` every `poll` until it says yes or `grace` has passed.
void waitForDrain(std::chrono::milliseconds grace, std::chrono::milliseconds poll,
                  const std::function<bool()>& drained);

}  // namespace cutover::net
