#include "edge/router.h"

namespace cutover::edge {
namespace {

Route serve(const IndexedFile* file, std::string_view key) {
  return Route{RouteKind::file, file, {}, 200, key};
}

// Whether the last segment of a path has an extension ("app.js"), which SPA mode leaves alone.
bool hasExtension(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') + 1);
  auto dot = name.rfind('.');
  return dot != std::string_view::npos && dot > 0;
}

const IndexedFile* findJoined(const VersionIndex& version, std::string& key, std::string_view a,
                              std::string_view b) {
  key.assign(a);
  key.append(b);
  return version.find(key);
}

// "/dir" → "/dir/", keeping what the client sent (still encoded) and its query.
Route redirectToSlash(const DecodedTarget& target) {
  Route r{RouteKind::redirect, nullptr, {}, 301, {}};
  r.location.reserve(target.raw_path.size() + target.query.size() + 2);
  r.location.append(target.raw_path);
  r.location.push_back('/');
  if (target.has_query) {
    r.location.push_back('?');
    r.location.append(target.query);
  }
  return r;
}

// Steps 1–3: the file a path names directly, or nullptr. `path` has no leading '/'.
const IndexedFile* findFile(const VersionIndex& version, std::string_view path, std::string& key) {
  bool folder = path.empty() || path.back() == '/';
  // 1. The exact file: "/css/site.css" → "css/site.css".
  if (!folder) {
    if (const auto* file = version.find(path)) return file;
  }
  // 2. A folder's index: "/" → "index.html", "/docs/" → "docs/index.html".
  if (folder) return findJoined(version, key, path, "index.html");
  // 3. Clean URLs: "/about" → "about.html".
  return findJoined(version, key, path, ".html");
}

Route notFound(const VersionIndex& version) {
  if (const auto* page = version.find("404.html")) {
    return Route{RouteKind::not_found, page, {}, 404, page->path};
  }
  return Route{};
}

}  // namespace

Route route(const VersionIndex& version, const DecodedTarget& target, RouteScratch& scratch,
            RouteOptions options) {
  std::string_view path = std::string_view(target.path).substr(1);  // keys have no leading '/'
  bool folder = path.empty() || path.back() == '/';

  // 1–3. The file the path names, if any.
  const IndexedFile* file = findFile(version, path, scratch.key);
  // 4. A folder named without its slash ("/docs" → "/docs/"), which counts as existing too.
  bool slash_folder = file == nullptr && !folder &&
                      findJoined(version, scratch.key, path, "/index.html") != nullptr;

  // 5. The version's `_redirects`: the first rule that matches, unless a file exists at the path
  //    and the rule lacks `!`.
  const auto& rules = version.rules();
  if (rules.hasRedirects() &&
      rules.redirect(target.path, target.query, file != nullptr || slash_folder, scratch.match)) {
    const auto& m = scratch.match;
    if (m.redirects()) return Route{RouteKind::redirect, nullptr, m.target, m.status, {}};
    // 200 rewrites to, and 404 serves, another path of this same version.
    scratch.rewritten.assign(std::string_view(m.target).substr(1));
    const IndexedFile* other = findFile(version, scratch.rewritten, scratch.key);
    if (other == nullptr) return notFound(version);
    if (m.status == 404) return Route{RouteKind::not_found, other, {}, 404, other->path};
    return serve(other, other->path);
  }
  if (file != nullptr) return serve(file, file->path);
  if (slash_folder) return redirectToSlash(target);

  // 6. A single-page app's shell, for its client-side routes ("/users/42"), not for missing assets.
  if (options.spa && !hasExtension(path)) {
    if (const auto* shell = version.find("index.html")) return serve(shell, shell->path);
  }
  // 7. The version's own not-found page, else a plain 404.
  return notFound(version);
}

}  // namespace cutover::edge
