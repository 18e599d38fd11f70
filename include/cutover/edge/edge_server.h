#pragma once

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
  std::string preview_domain = "localhost";
  std::uint64_t memory_cache_bytes = 256ULL << 20;  // small files kept in memory, by blob hash
  std::uint64_t memory_cache_max_file = 256ULL << 10;  // files larger than this are streamed
};

// The HTTP server that routes every request, by Host, to the live version of a site.
// It learns pointers by watching the PointerStore and keeps them in memory; requests never wait
// on a store round trip for routing.
class EdgeServer {
 public:
  virtual ~EdgeServer() = default;

  // Binds, loads the current pointers and manifests, and starts serving on background threads.
  // Fails (invalid_argument, io, unavailable) if it cannot bind or reach the stores.
  [[nodiscard]] virtual Result<void> start() = 0;

  // The bound port (after start()).
  [[nodiscard]] virtual std::uint16_t port() const = 0;

  // Stops accepting, lets in-flight requests finish (up to a few seconds), and joins the threads.
  virtual void stop() = 0;
};

[[nodiscard]] std::unique_ptr<EdgeServer> makeEdgeServer(ObjectStorePtr objects,
                                                         PointerStorePtr pointers,
                                                         EdgeOptions options);

}  // namespace cutover
