#include "cutover/common/byte_size.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <utility>

namespace cutover {

std::optional<std::uint64_t> parseByteSize(std::string_view text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  std::string_view unit = text.substr(static_cast<std::size_t>(end - text.data()));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 10> kUnits{{
      {"", 1},
      {"B", 1},
      {"kB", 1000},
      {"KiB", 1ULL << 10},
      {"MB", 1000 * 1000},
      {"MiB", 1ULL << 20},
      {"GB", 1000ULL * 1000 * 1000},
      {"GiB", 1ULL << 30},
      {"TB", 1000ULL * 1000 * 1000 * 1000},
      {"TiB", 1ULL << 40},
  }};
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    if (n > UINT64_MAX / factor) return std::nullopt;
    return n * factor;
  }
  return std::nullopt;
}

std::string formatByteSize(std::uint64_t bytes) {
  static constexpr std::array<std::pair<std::string_view, int>, 4> kUnits{
      {{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}}};
  for (const auto& [name, shift] : kUnits) {
    std::uint64_t unit = std::uint64_t{1} << shift;
    if (bytes >= unit && bytes % unit == 0) return fmt::format("{} {}", bytes / unit, name);
  }
  return fmt::format("{} bytes", bytes);
}

}  // namespace cutover
