#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cutover::testing {

struct HttpResponse {
  long status = 0;                             // 0 if the request failed at the transport
  std::map<std::string, std::string> headers;  // names lowercased; the last value wins
  std::string body;
  std::string error;  // transport error text, if any
};

// One HTTP/1.1 request to 127.0.0.1:port with the given Host, via libcurl. `target` is sent as
// is (no normalisation of dot segments or escapes), so tests can send hostile paths.
HttpResponse httpRequest(std::uint16_t port, const std::string& host, const std::string& target,
                         const std::vector<std::string>& headers = {},
                         const std::string& method = "GET");

// A request with a body (sent as is, with Content-Length) to http://127.0.0.1:port`target`.
HttpResponse httpSend(std::uint16_t port, const std::string& method, const std::string& target,
                      const std::vector<std::string>& headers, const std::string& body);

}  // namespace cutover::testing
