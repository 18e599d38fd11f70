#include "edge/handler.h"

#include <fmt/format.h>

#include <ctime>

#include "common/log.h"
#include "cutover/common/ascii.h"
#include "cutover/common/http.h"
#include "cutover/common/names.h"
#include "cutover/common/utf8.h"
#include "cutover/pointer/access.h"
#include "edge/asset_fallback.h"
#include "edge/cache_policy.h"
#include "edge/conditional.h"
#include "edge/encoding.h"
#include "edge/http_date.h"
#include "edge/range.h"
#include "edge/router.h"
#include "edge/skew.h"

namespace cutover::edge {
namespace {

// Refusals echo user input; keep it short (and whole characters).
std::string_view clip(std::string_view s) { return clipUtf8(s, 200); }

bool isFramingHeader(std::string_view name) {
  for (std::string_view framing :
       {"content-length", "transfer-encoding", "connection", "content-encoding", "content-range",
        "date", "etag", "last-modified", "keep-alive", "upgrade", "trailer", "vary",
        "x-cutover-version", "set-cookie", "location", "accept-ranges"}) {
    if (equalsIgnoreCase(name, framing)) return true;
  }
  return false;
}

// "v1--docs" from "v1--docs.localhost" when the preview domain is "localhost"; else empty.
std::string_view previewLabel(std::string_view host, std::string_view domain) {
  if (host.size() <= domain.size() + 1 || !host.ends_with(domain)) return {};
  std::string_view label = host.substr(0, host.size() - domain.size());
  if (label.back() != '.') return {};
  label.remove_suffix(1);
  if (label.find('.') != std::string_view::npos) return {};
  return label;
}

// The value of `name` in a raw query ("a=1&cutover_share=t"), and the query without it.
std::string_view takeQueryValue(std::string_view query, std::string_view name, std::string& rest) {
  std::string_view found;
  rest.clear();
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      found = pair.substr(name.size() + 1);
      continue;
    }
    if (pair.empty()) continue;
    if (!rest.empty()) rest.push_back('&');
    rest.append(pair);
  }
  return found;
}

}  // namespace

Handler::Handler(const RoutingState& routes, ObjectStore& objects, FileCache& cache,
                 HandlerOptions options)
    : routes_(routes), objects_(objects), cache_(cache), options_(options) {}

