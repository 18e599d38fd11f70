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
};

// Path → entry within one version: the steps below, tried in order; the first that answers wins.
// Only manifest keys are ever looked up, so nothing outside the version can be named.
// `key` is scratch space, reused across requests to spare allocations.
[[nodiscard]] Route route(const VersionIndex& version, const DecodedTarget& target,
                          std::string& key);

}  // namespace cutover::edge
