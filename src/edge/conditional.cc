#include "edge/conditional.h"

namespace cutover::edge {

bool ifNoneMatchMatches(std::string_view field, std::string_view etag) {
  std::size_t i = 0;
  while (i < field.size()) {
    char c = field[i];
    if (c == ' ' || c == '\t' || c == ',') {
      ++i;
      continue;
    }
    if (c == '*') return true;
    if (field.substr(i, 2) == "W/") i += 2;
    if (i < field.size() && field[i] == '"') {
      std::size_t close = field.find('"', i + 1);
      if (close == std::string_view::npos) return false;
      if (field.substr(i, close - i + 1) == etag) return true;
      i = close + 1;
      continue;
    }
    // Not an entity-tag: skip to the next member.
    std::size_t comma = field.find(',', i);
    if (comma == std::string_view::npos) return false;
    i = comma + 1;
  }
  return false;
}

}  // namespace cutover::edge
