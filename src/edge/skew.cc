#include "edge/skew.h"

#include <charconv>

#include "cutover/common/ascii.h"
#include "cutover/common/names.h"

namespace cutover::edge {
namespace {

void appendNumber(std::string& out, std::int64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), n);
  out.append(digits, end);
}

}  // namespace

void formatPinCookie(std::string& out, std::string_view version, std::time_t now,
                     std::uint32_t window_seconds) {
  out.append(kPinCookie);
  out.push_back('=');
  out.append(version);
  out.push_back('.');
  appendNumber(out, now);
  out.append("; Path=/; Max-Age=");
  appendNumber(out, window_seconds);
  out.append("; HttpOnly; SameSite=Lax");
}

std::string_view pinnedByCookie(std::string_view cookie_field, std::time_t now,
                                std::uint32_t window_seconds) {
  // "a=1; cutover_pin=v.123; b=2": several Cookie fields arrive joined with "; ".
  while (!cookie_field.empty()) {
    auto semi = cookie_field.find(';');
    std::string_view pair = trimBlanks(cookie_field.substr(0, semi));
    cookie_field =
        semi == std::string_view::npos ? std::string_view{} : cookie_field.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != kPinCookie) continue;
    std::string_view value = pair.substr(eq + 1);
    auto dot = value.rfind('.');
    if (dot == std::string_view::npos) return {};
    std::string_view version = value.substr(0, dot);
    std::string_view issued_text = value.substr(dot + 1);
    std::int64_t issued = 0;
    auto [end, ec] =
        std::from_chars(issued_text.data(), issued_text.data() + issued_text.size(), issued);
    if (ec != std::errc() || end != issued_text.data() + issued_text.size()) return {};
    // Compared without subtracting `issued`, which may be any 64-bit value: no overflow.
    std::int64_t at = now;
    if (issued > at + 60 || issued < at - static_cast<std::int64_t>(window_seconds)) return {};
    if (!validateVersionId(version)) return {};
    return version;
  }
  return {};
}

std::string_view pinnedByQuery(std::string_view query) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.size() > kPinQuery.size() && pair.starts_with(kPinQuery) &&
        pair[kPinQuery.size()] == '=') {
      return pair.substr(kPinQuery.size() + 1);
    }
  }
  return {};
}

bool isNavigation(std::string_view sec_fetch_mode, std::string_view accept) {
  if (!sec_fetch_mode.empty()) return sec_fetch_mode == "navigate";
  return accept.find("text/html") != std::string_view::npos;
}

}  // namespace cutover::edge
