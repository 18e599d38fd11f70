#include "cutover/common/content_hash_name.h"

#include <array>

namespace cutover {
namespace {

constexpr std::size_t kMinHash = 8;
constexpr std::size_t kMaxHash = 64;
constexpr std::size_t kRollupHash = 8;  // Vite/Rollup's and esbuild's default hash length

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isLetter(char c) { return isLower(c) || isUpper(c); }
bool isHashChar(char c) { return isDigit(c) || isLetter(c) || c == '-' || c == '_'; }

bool allOf(std::string_view s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

// Letters as people write them: "settings", "SemiBoldItalic", "HTMLParser", "iPhone", "UTF". A
// lowercase run of one letter after the first run ("DRjBlKSy": j, l, y) is what random letters
// produce and words rarely do.
bool readsLikeWords(std::string_view letters) {
  if (letters.size() <= 2) return true;
  std::size_t i = 0;
  bool first = true;
  while (i < letters.size()) {
    std::size_t start = i;
    bool lower = isLower(letters[i]);
    while (i < letters.size() && isLower(letters[i]) == lower) ++i;
    if (lower && !first && i - start < 2) return false;
    first = false;
  }
  return true;
}

// A piece between '-' and '_' that a person could have written: a number ("2026", "1920x1080"),
// a word or words, perhaps with a trailing number ("ES2015", "v2", "utf8").
bool isHumanPiece(std::string_view piece) {
  if (allOf(piece, isDigit)) return true;
  if (auto x = piece.find('x'); x != std::string_view::npos && x > 0 && x + 1 < piece.size() &&
                                allOf(piece.substr(0, x), isDigit) &&
                                allOf(piece.substr(x + 1), isDigit)) {
    return true;
  }
  std::size_t letters = 0;
  while (letters < piece.size() && isLetter(piece[letters])) ++letters;
  if (!allOf(piece.substr(letters), isDigit)) return false;  // "Bc7iC", "3f9a1c2e"
  return readsLikeWords(piece.substr(0, letters));
}

bool looksLikeHash(std::string_view candidate) {
  if (candidate.size() < kMinHash || candidate.size() > kMaxHash) return false;
  if (!allOf(candidate, isHashChar)) return false;
  while (true) {
    auto sep = candidate.find_first_of("-_");
    if (!isHumanPiece(candidate.substr(0, sep))) return true;
    if (sep == std::string_view::npos) return false;
    candidate.remove_prefix(sep + 1);
  }
}

// esbuild hashes: base32 with the alphabet A-Z, 2-7.
bool isBase32(std::string_view s) {
  for (char c : s) {
    if (!isUpper(c) && !(c >= '2' && c <= '7')) return false;
  }
  return true;
}

// "<name>-<8 characters>" at the end of `part`: Vite, Rollup, esbuild and Angular CLI.
bool hasDashTailHash(std::string_view part) {
  if (part.size() < kRollupHash + 2 || part[part.size() - kRollupHash - 1] != '-') return false;
  std::string_view name = part.substr(0, part.size() - kRollupHash - 1);
  std::string_view tail = part.substr(part.size() - kRollupHash);
  if (isBase32(tail)) {
    if (name == "chunk") return true;  // esbuild's chunk names
    for (char c : tail) {
      if (isDigit(c)) return true;
    }
  }
  return looksLikeHash(tail);
}

// Under a folder that a framework fills with content-addressed files only.
bool inImmutableFolder(std::string_view path) {
  constexpr std::array<std::string_view, 3> kFolders = {"_next/static/", "_app/immutable/",
                                                        "_astro/"};
  for (std::string_view folder : kFolders) {
    for (auto at = path.find(folder); at != std::string_view::npos;
         at = path.find(folder, at + 1)) {
      if (at == 0 || path[at - 1] == '/') return true;
    }
  }
  return false;
}

}  // namespace

bool hasContentHashName(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') + 1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;  // no extension: not an asset name
  if (inImmutableFolder(path)) return true;
  std::string_view stem = name.substr(0, dot);
  // Each '.'-separated part: whole after the first ("index.DmpsH3y-.css"), by its dash tail
  // ("index-DqTC_HVI"), or by its '-'-separated pieces ("main-3f9a1c2e4d5b6a7c8d9e").
  std::size_t start = 0;
  for (bool first = true;; first = false) {
    auto next = stem.find('.', start);
    std::string_view part =
        stem.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start);
    if (!first && looksLikeHash(part)) return true;
    if (hasDashTailHash(part)) return true;
    for (auto dash = part.find('-'); dash != std::string_view::npos;) {
      auto end = part.find('-', dash + 1);
      std::string_view piece = part.substr(
          dash + 1, end == std::string_view::npos ? std::string_view::npos : end - dash - 1);
      if (looksLikeHash(piece)) return true;
      dash = end;
    }
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  return false;
}

}  // namespace cutover
