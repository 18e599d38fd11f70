#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cutover/common/http.h"
#include "cutover/common/result.h"
#include "edge/access_log.h"
#include "edge/handler.h"

namespace cutover::edge {

// At max_connections, a new connection closes the one idle the longest; with none idle, 503.
struct ServerOptions : ConnectionLimits {
  unsigned threads = 1;
  AccessLogFile* access_log = nullptr;  // null: no access log
  bool sendfile = true;  // streamed bodies go from the file to the socket in the kernel
};

// HTTP/1.1 over TCP: accepts connections, parses and bounds requests, asks the Handler for a
// Reply, writes it. The only part of the edge that knows the HTTP library (Boost.Beast).
// Each of `threads` threads has its own event loop and its own socket on the port (SO_REUSEPORT),
// so the kernel spreads new connections over the threads.
[[nodiscard]] std::unique_ptr<HttpServerBase> makeHttpServer(const Handler& handler,
                                                             ServerOptions options);

}  // namespace cutover::edge
