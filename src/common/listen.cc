#include "common/listen.h"

#include <sys/socket.h>

#include <cerrno>
#include <thread>

#include "cutover/common/http.h"

namespace cutover::net {

Result<tcp::endpoint> parseEndpoint(const std::string& host_port) {
  auto parsed = parseListenAddress(host_port);
  if (!parsed) return tl::unexpected(parsed.error());
  error_code ec;
  auto address = asio::ip::make_address(parsed->host, ec);
  if (ec) return fail(Errc::invalid_argument, "listen address '" + host_port + "' is not valid");
  return tcp::endpoint(address, parsed->port);
}

Result<tcp::acceptor> openAcceptor(asio::io_context& ioc, const tcp::endpoint& endpoint,
                                   const std::string& host_port, bool reuse_port) {
  tcp::acceptor acceptor(ioc);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && reuse_port) {
    int on = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      ec = error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(Errc::io, "cannot listen on " + host_port + ": " + ec.message());
  return acceptor;
}

Result<std::uint16_t> boundPort(const tcp::acceptor& acceptor, const std::string& host_port) {
  error_code ec;
  auto port = acceptor.local_endpoint(ec).port();
  if (ec) return fail(Errc::io, "cannot listen on " + host_port + ": " + ec.message());
  return port;
}

void sendWithoutWaiting(int fd, std::string_view bytes) {
  (void)::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void waitForDrain(std::chrono::milliseconds grace, std::chrono::milliseconds poll,
                  const std::function<bool()>& drained) {
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (drained()) return;
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace cutover::net
