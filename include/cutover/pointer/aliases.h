#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pointer/records.h"

namespace cutover {

class PointerStore;

// Preview aliases: a stable host per branch and per pull request, whose pointer flips to the
// newest build of that branch or pull request the same way a site's live pointer does.
//   alias/<site>/<name>  → AliasPointer (JSON)
// <name> is a DNS label without "--" (aliasForBranch, pullRequestAlias), so the alias answers at
// <name>--<site>.<preview domain>. An alias answers until `until` (Unix seconds); every build of
// its branch moves that on, and gc removes the record once it has passed, or once its pull
// request is closed.
inline constexpr std::string_view kAliasPrefix = "alias/";
// How long an alias answers after its last build, unless the site says otherwise.
inline constexpr std::int64_t kDefaultAliasSeconds = 30 * 24 * 3600;

[[nodiscard]] std::string aliasKey(std::string_view site, std::string_view name);

// The alias a branch deploys to: lowercased, every run of characters other than a-z and 0-9
// made one '-', no '-' at either end ("Feature/Login_Page" → "feature-login-page"). A name
// that comes out empty, too long to fit in one DNS label beside "--<site>", or shaped like a
// pull request's alias ("pr-<digits>"), ends in '-' and 6 hex digits of the branch's SHA-256
// instead, so it stays a valid label and distinct. Deterministic: a branch always gets the same
// name, whatever other branches exist; see flipAlias for two branches that come out the same.
[[nodiscard]] std::string aliasForBranch(std::string_view branch, std::string_view site);
// The same with the hash suffix always added: where a branch goes when its plain name is held
// by another branch.
[[nodiscard]] std::string hashedAliasForBranch(std::string_view branch, std::string_view site);

// "pr-<number>".
[[nodiscard]] std::string pullRequestAlias(std::uint64_t number);

struct AliasPointer {
  LivePointer pointer;     // version, previous, since, deploy and retired, as for a site
  std::string branch;      // the branch it follows (a pull request's head branch)
  std::uint64_t pr = 0;    // the pull request's number; 0 for a branch alias
  std::int64_t until = 0;  // Unix seconds: the alias answers until then
  std::string commit;      // the commit of its version, when built from git

  [[nodiscard]] std::string toJson() const;
  [[nodiscard]] static Result<AliasPointer> fromJson(std::string_view json);
};

// What a flip of an alias says about where it comes from and how long it lives.
struct AliasTarget {
  std::string site;
  std::string branch;
  std::uint64_t pr = 0;  // a pull request's alias, "pr-<pr>"; 0: the branch's alias
  std::string commit;
  std::int64_t seconds = kDefaultAliasSeconds;  // it answers this long after the flip
};

// Points the alias of `target` (the pull request's, else the branch's) at `version` by
// compare-and-set, from a fresh read if another writer got in between (up to 10 times, then
// conflict). A branch whose plain name another branch holds gets its hashed name
// (hashedAliasForBranch): the first to arrive keeps the plain one. `by` names the flip (a deploy
// id, "promote"). Returns the alias name and the pointer written.
[[nodiscard]] Result<std::pair<std::string, AliasPointer>> flipAlias(PointerStore& pointers,
                                                                     const AliasTarget& target,
                                                                     const std::string& version,
                                                                     const std::string& by,
                                                                     std::int64_t now);

// Removes an alias (a pull request closed or merged, a branch deleted, `cutover previews
// remove`): its host stops answering on every edge, and the preview links of the versions it
// named close, so they become collectable. not_found if there is none. Returns what it was.
[[nodiscard]] Result<AliasPointer> removeAlias(PointerStore& pointers, std::string_view site,
                                               std::string_view name);

// Every alias of `site`, by name (records that cannot be read are left out).
[[nodiscard]] Result<std::vector<std::pair<std::string, AliasPointer>>> listAliases(
    PointerStore& pointers, std::string_view site);

// Keeps at most `max` aliases of `site`: removes the least recently moved beyond that, never
// `keep` (the one just moved). Returns the names removed.
[[nodiscard]] Result<std::vector<std::string>> trimAliases(PointerStore& pointers,
                                                           std::string_view site, std::size_t max,
                                                           std::string_view keep);

// What `cutover previews --json` and GET /api/sites/SITE/previews say about one alias.
[[nodiscard]] nlohmann::json previewJson(std::string_view site, std::string_view name,
                                         const AliasPointer& alias, std::int64_t now);

// What `cutover promote` and the API's promote make live: the version the alias `name` of
// `site` names now, else `name` itself taken as a version id (invalid_argument if it is not one).
[[nodiscard]] Result<std::string> previewVersion(PointerStore& pointers, std::string_view site,
                                                 std::string_view name);

// The alias `name` of `site`, if it exists (invalid_argument if its record is unreadable).
[[nodiscard]] Result<std::optional<AliasPointer>> readAlias(PointerStore& pointers,
                                                            std::string_view site,
                                                            std::string_view name);

}  // namespace cutover
