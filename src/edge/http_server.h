#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cutover/common/result.h"
#include "edge/access_log.h"
#include "edge/handler.h"

namespace cutover::edge {

struct ServerOptions {
  unsigned threads = 1;
  std::size_t max_header_bytes = 16 * 1024;          // larger request heads get 431
  std::chrono::milliseconds header_timeout{10'000};  // to receive a whole request head
  std::chrono::milliseconds idle_timeout{60'000};    // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{60'000};   // for each piece of a response to drain
  // At the limit, a new connection closes the one idle the longest; with none idle, 503.
  std::size_t max_connections = 10'000;
  std::size_t max_connections_per_client = 256;  // per address (IPv6: per /64); 0: no bound
  AccessLogFile* access_log = nullptr;               // null: no access log
  bool sendfile = true;  // streamed bodies go from the file to the socket in the kernel
};

// HTTP/1.1 over TCP: accepts connections, parses and bounds requests, asks the Handler for a
// Reply, writes it. The only part of the edge that knows the HTTP library (Boost.Beast).
class HttpServer {
 public:
  HttpServer(const Handler& handler, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on "host:port" (port 0: any free one); returns the bound port. Each thread
  // gets a socket of its own on the port (SO_REUSEPORT), so the kernel spreads new connections
  // over the threads. invalid_argument for an address it cannot parse, io if it cannot bind
  // (also when another process listens there already).
  [[nodiscard]] Result<std::uint16_t> listen(const std::string& host_port);

  // Starts accepting, on `threads` threads (each with its own event loop).
  void start();

  // Stops accepting, closes idle connections, lets in-flight responses finish for up to
  // `grace`, then closes the rest and joins the threads. Idempotent.
  void stop(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cutover::edge