void Handler::handle(const RequestHead& request, Reply& reply, RequestScratch& scratch) const {
  reply.reset();
  answer(request, reply, scratch);
  // A version found deleted is forgotten now (see serverError), so the next answer is the one a
  // version never stored gets: the live version for a pinned request, 404 for a preview.
  for (int again = 0; reply.version_gone; ++again) {
    reply.reset();
    if (again == 3) {
      reply.setText(404, "not found");
      break;
    }
    answer(request, reply, scratch);
  }
  // A protected host's answers are for those it admitted alone: no shared cache may keep them.
  if (reply.access_checked) {
    if (reply.cache_control != kNoStore) {
      privateCacheControl(reply.cache_control.empty() ? kRevalidate : reply.cache_control,
                          reply.own_cache_control);
      reply.cache_control = reply.own_cache_control;
    }
  } else if (reply.vary_pin && reply.stored && reply.cache_control != kImmutable) {
    // A version chosen by a pin on the site's own host is the asking browser's alone. Not so a
    // file under a content-hashed name: its bytes are the same in every version that has it (the
    // asset fallback serves it from whichever has it), so shared caches may keep it for everyone.
    privateCacheControl(reply.cache_control, reply.own_cache_control);
    reply.cache_control = reply.own_cache_control;
  }
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
  // 3. Host → site → version, in the table resolved once, now: the whole request uses this
  //    version even if the pointer flips while it is being answered.
  const SiteRoute* site = nullptr;
  bool from_live = false;
  const VersionIndex* version = chooseVersion(request, reply, scratch, site, from_live);
  if (version == nullptr) return;

  // 4. Path → entry (router.cc lists the steps).
  Route route =
      edge::route(*version, scratch.target, scratch.route, RouteOptions{site->settings.spa});
  // 4a. A page's content-hashed file that its pin's version lacks: from another recently live
  //     version (asset_fallback.h says why this is safe, and for which paths only).
  if (route.kind == RouteKind::not_found && !reply.noindex &&
      !isNavigation(request.sec_fetch_mode, request.accept)) {
    auto fallback = findHashedAsset(routes_, *site, version->version(),
                                    std::string_view(scratch.target.path).substr(1),
                                    std::time(nullptr), options_.pin_window_seconds);
    if (fallback.file != nullptr) {
      reply.stored = std::move(fallback.version);
      version = reply.stored.get();
      from_live = version == site->index.get();
      servedFrom(*site, version->version(), reply);
      route = Route{RouteKind::file, fallback.file, {}, 200, fallback.file->path};
    }
  }
  switch (route.kind) {
    case RouteKind::file:
      break;
    case RouteKind::redirect:
      reply.status = route.status;
      reply.location = std::move(route.location);
      reply.cache_control = kRevalidate;
      addRuleHeaders(*version, scratch, reply, scratch.headers);
      return;
    case RouteKind::not_found:
      if (route.file == nullptr) {
        reply.setText(404, "not found");
        return;
      }
      break;
  }
  reply.status = route.status;
  const IndexedFile& file = *route.file;
  const FileEntry& entry = file.entry;
  reply.content_type = entry.media_type;
  reply.cache_control =
      cacheControlFor(file.immutable_name, entry.media_type, site->short_cache_control);
  reply.last_modified = from_live ? std::string_view(site->live_since) : version->created();
  addRuleHeaders(*version, scratch, reply, scratch.headers);  // may override Cache-Control
  bool ok_status = reply.status == 200;

  // 5. Which form of the file: a precompressed one when the client accepts it.
  AvailableForms forms{entry.br.present(), entry.gzip.present()};
  ContentCoding coding = ContentCoding::identity;
  if (forms.br || forms.gzip) {
    reply.vary_encoding = true;
    coding = chooseEncoding(request.accept_encoding, forms);
  }
  const std::string* hash = &entry.hash;  // the blob to send; a pointer spares a copy
  std::uint64_t size = entry.size;
  reply.etag = file.etag;
  if (coding == ContentCoding::br) {
    hash = &entry.br.hash;
    size = entry.br.size;
    reply.etag = file.br_etag;
  } else if (coding == ContentCoding::gzip) {
    hash = &entry.gzip.hash;
    size = entry.gzip.size;
    reply.etag = file.gzip_etag;
  }
  reply.content_encoding = contentEncodingName(coding);
  reply.content_length = size;
  if (!ok_status) reply.etag = {};  // the version's 404 page: never a 304 or a range for it

  // 6. Skew protection: a page load from the live version pins its later requests to it.
  if (ok_status && (from_live || reply.alias_page) && entry.media_type.starts_with("text/html") &&
      isNavigation(request.sec_fetch_mode, request.accept)) {
    formatPinCookie(reply.set_cookie, version->version(), std::time(nullptr),
                    options_.pin_window_seconds);
  }

  // 7. Conditional requests: the client's copy is current.
  if (ok_status && notModified(request, reply)) {
    reply.status = 304;
    reply.content_type = {};
    reply.content_encoding = {};
    reply.content_length = 0;
    reply.omit_body = true;
    return;
  }
  // 8. A single byte range of the chosen form, unless If-Range says the client's copy is stale.
  if (ok_status) reply.accept_ranges = true;
  if (ok_status && request.has_range && ifRangeHolds(request.if_range, reply)) {
    ByteRange range = parseRange(request.range, size);
    if (range.kind == ByteRange::Kind::unsatisfiable) {
      reply.setText(416, "the requested range is not satisfiable");
      reply.content_range = fmt::format("bytes */{}", size);
      return;
    }
    if (range.kind == ByteRange::Kind::partial) {
      reply.status = 206;
      reply.content_range = fmt::format("bytes {}-{}/{}", range.first, range.last, size);
      reply.file_offset = range.first;
      reply.content_length = range.length();
    }
  }
  // 9. The body: none for HEAD, from memory when small, else streamed from the blob.
  if (request.method == Method::head) return;
  sendFile(*hash, size, reply);
}

