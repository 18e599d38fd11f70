#pragma once

#include <string>

#include "edge/request_target.h"
#include "edge/routing_table.h"

namespace cutover::edge {

enum class RouteKind {
  file,       // serve `file` with 200
  redirect,   // 301 to `location`
  not_found,  // 404; with the version's own 404 page when `file` is set
};

struct Route {
  RouteKind kind = RouteKind::not_found;
  const IndexedFile* file = nullptr;
  std::string location;
  int status = 0;         // a redirect's status (301 unless a rule says otherwise)
  std::string_view path;  // the manifest key of `file`: what the cache policy and headers match
};

struct RouteOptions {
  bool spa = false;  // a path with no file and no extension serves index.html
};

// Buffers route() reuses across requests.
struct RouteScratch {
  std::string key;
  std::string rewritten;  // a rewrite rule's target path
  rules::RedirectMatch match;
};

// Path → entry within one version: the steps below, tried in order; the first that answers wins.
// Only manifest keys are ever looked up, so nothing outside the version can be named.
// `scratch` is reused across requests to spare allocations.
[[nodiscard]] Route route(const VersionIndex& version, const DecodedTarget& target,
                          RouteScratch& scratch, RouteOptions options = {});

}  // namespace cutover::edge
