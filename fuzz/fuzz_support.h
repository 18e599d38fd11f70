#pragma once

// What the fuzz targets share: turning libFuzzer's bytes into text, and checks that stop the run
// (abort, so libFuzzer saves the input) when a property the code promises does not hold.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace cutover::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Aborts with `what` unless `ok`: a broken promise is a finding like a crash.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property failed: %s\n", what);
    std::abort();
  }
}

// Whether `part` lies inside `whole` (a view the code promised to return into its input).
inline bool within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// Whether `s` is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF): what JSON
// output needs.
inline bool validUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t more = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      more = 1, cp = c & 0x1fU;
    } else if (c >= 0xe0 && c <= 0xef) {
      more = 2, cp = c & 0x0fU;
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3, cp = c & 0x07U;
    } else {
      return false;
    }
    if (s.size() - i <= more) return false;
    for (std::size_t k = 1; k <= more; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0U) != 0x80U) return false;
      cp = (cp << 6) | (d & 0x3fU);
    }
    if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (more == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
      return false;
    }
    i += more + 1;
  }
  return true;
}

}  // namespace cutover::fuzz