const VersionIndex* Handler::chooseVersion(const RequestHead& request, Reply& reply,
                                           RequestScratch& scratch, const SiteRoute*& site,
                                           bool& from_live) const {
  reply.pin = routes_.current();
  normalizeHostInto(request.host, scratch.host);
  const std::string& host = scratch.host;
  site = reply.pin->findHost(host);
  if (site != nullptr && site->settings.protect == Protection::all &&
      !admitted(request, scratch, *site, site->site, reply)) {
    return nullptr;
  }
  if (site == nullptr) {
    // A preview: "<alias>--<site>.<preview domain>" answers with the alias's version while the
    // alias is open; "<version>--<site>.<preview domain>" with a stored version while its
    // preview link is open (or while it is live). An alias name wins over a version id.
    std::string_view label = previewLabel(host, options_.preview_domain);
    auto dashes = label.find("--");
    if (dashes != std::string_view::npos) {
      std::string_view name = label.substr(0, dashes);
      site = reply.pin->findSite(label.substr(dashes + 2));
      if (site != nullptr) {
        std::int64_t now = std::time(nullptr);
        reply.noindex = true;
        if (site->settings.protect != Protection::none &&
            !admitted(request, scratch, *site, label, reply)) {
          return nullptr;
        }
        if (const AliasRoute* alias = site->findAlias(name, now)) {
          return chooseAliasVersion(request, reply, scratch, *site, name, *alias);
        }
        if (!site->previewOpen(name, now)) {
          reply.setText(404, fmt::format("site {} has no open preview of version {} (its link "
                                         "expired or was revoked, or there is no such version "
                                         "or preview alias)",
                                         site->site, clip(name)));
          return nullptr;
        }
        reply.stored = routes_.storedVersion(*site, name);
        if (reply.stored) {
          servedFrom(*site, reply.stored->version(), reply);
          return reply.stored.get();
        }
        reply.setText(404, fmt::format("site {} has no stored version {}", site->site, clip(name)));
        return nullptr;
      }
    }
    reply.setText(404, fmt::format("no site is configured for host {}", clip(host)));
    return nullptr;
  }
  // Skew protection: an explicit pin (header or ?dpl=), or the cookie of the page this request
  // belongs to, keeps it on that page's version while the version is stored; a navigation starts
  // a new page load on the live version. Only a version that has been live: one never published
  // is for preview hosts, not for the site's origin. Whatever the outcome, it depended on the
  // pin's header and cookie (the query is part of the URL already): a shared cache must know.
  reply.vary_pin = true;
  std::string_view pinned = pinOf(request, scratch);
  if (!pinned.empty() && pinned != site->version && site->hasBeenLive(pinned)) {
    reply.stored = routes_.storedVersion(*site, pinned);
    if (reply.stored) {
      servedFrom(*site, reply.stored->version(), reply);
      return reply.stored.get();
    }
  }
  reply.log_site = site->site;
  if (!site->index) {
    reply.setText(404, fmt::format("site {} has no live version", site->site));
    return nullptr;
  }
  from_live = true;
  servedFrom(*site, site->version, reply);
  return site->index.get();
}

const VersionIndex* Handler::chooseAliasVersion(const RequestHead& request, Reply& reply,
                                                RequestScratch& scratch, const SiteRoute& site,
                                                std::string_view name,
                                                const AliasRoute& alias) const {
  // Skew protection on the alias's host, as on the site's own: a pinned request stays on the
  // version its page came from, if the alias named it; a navigation gets the alias's newest.
  reply.vary_pin = true;
  std::string_view pinned = pinOf(request, scratch);
  if (!pinned.empty() && pinned != alias.version && alias.hasNamed(pinned)) {
    reply.stored = routes_.storedVersion(site, pinned);
    if (reply.stored) {
      servedFrom(site, reply.stored->version(), reply);
      return reply.stored.get();
    }
  }
  reply.stored = routes_.storedVersion(site, alias.version);
  if (!reply.stored) {
    reply.setText(404, fmt::format("the preview {} of site {} names version {}, which is not "
                                   "stored",
                                   clip(name), site.site, alias.version));
    return nullptr;
  }
  reply.alias_page = true;
  servedFrom(site, reply.stored->version(), reply);
  return reply.stored.get();
}

bool Handler::admitted(const RequestHead& request, const RequestScratch& scratch,
                       const SiteRoute& site, std::string_view label, Reply& reply) const {
  reply.access_checked = true;
  const std::string& key = site.settings.access_key;
  std::int64_t now = std::time(nullptr);
  if (!request.bypass.empty() && checkBypass(key, site.site, request.bypass)) return true;
  auto valid_cookie = [&](std::string_view token) {
    return checkAccess(key, AccessKind::cookie, label, token, now).has_value();
  };
  if (!request.cookie.empty() && anyCookie(request.cookie, kAccessCookie, valid_cookie)) {
    return true;
  }
  // A share link: its token becomes a cookie for this host alone, and the browser goes on to
  // the same address without it (so the token stays out of the address bar and of links).
  std::string rest;
  std::string_view share = scratch.target.has_query
                               ? takeQueryValue(scratch.target.query, kShareQuery, rest)
                               : std::string_view{};
  if (auto until = checkAccess(key, AccessKind::share, label, share, now)) {
    std::string_view path = request.target.substr(0, request.target.find('?'));
    reply.status = 303;
    reply.location = rest.empty() ? std::string(path) : fmt::format("{}?{}", path, rest);
    reply.set_cookie =
        fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax", kAccessCookie,
                    signAccess(key, AccessKind::cookie, label, *until), *until - now);
    reply.cache_control = kNoStore;
    return false;
  }
  reply.setText(403, fmt::format("{} is protected: open it through a share link (cutover previews "
                                 "link {} ...){}",
                                 label, site.site,
                                 share.empty() ? "" : "; this link is expired or not valid here"));
  reply.cache_control = kNoStore;
  return false;
}

