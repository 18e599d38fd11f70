#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cutover/store/object_store.h"
#include "edge/file_cache.h"
#include "edge/reply.h"
#include "edge/request_target.h"
#include "edge/router.h"
#include "edge/routing_state.h"

namespace cutover::edge {

enum class Method { get, head, other };

// The parts of a parsed request head the edge looks at. Views into the session's buffers.
struct RequestHead {
  Method method = Method::get;
  std::string_view method_name;  // as sent, for the access log
  std::string_view target;
  std::string_view host;
  bool has_host = false;
  std::string_view if_none_match;  // every If-None-Match field, joined with ", "
  bool has_if_none_match = false;
  std::string_view if_modified_since;
  std::string_view range;
  bool has_range = false;
  std::string_view if_range;
  std::string_view accept_encoding;  // every Accept-Encoding field, joined with ", "
  std::string_view accept;
  std::string_view cookie;  // every Cookie field, joined with "; "
  std::string_view pin;     // X-Cutover-Pin
  std::string_view bypass;  // X-Cutover-Bypass: opens a protected site's hosts
  std::string_view sec_fetch_mode;
  std::string_view referer;     // for the access log
  std::string_view user_agent;  // for the access log
  bool http10 = false;
};

// Buffers one connection reuses from request to request.
struct RequestScratch {
  DecodedTarget target;
  RouteScratch route;
  rules::HeaderMatch headers;
  std::string host;
};

struct HandlerOptions {
  bool version_header = true;
  std::uint64_t memory_cache_max_file = 256ULL << 10;
  std::string preview_domain = "localhost";
  std::uint32_t pin_window_seconds = 3600;  // how long a page load stays on its version
};

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
  // The version a request is served from; sets reply.version and reply.noindex. Null after
  // answering the request itself (404).
  const VersionIndex* chooseVersion(const RequestHead& request, Reply& reply,
                                    RequestScratch& scratch, const SiteRoute*& site,
                                    bool& from_live) const;
  // Whether a request may see `label` (a protected preview's "<name>--<site>", or the site's
  // name for its own hosts): the bypass header, an access cookie for the label, or a share link
  // (answered 303 with the cookie). Otherwise answers 403 and returns false.
  bool admitted(const RequestHead& request, const RequestScratch& scratch, const SiteRoute& site,
                std::string_view label, Reply& reply) const;
  // The version a request's pin asks for: its header, its ?dpl=, or (unless it is a navigation,
  // which starts a new page load) its page's cookie within the pin window; else empty.
  std::string_view pinOf(const RequestHead& request, const RequestScratch& scratch) const;
  // The version an alias's host serves (see chooseVersion), pins considered.
  const VersionIndex* chooseAliasVersion(const RequestHead& request, Reply& reply,
                                         RequestScratch& scratch, const SiteRoute& site,
                                         std::string_view name, const AliasRoute& alias) const;
  void sendFile(const std::string& hash, std::uint64_t size, Reply& reply) const;
  void serverError(Reply& reply, const Error& error) const;
  // Records that `version` of `site` answers: the access log's fields and the version header.
  void servedFrom(const SiteRoute& site, std::string_view version, Reply& reply) const;
  // Logs a blob whose length is not the manifest's and answers 404 for the file.
  static void sizeMismatch(Reply& reply, std::string_view hash, std::uint64_t actual,
                           std::uint64_t claimed);
  static void addRuleHeaders(const VersionIndex& version, const RequestScratch& scratch,
                             Reply& reply, rules::HeaderMatch& match);
  static bool notModified(const RequestHead& request, const Reply& reply);
  static bool ifRangeHolds(std::string_view if_range, const Reply& reply);

  const RoutingState& routes_;
  ObjectStore& objects_;
  FileCache& cache_;
  HandlerOptions options_;
};

}  // namespace cutover::edge
