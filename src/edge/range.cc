#include "edge/range.h"

#include <charconv>

#include "cutover/common/ascii.h"

namespace cutover::edge {
namespace {

// Digits only (no sign, no spaces), not overflowing.
bool parseNumber(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

ByteRange parseRange(std::string_view field, std::uint64_t size) {
  ByteRange whole;
  field = trimBlanks(field);
  constexpr std::string_view kUnit = "bytes=";
  if (!startsWithIgnoreCase(field, kUnit)) return whole;  // another unit: ignored
  std::string_view spec = trimBlanks(field.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return whole;  // several ranges: send it all
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view from = trimBlanks(spec.substr(0, dash));
  std::string_view to = trimBlanks(spec.substr(dash + 1));

  ByteRange range{ByteRange::Kind::partial};
  if (from.empty()) {  // "-n": the last n bytes
    std::uint64_t suffix = 0;
    if (!parseNumber(to, suffix)) return whole;
    if (suffix == 0 || size == 0) return ByteRange{ByteRange::Kind::unsatisfiable};
    range.first = suffix >= size ? 0 : size - suffix;
    range.last = size - 1;
    return range;
  }
  if (!parseNumber(from, range.first)) return whole;
  if (to.empty()) {
    range.last = size == 0 ? 0 : size - 1;
  } else {
    if (!parseNumber(to, range.last) || range.last < range.first) return whole;
    if (range.last >= size) range.last = size == 0 ? 0 : size - 1;
  }
  if (range.first >= size) return ByteRange{ByteRange::Kind::unsatisfiable};
  return range;
}

}  // namespace cutover::edge
