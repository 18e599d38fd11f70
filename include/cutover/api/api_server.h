#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/source_limits.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/store/object_store.h"

namespace cutover {

class CompressCache;
class History;
class TokenStore;

// Orders header names case-insensitively, so a lookup of "x-hub-signature-256" finds
// "X-Hub-Signature-256".
struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};
using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

// What a webhook handler answers: a status and a JSON body.
struct WebhookReply {
  int status = 200;
  std::string json = "{}";
};

// Called for POST /hooks/<site> with the request's headers and raw body. The API does no bearer
// check on this route: verifying the request (a signature) is the handler's job.
using WebhookHandler = std::function<WebhookReply(const std::string& site, const HeaderMap& headers,
                                                  const std::string& body)>;

struct ApiOptions {
  std::string listen = "127.0.0.1:8081";  // host:port; port 0 picks a free one
  // Where a site answers once live, for the API's answers; "{site}" is replaced by the name.
  std::string site_url = "http://{site}.localhost:8080/";

  // Limits on clients.
  std::uint64_t max_upload_bytes = 1ULL << 30;  // an archive or a blob; larger bodies get 413
  std::uint64_t max_json_bytes = 16ULL << 20;   // a JSON (or webhook) body; larger ones get 413
  std::size_t max_header_bytes = 16 * 1024;     // a larger request head gets 431
  // Open connections. At the limit a new one closes the connection that has waited the longest
  // for a request head (idle between requests, or sending its head slowly); with none, 503.
  std::size_t max_connections = 64;
  // Open connections from one client address (IPv6: one /64); beyond it, the same. 0: no bound.
  std::size_t max_connections_per_client = 32;
  std::chrono::milliseconds header_timeout{10'000};  // to send a whole request head
  std::chrono::milliseconds read_timeout{30'000};    // longest pause while sending a body
  std::chrono::milliseconds write_timeout{30'000};   // for each piece of a response to drain
  std::chrono::milliseconds idle_timeout{30'000};    // between requests on a kept-alive connection
  std::chrono::milliseconds stop_grace{5'000};       // how long stop() lets requests finish

  // A remote deploy (POST /api/sites/S/deploys) not finalized this long after its last request
  // is recorded as failed and its blobs are left for gc.
  std::chrono::milliseconds remote_deploy_timeout{15 * 60'000};
  // Remote deploys pending at once (each holds its file list in memory and keeps gc waiting):
  // beyond these, starting one gets 429 (this site has too many) or 503 (the server has).
  std::size_t max_pending_deploys_per_site = 2;
  std::size_t max_pending_deploys = 8;

  WebhookHandler webhook;  // POST /hooks/<site>; without one that route answers 404
  // The deploy limits of a site (the config's [limits] and [sites.NAME.limits]) for archive
  // uploads and remote deploys; without it, the built-in defaults. Called from request threads.
  std::function<SourceLimits(const std::string& site)> limits_for;
};

// What the API works on: the data folder's stores, its history and its tokens.
struct ApiContext {
  ObjectStorePtr objects;
  PointerStorePtr pointers;
  History* history = nullptr;               // required; outlives the server
  TokenStore* tokens = nullptr;             // required; outlives the server
  CompressCache* compress_cache = nullptr;  // optional: skips recompressing known content
  std::filesystem::path data_dir;           // store.lock, logs/<deploy>.log and uploads/ live here
};

// The admin API: JSON over HTTP on its own listener. Every route but GET /api/health and
// /hooks/<site> needs `Authorization: Bearer <token>`: none or an unknown token gets 401, a token
// for another site (or a deploy token on an admin route) 403, and a refused request changes
// nothing. Errors are {"error": {"code": "...", "message": "..."}} with a matching status.
//
//   GET  /api/health                       {"status": "ok"}
//   GET  /api/openapi.json                 this list in full: docs/api/openapi.json
//   GET  /api/sites                        sites with their live versions
//   GET  /api/sites/S/deploys[?limit=N]    the site's deploy history, newest first
//   GET  /api/deploys/ID                   one deploy
//   GET  /api/deploys/ID/log[?follow=1]    its log; follow streams (chunked) until it finishes
//   POST /api/sites/S/activate             {"version": V}: make a stored version live
//   POST /api/sites/S/rollback             back to the version live before
//   POST /api/sites/S/archive              body: a .tar.gz, .zip or .tar; deploys it
//   POST /api/sites/S/deploys              {"files": {path: {"hash", "size"}}}: starts a remote
//                                          deploy, answers {"deploy": ID, "missing": [hashes]}
//   PUT  /api/deploys/ID/blobs/HASH        body: the bytes of one missing blob
//   POST /api/deploys/ID/finalize          commits the version and makes it live
//   GET  /api/tokens                       (admin) every token, without secrets
//   POST /hooks/S                          handed to ApiOptions::webhook
class ApiServer {
 public:
  virtual ~ApiServer() = default;

  // Binds and starts serving on background threads; prints "api on http://HOST:PORT" to stderr.
  // invalid_argument for a bad address, io if it cannot bind.
  [[nodiscard]] virtual Result<void> start() = 0;

  // The bound port (after start()).
  [[nodiscard]] virtual std::uint16_t port() const = 0;

  // Stops accepting, lets requests in flight finish (up to stop_grace), closes the rest, and
  // records remote deploys that were never finalized as failed. Idempotent; the destructor
  // calls it.
  virtual void stop() = 0;
};

[[nodiscard]] std::unique_ptr<ApiServer> makeApiServer(ApiContext context, ApiOptions options);

// One route of the API: a method and a path whose "{name}" segments match any one segment.
struct ApiRoute {
  std::string_view method;
  std::string_view path;
};
// Every route the API answers, in the form its OpenAPI document (GET /api/openapi.json) uses.
[[nodiscard]] std::vector<ApiRoute> apiRoutes();

}  // namespace cutover
