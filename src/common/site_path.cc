#include "cutover/common/site_path.h"

#include <fmt/format.h>

namespace cutover {
namespace {

// The length of the well-formed UTF-8 character at the start of `s`, or 0 if it is not one.
std::size_t utf8CharLength(std::string_view s) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto continuation = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char b = byte(0);
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;  // a continuation byte, or an overlong two-byte form
  if (b < 0xE0) return continuation(1) ? 2 : 0;
  if (b < 0xF0) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (b == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (b == 0xED && byte(1) >= 0xA0) return 0;  // a UTF-16 surrogate
    return 3;
  }
  if (b < 0xF5) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (b == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (b == 0xF4 && byte(1) >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

bool isWellFormedUtf8(std::string_view text) {
  while (!text.empty()) {
    std::size_t n = utf8CharLength(text);
    if (n == 0) return false;
    text.remove_prefix(n);
  }
  return true;
}

std::string printablePath(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  while (!raw.empty()) {
    std::size_t n = utf8CharLength(raw);
    auto b = static_cast<unsigned char>(raw.front());
    if (n == 0 || b < 0x20 || b == 0x7f) {
      out += fmt::format("\\x{:02X}", b);
      n = 1;
    } else {
      out.append(raw.substr(0, n));
    }
    raw.remove_prefix(n);
  }
  return out;
}

Result<std::string> normalizeSitePath(std::string_view raw) {
  auto reject = [&](std::string_view why) {
    return fail(Errc::invalid_argument, fmt::format("path '{}' {}", printablePath(raw), why));
  };
  if (raw.size() > kMaxPathLength) return reject("is longer than 1024 bytes");
  if (!isWellFormedUtf8(raw)) {
    return reject("is not UTF-8 (the bytes shown as \\xNN); rename the file with UTF-8 characters");
  }
  if (!raw.empty() && raw.front() == '/') return reject("is absolute");
  std::string out;
  out.reserve(raw.size());
  std::size_t depth = 0;
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t end = raw.find('/', start);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view segment = raw.substr(start, end - start);
    start = end + 1;
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") return reject("leaves its folder ('..')");
    for (char c : segment) {
      auto u = static_cast<unsigned char>(c);
      if (c == '\\') return reject("contains a backslash");
      if (u < 0x20 || u == 0x7f) return reject("contains a control character");
    }
    if (++depth > kMaxPathDepth) return reject("is nested deeper than 64 folders");
    if (!out.empty()) out += '/';
    out += segment;
  }
  if (out.empty()) return reject("names no file");
  return out;
}

}  // namespace cutover
