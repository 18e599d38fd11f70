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
  std::string_view pinned;
  anyCookie(cookie_field, kPinCookie, [&](std::string_view value) {
    auto dot = value.rfind('.');
    if (dot == std::string_view::npos) return false;
    std::string_view version = value.substr(0, dot);
    std::string_view issued_text = value.substr(dot + 1);
    std::int64_t issued = 0;
    auto [end, ec] =
        std::from_chars(issued_text.data(), issued_text.data() + issued_text.size(), issued);
    if (ec != std::errc() || end != issued_text.data() + issued_text.size()) return false;
    // Compared without subtracting `issued`, which may be any 64-bit value: no overflow.
    std::int64_t at = now;
    if (issued > at + 60 || issued < at - static_cast<std::int64_t>(window_seconds)) return false;
    if (!validateVersionId(version)) return false;
    pinned = version;
    return true;
  });
  return pinned;
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
