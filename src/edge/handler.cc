#include "edge/handler.h"

#include <fmt/format.h>

#include <cstdio>

#include "cutover/common/names.h"
#include "edge/conditional.h"
#include "edge/router.h"
#include "edge/status.h"

namespace cutover::edge {
namespace {

// Refusals echo user input; keep it short.
std::string_view clip(std::string_view s) { return s.substr(0, 200); }

}  // namespace

Handler::Handler(const RoutingState& routes, ObjectStore& objects, FileCache& cache,
                 HandlerOptions options)
    : routes_(routes), objects_(objects), cache_(cache), options_(options) {}

void Handler::handle(const RequestHead& request, Reply& reply, RequestScratch& scratch) const {
  reply.reset();
  answer(request, reply, scratch);
  // HEAD gets the head GET would get, whatever the answer.
  if (request.method == Method::head) reply.omit_body = true;
}

void Handler::answer(const RequestHead& request, Reply& reply, RequestScratch& scratch) const {

  // 1. The target, decoded once; what cannot name a file of a version is refused.
  if (auto decoded = decodeTarget(request.target, scratch.target); !decoded) {
    reply.setText(statusFor(decoded.error().code), decoded.error().message);
    return;
  }
  // 2. Only GET and HEAD.
  if (request.method == Method::other) {
    reply.setText(405, "only GET and HEAD are allowed");
    reply.allow = true;
    return;
  }
  if (!request.has_host && !request.http10) {
    reply.setText(400, "an HTTP/1.1 request needs a Host header");
    return;
  }
  // 3. Host → site, in the table resolved once, now: the whole request uses this version even
  //    if the pointer flips while it is being answered.
  reply.pin = routes_.current();
  normalizeHostInto(request.host, scratch.host);
  const std::string& host = scratch.host;
  const SiteRoute* site = reply.pin->findHost(host);
  if (site == nullptr) {
    reply.setText(404, fmt::format("no site is configured for host {}", clip(host)));
    return;
  }
  // 4. Site → live version (its manifest is loaded already).
  if (!site->index) {
    reply.setText(404, fmt::format("site {} has no live version", site->site));
    return;
  }
  if (options_.version_header) reply.version = site->version;

  // 5. Path → entry (router.cc lists the steps).
  Route route = edge::route(*site->index, scratch.target, scratch.key);
  switch (route.kind) {
    case RouteKind::file:
      reply.status = 200;
      reply.etag = route.file->etag;
      break;
    case RouteKind::redirect:
      reply.status = 301;
      reply.location = std::move(route.location);
      reply.cache_control = kCacheControl;
      return;
    case RouteKind::not_found:
      if (route.file == nullptr) {
        std::string_view version = reply.version;
        reply.setText(404, "not found");
        reply.version = version;
        return;
      }
      reply.status = 404;  // the version's 404.html; no ETag, so never a 304 for it
      break;
  }
  reply.content_type = route.file->entry.media_type;
  reply.cache_control = kCacheControl;
  reply.content_length = route.file->entry.size;

  // 6. Conditional request: the client's copy is current.
  if (reply.status == 200 && request.has_if_none_match &&
      ifNoneMatchMatches(request.if_none_match, reply.etag)) {
    reply.status = 304;
    reply.content_type = {};
    reply.content_length = 0;
    reply.omit_body = true;
    return;
  }
  // 7. The body: none for HEAD, from memory when small, else streamed from the blob.
  if (request.method == Method::head) return;
  sendFile(*route.file, reply);
}

void Handler::sendFile(const IndexedFile& file, Reply& reply) const {
  const FileEntry& entry = file.entry;
  if (entry.size <= options_.memory_cache_max_file) {
    auto bytes = cache_.find(entry.hash);
    if (!bytes) {
      // Read outside any lock; a concurrent miss may read it too, and insert() keeps one copy.
      auto read = objects_.readBlob(entry.hash);
      if (!read) return serverError(reply, read.error());
      if (read->size() != entry.size) {
        return serverError(reply, Error{Errc::io, fmt::format("blob {} has {} bytes, not {}",
                                                              entry.hash, read->size(),
                                                              entry.size)});
      }
      bytes = cache_.insert(entry.hash, std::move(*read));
    }
    reply.memory = std::move(bytes);
    reply.body = *reply.memory;
    return;
  }
  auto blob = objects_.openBlob(entry.hash);
  if (!blob) return serverError(reply, blob.error());
  if (blob->size != entry.size) {
    return serverError(reply, Error{Errc::io, fmt::format("blob {} has {} bytes, not {}",
                                                          entry.hash, blob->size, entry.size)});
  }
  reply.file = std::move(blob->fd);
}

void Handler::serverError(Reply& reply, const Error& error) const {
  // The pointer only names complete versions, so this is a damaged store: say so loudly.
  std::fprintf(stderr, "cutover edge: cannot read a file of version %s: %s\n",
               std::string(reply.version).c_str(), error.describe().c_str());
  std::string_view version = reply.version;
  auto pin = std::move(reply.pin);
  reply.reset();
  reply.setText(500, "this file of the site cannot be read");
  reply.version = version;
  reply.pin = std::move(pin);
}

}  // namespace cutover::edge
