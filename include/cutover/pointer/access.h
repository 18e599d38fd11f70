#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cutover {

// Protected previews (and protected sites): who may see them, by signatures under the site's
// access key (SiteSettings::access_key, a random secret every edge reads from the site's
// settings). Each signature is an HMAC-SHA256 over what it opens, so one cannot open another:
//   share link  ?cutover_share=<until>.<sig>   opens one host label ("feature-x--docs", or the
//                                              site's name for its own hosts) until <until>
//   cookie      cutover_access=<until>.<sig>   what a share link leaves in the browser: the
//                                              same label, host-only, until the same time
//   bypass      X-Cutover-Bypass: <sig>        every protected host of the site (automation)
// <until> is Unix seconds. Rotating the key (`cutover site set SITE --rotate-key`) voids them all.
inline constexpr std::string_view kAccessCookie = "cutover_access";
inline constexpr std::string_view kShareQuery = "cutover_share";
inline constexpr std::string_view kBypassHeader = "x-cutover-bypass";

enum class AccessKind { share, cookie };

// "<until>.<hex HMAC>" for `label`, signed with `key` (hex).
[[nodiscard]] std::string signAccess(std::string_view key, AccessKind kind, std::string_view label,
                                     std::int64_t until);

// Whether `token` is one signAccess made for `label` with `key`, still valid at `now`; the time
// it runs out if so. Compared in constant time; anything malformed is simply not valid.
[[nodiscard]] std::optional<std::int64_t> checkAccess(std::string_view key, AccessKind kind,
                                                      std::string_view label,
                                                      std::string_view token, std::int64_t now);

// The bypass secret of `site`: the X-Cutover-Bypass value that opens all its protected hosts.
[[nodiscard]] std::string bypassSecret(std::string_view key, std::string_view site);
[[nodiscard]] bool checkBypass(std::string_view key, std::string_view site, std::string_view given);

// A fresh access key (32 random bytes, hex).
[[nodiscard]] std::string newAccessKey();

}  // namespace cutover
