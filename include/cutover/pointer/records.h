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
//   live/<site>  → LivePointer (JSON): which version of the site is served
//   site/<site>  → SiteSettings (JSON): the site's host names and settings
inline constexpr std::string_view kLivePrefix = "live/";
inline constexpr std::string_view kSitePrefix = "site/";

[[nodiscard]] std::string liveKey(std::string_view site);
[[nodiscard]] std::string siteKey(std::string_view site);

struct LivePointer {
  std::string version;   // the live version id
  std::string previous;  // the version live before it ("" if none): what rollback returns to
  std::string since;     // RFC 3339 time of the flip
  std::string
      deploy;  // the deploy or command that flipped it ("rollback", "activate", a deploy id)

  [[nodiscard]] std::string toJson() const;
  [[nodiscard]] static Result<LivePointer> fromJson(std::string_view json);
};

struct SiteSettings {
  std::vector<std::string> hosts;  // extra host names (normalized), besides <site>.localhost
  // Single-page app: a path that matches no file and has no extension serves /index.html (200).
  bool spa = false;
  // max-age, in seconds, for files that are neither HTML nor named by their content hash.
  std::uint32_t max_age = kDefaultMaxAge;

  static constexpr std::uint32_t kDefaultMaxAge = 60;

  [[nodiscard]] std::string toJson() const;
  [[nodiscard]] static Result<SiteSettings> fromJson(std::string_view json);
};

class PointerStore;

// Reads the site's settings (defaults if none), lets `edit` change them, and writes them back
// with compare-and-set, again from a fresh read if another writer got in between (up to 10
// times, then conflict). Returns the settings written.
[[nodiscard]] Result<SiteSettings> updateSiteSettings(
    PointerStore& pointers, std::string_view site,
    const std::function<Result<void>(SiteSettings&)>& edit);

}  // namespace cutover
