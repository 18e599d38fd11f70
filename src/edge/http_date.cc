#include "edge/http_date.h"

#include <cstring>

namespace cutover::edge {
namespace {

// strptime with the C locale's English names; the whole of `text` must be consumed.
std::optional<std::time_t> parseWith(const std::string& text, const char* format) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), format, &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
}

}  // namespace

std::string formatHttpDate(std::time_t t) {
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[40];
  std::size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return {text, n};
}

std::optional<std::time_t> parseHttpDate(std::string_view text) {
  if (text.size() > 64) return std::nullopt;
  std::string s(text);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  if (auto t = parseWith(s, "%a, %d %b %Y %H:%M:%S GMT")) return t;  // IMF-fixdate
  if (auto t = parseWith(s, "%A, %d-%b-%y %H:%M:%S GMT")) return t;  // RFC 850
  if (auto t = parseWith(s, "%a %b %e %H:%M:%S %Y")) return t;       // asctime
  return std::nullopt;
}

std::optional<std::time_t> parseRfc3339(std::string_view text) {
  if (text.size() < 20 || text.size() > 40) return std::nullopt;
  std::string s(text.substr(0, 19));  // "YYYY-MM-DDTHH:MM:SS"; fractions and the zone follow
  if (text.back() != 'Z') return std::nullopt;
  return parseWith(s, "%Y-%m-%dT%H:%M:%S");
}

}  // namespace cutover::edge
