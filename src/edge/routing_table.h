#pragma once

#include <cstddef>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cutover/pointer/records.h"
#include "cutover/store/manifest.h"
#include "rules/matcher.h"

namespace cutover::edge {

// Hashes std::string and std::string_view alike, so lookups by view allocate nothing.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// One file of a version, with what every response for it repeats, computed once.
struct IndexedFile {
  FileEntry entry;
  std::string path;     // its manifest key
  std::string etag;     // "\"<hash>\"": strong, the content hash
  std::string br_etag;  // the brotli form's, when it has one
  std::string gzip_etag;
  // Served as immutable: named by its content hash (hasContentHashName) and not listed in its
  // manifest's short_cache. Also what lets another version's page fetch it from this version.
  bool immutable_name = false;
};

// A loaded manifest, indexed for the request path. Immutable once built; shared by every table
// (and every in-flight request) that routes to this version.
class VersionIndex {
 public:
  explicit VersionIndex(const Manifest& manifest);

  [[nodiscard]] const std::string& site() const { return site_; }
  [[nodiscard]] const std::string& version() const { return version_; }
  // When the version was made, as an HTTP date: Last-Modified for previews and pinned requests.
  [[nodiscard]] const std::string& created() const { return created_; }
  [[nodiscard]] std::size_t size() const { return files_.size(); }

  // The file at a manifest key ("dir/index.html": no leading '/'), or nullptr.
  [[nodiscard]] const IndexedFile* find(std::string_view key) const;

  // The version's own `_redirects` and `_headers`, compiled.
  [[nodiscard]] const rules::RulesMatcher& rules() const { return rules_; }

 private:
  std::string site_;
  std::string version_;
  std::string created_;
  StringMap<IndexedFile> files_;
  rules::RulesMatcher rules_;
};

// A site's preview links: version → until when its preview host answers (Unix seconds).
using PreviewLinks = std::map<std::string, std::int64_t, std::less<>>;

// A preview alias of a site (alias/<site>/<name>): the branch's or pull request's newest build.
struct AliasRoute {
  std::string version;
  std::int64_t until = 0;  // Unix seconds: it answers until then
  // The versions it named before, most recently first: a page loaded from one keeps its later
  // requests there (skew protection), as on the site's own hosts. Null if none.
  std::shared_ptr<const std::vector<RetiredVersion>> retired;

  // Whether a pin on the alias's host may choose `v`: its version, or one it named before.
  [[nodiscard]] bool hasNamed(std::string_view v) const;
  friend bool operator==(const AliasRoute& a, const AliasRoute& b) {
    return a.version == b.version && a.until == b.until &&
           (a.retired && b.retired ? *a.retired == *b.retired : a.retired == b.retired);
  }
};
using AliasRoutes = std::map<std::string, AliasRoute, std::less<>>;

// Where one site's requests go.
struct SiteRoute {
  std::string site;
  std::string version;                        // empty: the site has no live version
  std::shared_ptr<const VersionIndex> index;  // null exactly when version is empty
  // When the live version became live, as an HTTP date: the Last-Modified of its files. Not the
  // version's own creation time: after a rollback, an older version is newer to a client.
  std::string live_since;
  SiteSettings settings;
  std::string short_cache_control;  // "public, max-age=<settings.max_age>"
  // The versions live before `version`, most recently live first: the live pointer's record
  // (LivePointer::retired, see RoutingTable::SiteInput::retired). Null if there are none.
  std::shared_ptr<const std::vector<RetiredVersion>> retired;
  // The site's preview links: version → until when it answers (Unix seconds), from the
  // preview/<site>/<version> records. Null if there are none.
  std::shared_ptr<const PreviewLinks> previews;
  // The site's preview aliases, by name. Null if there are none.
  std::shared_ptr<const AliasRoutes> aliases;

  // The alias `name` if it answers at `now` (Unix seconds), else nullptr.
  [[nodiscard]] const AliasRoute* findAlias(std::string_view name, std::int64_t now) const;

  // Whether `version`'s preview host answers at `now` (Unix seconds): it is live, or its preview
  // link is open. Versions stored but never given a link, or whose link expired, do not.
  [[nodiscard]] bool previewOpen(std::string_view version, std::int64_t now) const;

  // Whether a pin on the site's own hosts may choose `version`: the live one, or one the live
  // pointer records as having been live. A version never published is for preview hosts only.
  [[nodiscard]] bool hasBeenLive(std::string_view version) const;
};

// What the edge knows, at one moment: host → site → live version → manifest. Immutable: a change
// builds a new table, and requests keep the table they started with.
class RoutingTable {
 public:
  // What a site contributes to a table.
  struct SiteInput {
    std::string version;
    std::shared_ptr<const VersionIndex> index;
    std::string since;      // the live pointer's RFC 3339 time
    SiteSettings settings;  // from site/<site>; hosts are normalized here
    // The live pointer's `retired`, with its `previous` in front when the list lacks it (a
    // pointer written before pointers kept the list). Shared: every change rebuilds the table.
    std::shared_ptr<const std::vector<RetiredVersion>> retired;
    std::shared_ptr<const PreviewLinks> previews;  // shared too
    std::shared_ptr<const AliasRoutes> aliases;    // and so are these
  };

  // Every site answers at "<site>.<preview_domain>" and at its settings' hosts. When two sites
  // claim one host, the site whose name sorts first keeps it (and the other is logged).
  RoutingTable(const std::map<std::string, SiteInput>& sites, std::string_view preview_domain);
  RoutingTable(const RoutingTable&) = delete;
  RoutingTable& operator=(const RoutingTable&) = delete;

  // The site a normalized host reaches, or nullptr.
  [[nodiscard]] const SiteRoute* findHost(std::string_view host) const;
  // A site by name, or nullptr.
  [[nodiscard]] const SiteRoute* findSite(std::string_view site) const;

 private:
  std::map<std::string, SiteRoute, std::less<>> sites_;  // nodes never move: hosts_ points into it
  StringMap<const SiteRoute*> hosts_;
};

}  // namespace cutover::edge
