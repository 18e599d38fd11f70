#include "cutover/common/site_path.h"

#include <fmt/format.h>

#include "cutover/common/utf8.h"

namespace cutover {

std::string printablePath(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  while (!raw.empty()) {
    std::size_t n = utf8CharacterLength(raw);
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
  if (!isValidUtf8(raw)) {
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
