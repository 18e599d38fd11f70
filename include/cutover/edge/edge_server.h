#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cutover/common/result.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/store/object_store.h"

namespace cutover {

struct EdgeOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  unsigned threads = 0;                   // 0: one per core
  bool version_header = true;             // send X-Cutover-Version on every site response
  // Every stored version answers at "<version>--<site>.<preview_domain>", and the live one also
  // at "<site>.<preview_domain>".
  std::string preview_domain = "localhost";
  // Skew protection: how long a page load's later requests stay on the version its HTML came from.
  std::uint32_t pin_window_seconds = 3600;
  std::uint64_t memory_cache_bytes = 256ULL << 20;     // small files kept in memory, by blob hash
  std::uint64_t memory_cache_max_file = 256ULL << 10;  // files larger than this are streamed

  // Limits on clients.
  std::size_t max_header_bytes = 16 * 1024;          // a larger request head gets 431
  std::chrono::milliseconds header_timeout{10'000};  // to send a whole request head
  std::chrono::milliseconds idle_timeout{60'000};    // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{60'000};   // for each piece of a response to drain
  // Open connections. At the limit a new connection closes the one idle the longest (between
  // requests of a kept-alive connection); with none idle it gets 503.
  std::size_t max_connections = 10'000;
  // Open connections from one client address (IPv6: one /64); beyond it, 503. 0: no bound.
  std::size_t max_connections_per_client = 256;
  std::string access_log;  // "" off, "-" standard output, else a file path
  // "vhost": the combined format plus the Host, site and version; "combined": exactly combined.
  std::string access_log_format = "vhost";
  bool sendfile = true;  // large files go from the page cache to the socket with sendfile(2)
  std::chrono::milliseconds stop_grace{5'000};  // how long stop() lets in-flight requests run
};

// The HTTP server that routes every request, by Host, to the live version of a site.
// It learns pointers by watching the PointerStore and keeps them in memory; requests never wait
// on a store round trip for routing.
//
// Site S answers at "S.<preview_domain>" and at every host of its site/S settings. A host that
// reaches no site gets 404 "no site is configured for host …"; a site with settings but no live
// version gets 404 "site S has no live version". Every other response of a site carries
// X-Cutover-Version (unless version_header is off). One request is served from one version: the
// one live when its head was read.
class EdgeServer {
 public:
  virtual ~EdgeServer() = default;

  // Binds, loads the current pointers and manifests, and starts serving on background threads.
  // Fails (invalid_argument, io, unavailable) if it cannot bind or reach the stores.
  [[nodiscard]] virtual Result<void> start() = 0;

  // The bound port (after start()).
  [[nodiscard]] virtual std::uint16_t port() const = 0;

  // Stops accepting, lets in-flight requests finish (up to stop_grace), and joins the threads.
  // Idempotent; the destructor calls it.
  virtual void stop() = 0;
};

[[nodiscard]] std::unique_ptr<EdgeServer> makeEdgeServer(ObjectStorePtr objects,
                                                         PointerStorePtr pointers,
                                                         EdgeOptions options);

}  // namespace cutover
