#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"

namespace cutover {

// The keys cutover keeps in a PointerStore, and the values under them.
//   live/<site>            → LivePointer (JSON): which version of the site is served, and which
//                            versions were live before it, until when
//   site/<site>            → SiteSettings (JSON): the site's host names and settings
//   gone/<site>/<version>  → Unix seconds: the version was deleted (gc, `versions delete`); edges
//                            forget it at once. gc removes these records after kGoneKeptSeconds.
//   preview/<site>/<version> → Unix seconds: until when the version's preview link
//                            (<version>--<site>.<preview domain>) answers. Written when a deploy
//                            commits a version and by `cutover versions preview`; gc keeps the
//                            version until then and removes the record after.
//   lease/deploy/<id>      → Lease (JSON): a deploy or activation running somewhere in the fleet
//   lease/gc/<id>          → Lease (JSON): a gc running somewhere in the fleet
inline constexpr std::string_view kLivePrefix = "live/";
inline constexpr std::string_view kSitePrefix = "site/";
inline constexpr std::string_view kGonePrefix = "gone/";
inline constexpr std::string_view kPreviewPrefix = "preview/";
inline constexpr std::string_view kDeployLeasePrefix = "lease/deploy/";
inline constexpr std::string_view kGcLeasePrefix = "lease/gc/";
inline constexpr std::int64_t kGoneKeptSeconds = 7 * 24 * 3600;
// How long a preview link answers unless told otherwise (as long as a hosted preview channel).
inline constexpr std::int64_t kDefaultPreviewSeconds = 7 * 24 * 3600;
inline constexpr std::int64_t kMaxPreviewSeconds = 366 * 24 * 3600;  // the longest one issued

[[nodiscard]] std::string liveKey(std::string_view site);
[[nodiscard]] std::string siteKey(std::string_view site);
[[nodiscard]] std::string goneKey(std::string_view site, std::string_view version);
[[nodiscard]] std::string previewKey(std::string_view site, std::string_view version);

// Splits "<site>/<version>", the rest of a gone/ or preview/ key; nullopt if it has no '/'.
[[nodiscard]] std::optional<std::pair<std::string_view, std::string_view>> siteAndVersion(
    std::string_view rest);

// The Unix seconds a gone/ or preview/ record holds; nullopt if it holds something else.
[[nodiscard]] std::optional<std::int64_t> parseUnixSeconds(std::string_view value);

// A version that stopped being live, and when (Unix seconds).
struct RetiredVersion {
  std::string version;
  std::int64_t until = 0;

  friend bool operator==(const RetiredVersion&, const RetiredVersion&) = default;
};

// Whether `retired` was live less than `window_seconds` before `now` (Unix seconds): the one test
// of "recently live", for gc and for the edge.
[[nodiscard]] inline bool liveWithin(const RetiredVersion& retired, std::int64_t now,
                                     std::int64_t window_seconds) {
  return retired.until > now - window_seconds;  // never overflows, whatever `until` holds
}

// A deploy lock on a site: deploys and builds still store their versions, but none flips the
// live pointer until `cutover unlock`. Set by `cutover lock`, and by an activation or rollback
// (unless --no-lock), so the next push does not undo it.
struct DeployLock {
  std::string reason;  // why, as the user gave it or as the flip that locked it says
  std::string by;      // who: "user NAME", "token ID", or the command
  std::string since;   // RFC 3339

  // "REASON (BY)", as deploy answers and reports show it.
  [[nodiscard]] std::string describe() const { return reason + " (" + by + ")"; }

  friend bool operator==(const DeployLock&, const DeployLock&) = default;
};

struct LivePointer {
  std::string version;   // the live version id
  std::string previous;  // the version live before it ("" if none): what rollback returns to
  std::string since;     // RFC 3339 time of the flip
  std::string
      deploy;  // the deploy or command that flipped it ("rollback", "activate", a deploy id)
  // The versions live before this one, most recently retired first, each once; written by every
  // flip in the same compare-and-set, so it holds across machines and crashes. Bounded: at most
  // kRetiredKept entries, none older than kRetiredMaxAgeSeconds.
  std::vector<RetiredVersion> retired;
  // Set while the site is locked; kept across flips until `cutover unlock`.
  std::optional<DeployLock> lock;

