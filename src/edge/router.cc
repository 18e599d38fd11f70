#include "edge/router.h"

namespace cutover::edge {
namespace {

Route serve(const IndexedFile* file) { return Route{RouteKind::file, file, {}}; }

const IndexedFile* findJoined(const VersionIndex& version, std::string& key, std::string_view a,
                              std::string_view b) {
  key.assign(a);
  key.append(b);
  return version.find(key);
}

// "/dir" → "/dir/", keeping what the client sent (still encoded) and its query.
Route redirectToSlash(const DecodedTarget& target) {
  Route r{RouteKind::redirect, nullptr, {}};
  r.location.reserve(target.raw_path.size() + target.query.size() + 2);
  r.location.append(target.raw_path);
  r.location.push_back('/');
  if (target.has_query) {
    r.location.push_back('?');
    r.location.append(target.query);
  }
  return r;
}

}  // namespace

Route route(const VersionIndex& version, const DecodedTarget& target, std::string& key) {
  std::string_view path = std::string_view(target.path).substr(1);  // keys have no leading '/'
  bool folder = path.empty() || path.back() == '/';

  // 1. The exact file: "/css/site.css" → "css/site.css".
  if (!folder) {
    if (const auto* file = version.find(path)) return serve(file);
  }
  // 2. A folder's index: "/" → "index.html", "/docs/" → "docs/index.html".
  if (folder) {
    if (const auto* file = findJoined(version, key, path, "index.html")) return serve(file);
  }
  // 3. Clean URLs: "/about" → "about.html".
  if (!folder) {
    if (const auto* file = findJoined(version, key, path, ".html")) return serve(file);
  }
  // 4. A folder named without its slash: "/docs" → 301 "/docs/" (relative links then resolve).
  if (!folder && findJoined(version, key, path, "/index.html") != nullptr) {
    return redirectToSlash(target);
  }
  // 5. The version's own not-found page.
  if (const auto* page = version.find("404.html")) return Route{RouteKind::not_found, page, {}};
  // 6. A plain 404.
  return Route{};
}

}  // namespace cutover::edge
