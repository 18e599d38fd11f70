#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cutover/store/object_store.h"
#include "edge/file_cache.h"
#include "edge/reply.h"
#include "edge/request_target.h"
#include "edge/routing_state.h"

namespace cutover::edge {

enum class Method { get, head, other };

// The parts of a parsed request head the edge looks at. Views into the session's buffers.
struct RequestHead {
  Method method = Method::get;
  std::string_view target;
  std::string_view host;
  bool has_host = false;
  std::string_view if_none_match;  // every If-None-Match field, joined with ", "
  bool has_if_none_match = false;
  bool http10 = false;
};

// Buffers one connection reuses from request to request.
struct RequestScratch {
  DecodedTarget target;
  std::string key;
  std::string host;
};

struct HandlerOptions {
  bool version_header = true;
  std::uint64_t memory_cache_max_file = 256ULL << 10;
};

inline constexpr std::string_view kCacheControl = "public, max-age=0, must-revalidate";

// The edge's request path, from a parsed head to a Reply, step by step (see handle()).
// Thread-safe and lock-free apart from the file cache's brief shard locks; never throws.
class Handler {
 public:
  Handler(const RoutingState& routes, ObjectStore& objects, FileCache& cache,
          HandlerOptions options);

  // Answers one request into `reply` (which it resets first).
  void handle(const RequestHead& request, Reply& reply, RequestScratch& scratch) const;

 private:
  void answer(const RequestHead& request, Reply& reply, RequestScratch& scratch) const;
  void sendFile(const IndexedFile& file, Reply& reply) const;
  void serverError(Reply& reply, const Error& error) const;

  const RoutingState& routes_;
  ObjectStore& objects_;
  FileCache& cache_;
  HandlerOptions options_;
};

}  // namespace cutover::edge
