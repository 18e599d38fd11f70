#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/api/api_server.h"
#include "cutover/common/http.h"
#include "cutover/common/result.h"

namespace cutover::api {

// A request head, as the routes see it. Plain C++: only http_listener.cc knows Boost.Beast.
struct HttpRequest {
  std::string method;                           // "GET", "POST", ... as sent
  std::string target;                           // as sent
  std::string path;                             // the target before '?'
  std::string query;                            // after '?', still encoded; empty if none
  HeaderMap headers;                            // repeated fields joined with ", "
  std::optional<std::uint64_t> content_length;  // nullopt when chunked or absent
  bool has_body = false;
};

// The request body, read in pieces straight from the connection, so a route decides where the
// bytes go (memory, a temp file, a blob) and how many it accepts.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Up to buffer.size() bytes; 0 at the end of the body. io if the client broke off or paused
  // longer than the read timeout: the body is then incomplete and must not be used.
  [[nodiscard]] virtual Result<std::size_t> read(std::span<std::byte> buffer) = 0;
};

using ExtraHeaders = std::vector<std::pair<std::string, std::string>>;

// Writes the one response to a request: either send(), or beginStream() + writeChunk()... +
// endStream(). A request whose body was not read to the end closes its connection after the
// response (what is left of the body cannot be told from the next request).
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void send(int status, std::string_view body,
                    std::string_view content_type = "application/json",
                    const ExtraHeaders& extra = {}) = 0;
  // A response of unknown length (chunked). The write calls return false once the client is
  // gone or the server is stopping; the route should then return.
  [[nodiscard]] virtual bool beginStream(int status, std::string_view content_type) = 0;
  [[nodiscard]] virtual bool writeChunk(std::string_view bytes) = 0;
  virtual void endStream() = 0;
  [[nodiscard]] virtual bool stopping() const = 0;
};

using HttpHandler = std::function<void(const HttpRequest&, BodyReader&, ResponseWriter&)>;

struct ListenerOptions : ConnectionLimits {
  std::chrono::milliseconds read_timeout{0};  // the longest pause while a body arrives
};

// HTTP/1.1 with request bodies, one thread per connection (an admin API has few clients, and
// its routes block on disks and deploys). A watchdog thread enforces every timeout by shutting
// the socket of a connection whose deadline passed.
// A new connection that would go beyond max_connections, or beyond its client's share, first
// closes the connection (of all, or of that client) that has waited the longest for a request
// head: one kept alive between requests, or one sending its head slowly. Only when every
// connection is working on a request does it get 503. So slow or idle clients cannot keep a
// webhook or a deploy out.
[[nodiscard]] std::unique_ptr<HttpServerBase> makeHttpListener(HttpHandler handler,
                                                               ListenerOptions options);

}  // namespace cutover::api