  static constexpr std::size_t kRetiredKept = 100;
  static constexpr std::int64_t kRetiredMaxAgeSeconds = 30 * 24 * 3600;

  // The pointer that makes `version` live after this one (the flip's new value): `previous` is
  // this one's version, `retired` gains this version, retired `now`, and a lock stays.
  [[nodiscard]] LivePointer next(std::string new_version, std::string since_rfc3339, std::string by,
                                 std::int64_t now) const;

  [[nodiscard]] std::string toJson() const;
  [[nodiscard]] static Result<LivePointer> fromJson(std::string_view json);
};

// The versions of a site that a page load may still use at `now` (Unix seconds): the live one,
// then every version that stopped being live less than `window_seconds` ago, most recently live
// first. This is what gc keeps and where the edge may look for a file an open tab asks for.
[[nodiscard]] std::vector<std::string> versionsLiveWithin(const LivePointer& live, std::int64_t now,
                                                          std::int64_t window_seconds);

// A running deploy (or activation) or gc, advertised in the pointer store so that every machine
// sharing the stores sees it. Times are Unix milliseconds by the holder's clock.
struct Lease {
  std::string id;
  std::string host;     // where it runs (host name, pid)
  std::string what;     // "deploy docs", "activate docs v2", "gc"
  std::string site;     // the site it works on ("" for gc)
  std::string version;  // the version it needs kept (an activation's target), or ""
  std::int64_t started_ms = 0;
  std::int64_t refreshed_ms = 0;
  std::int64_t ttl_ms = 0;  // dead once not refreshed for this long

  [[nodiscard]] std::string toJson() const;
  [[nodiscard]] static Result<Lease> fromJson(std::string_view json);
};

// Who may see a site's hosts (cutover/pointer/access.h): everyone; only holders of a share link,
// its cookie or the bypass secret on preview hosts (versions and aliases); or on every host of
// the site, its own too (a staging site).
enum class Protection { none, previews, all };
[[nodiscard]] std::string_view toString(Protection p);
[[nodiscard]] std::optional<Protection> parseProtection(std::string_view text);

struct SiteSettings {
  std::vector<std::string> hosts;  // extra host names (normalized), besides <site>.localhost
  // Single-page app: a path that matches no file and has no extension serves /index.html (200).
  bool spa = false;
  // max-age, in seconds, for files that are neither HTML nor named by their content hash.
  std::uint32_t max_age = kDefaultMaxAge;
  Protection protect = Protection::none;
  // The secret that signs the site's share links, access cookies and bypass secret (hex); made
  // when protection is first turned on, and kept (turning it off and on again keeps old links).
  std::string access_key;

  static constexpr std::uint32_t kDefaultMaxAge = 60;

  // Sets `protect`, making an access key if there is none yet (or a new one, when `rotate`).
  void setProtection(Protection p, bool rotate = false);

  [[nodiscard]] std::string toJson() const;
  [[nodiscard]] static Result<SiteSettings> fromJson(std::string_view json);
};

class PointerStore;

// Issues (or renews, or shortens) the preview link of a stored version: it answers until `until`
// (Unix seconds). until <= now revokes it (the record goes).
[[nodiscard]] Result<void> setPreviewLink(PointerStore& pointers, std::string_view site,
                                          std::string_view version, std::int64_t until,
                                          std::int64_t now);

// Locks the site's deploys (`lock` set) or unlocks them (nullopt), by compare-and-set on its live
// pointer, from a fresh read if another writer got in between (up to 10 times, then conflict).
// not_found if the site has no live version. Returns the pointer written.
[[nodiscard]] Result<LivePointer> setDeployLock(PointerStore& pointers, std::string_view site,
                                                std::optional<DeployLock> lock);

// Reads the site's settings (defaults if none), lets `edit` change them, and writes them back
// with compare-and-set, again from a fresh read if another writer got in between (up to 10
// times, then conflict). Returns the settings written.
[[nodiscard]] Result<SiteSettings> updateSiteSettings(
    PointerStore& pointers, std::string_view site,
    const std::function<Result<void>(SiteSettings&)>& edit);

}  // namespace cutover
