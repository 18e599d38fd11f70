#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "cutover/common/ascii.h"

namespace cutover::edge {

// Skew protection: one page load stays on one version. An HTML document sets a cookie naming its
// version and when it was served; the page's later requests (scripts, styles, fetches) carry it
// and are served from that version while it is stored and the cookie is inside its window.
inline constexpr std::string_view kPinCookie = "cutover_pin";
inline constexpr std::string_view kPinHeader = "x-cutover-pin";
inline constexpr std::string_view kPinQuery = "dpl";

// "cutover_pin=<version>.<unix seconds>; Path=/; Max-Age=<window>; HttpOnly; SameSite=Lax".
void formatPinCookie(std::string& out, std::string_view version, std::time_t now,
                     std::uint32_t window_seconds);

// The version a Cookie field pins, if it carries our cookie, well-formed, issued no more than
// `window_seconds` ago (and not in the future beyond a minute of clock skew); else empty.
[[nodiscard]] std::string_view pinnedByCookie(std::string_view cookie_field, std::time_t now,
                                              std::uint32_t window_seconds);

// Whether any `name=value` pair of a Cookie field ("a=1; b=2": several fields arrive joined with
// "; ") has a value that satisfies `ok` (several may share a name).
template <class Ok>
bool anyCookie(std::string_view cookie_field, std::string_view name, Ok ok) {
  while (!cookie_field.empty()) {
    auto semi = cookie_field.find(';');
    std::string_view pair = trimBlanks(cookie_field.substr(0, semi));
    cookie_field =
        semi == std::string_view::npos ? std::string_view{} : cookie_field.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name && ok(pair.substr(eq + 1))) {
      return true;
    }
  }
  return false;
}

// The value of `dpl` in a raw query string ("a=1&dpl=v&b"), or empty.
[[nodiscard]] std::string_view pinnedByQuery(std::string_view query);

// Whether a request is a top-level navigation (which always gets the live version): by
// Sec-Fetch-Mode when the browser sends it, else by an Accept that asks for HTML.
[[nodiscard]] bool isNavigation(std::string_view sec_fetch_mode, std::string_view accept);

}  // namespace cutover::edge