std::string_view Handler::pinOf(const RequestHead& request, const RequestScratch& scratch) const {
  std::string_view pinned = request.pin;
  if (pinned.empty() && scratch.target.has_query) pinned = pinnedByQuery(scratch.target.query);
  if (pinned.empty() && !request.cookie.empty() &&
      !isNavigation(request.sec_fetch_mode, request.accept)) {
    pinned = pinnedByCookie(request.cookie, std::time(nullptr), options_.pin_window_seconds);
  }
  return pinned;
}

void Handler::servedFrom(const SiteRoute& site, std::string_view version, Reply& reply) const {
  reply.log_site = site.site;
  reply.log_version = version;
  if (options_.version_header) reply.version = version;
}

void Handler::addRuleHeaders(const VersionIndex& version, const RequestScratch& scratch,
                             Reply& reply, rules::HeaderMatch& match) {
  if (!version.rules().hasHeaders()) return;
  version.rules().headers(scratch.target.path, match);
  for (const auto& field : match.fields) {
    if (equalsIgnoreCase(field.name, "cache-control")) {
      reply.cache_control = field.value;  // the site's own policy for these paths
      continue;
    }
    if (equalsIgnoreCase(field.name, "content-type")) {
      if (!reply.content_type.empty()) reply.content_type = field.value;
      continue;
    }
    // What frames the message is the server's to say, whatever a rules file asks.
    if (isFramingHeader(field.name)) continue;
    reply.headers.emplace_back(field.name, field.value);
  }
}

bool Handler::notModified(const RequestHead& request, const Reply& reply) {
  // If-None-Match decides when present; If-Modified-Since only without it (RFC 9110 §13.2.2).
  if (request.has_if_none_match) return ifNoneMatchMatches(request.if_none_match, reply.etag);
  if (request.if_modified_since.empty() || reply.last_modified.empty()) return false;
  auto since = parseHttpDate(request.if_modified_since);
  auto modified = parseHttpDate(reply.last_modified);
  return since && modified && *modified <= *since;
}

bool Handler::ifRangeHolds(std::string_view if_range, const Reply& reply) {
  if (if_range.empty()) return true;
  if (if_range.front() == '"') return if_range == reply.etag;  // strong comparison only
  if (if_range.starts_with("W/")) return false;
  auto date = parseHttpDate(if_range);
  return date && !reply.last_modified.empty() && formatHttpDate(*date) == reply.last_modified;
}

void Handler::sendFile(const std::string& hash, std::uint64_t size, Reply& reply) const {
  // The head (length, range) was computed from the manifest's size: bytes of another length are
  // never sent under it, whether they come from the store or the cache.
  if (size <= options_.memory_cache_max_file) {
    auto bytes = cache_.find(hash);
    if (!bytes) {
      // Read outside any lock; a concurrent miss may read it too, and insert() keeps one copy.
      auto read = objects_.readBlob(hash);
      if (!read) return serverError(reply, read.error());
      if (read->size() != size) return sizeMismatch(reply, hash, read->size(), size);
      bytes = cache_.insert(hash, std::move(*read));
    }
    if (bytes->size() != size) return sizeMismatch(reply, hash, bytes->size(), size);
    reply.memory = std::move(bytes);
    reply.body = std::string_view(*reply.memory).substr(reply.file_offset, reply.content_length);
    return;
  }
  auto blob = objects_.openBlob(hash);
  if (!blob) return serverError(reply, blob.error());
  if (blob->size != size) return sizeMismatch(reply, hash, blob->size, size);
  reply.file = std::move(blob->fd);
}

void Handler::sizeMismatch(Reply& reply, std::string_view hash, std::uint64_t actual,
                           std::uint64_t claimed) {
  // A manifest that lies about a blob: the file cannot be served as the version describes it,
  // so the version is answered as not having it (never a head the body does not match).
  log::error("cutover edge: blob {} has {} bytes, but version {} says {}; answering 404 for it",
             hash, actual, reply.log_version, claimed);
  reply.replaceWithText(404, "not found");
}

void Handler::serverError(Reply& reply, const Error& error) const {
  if (error.code == Errc::not_found && reply.stored && !reply.version_gone) {
    // A file of a version that is not live is gone: gc or `versions delete` took the version
    // while this edge still held its manifest. Forget it and answer as if it had never existed.
    routes_.forgetVersion(reply.stored->site(), reply.stored->version());
    reply.reset();
    reply.version_gone = true;
    return;
  }
  // The pointer only names complete versions, so this is a store that is down (503: try again)
  // or damaged (500, whatever statusFor would say of the error): say so loudly.
  log::error("cutover edge: cannot read a file of version {}: {}", reply.log_version,
             error.describe());
  if (statusFor(error.code) == 503) {
    reply.replaceWithText(503, "this file of the site cannot be read now; try again shortly");
  } else {
    reply.replaceWithText(500, "this file of the site cannot be read");
  }
}

}  // namespace cutover::edge
