#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules/pattern.h"

namespace cutover::rules {

// Hashes std::string and std::string_view alike, so lookups by view allocate nothing.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

// Narrows a rule list to the rules that may match a path, keeping file order, so that 10,000
// rules cost a few hash lookups per request instead of 10,000 comparisons:
//   - patterns of literal segments only, by the path they name ("/old/page");
//   - other patterns that start with literal segments, by those segments ("/blog/2024/:slug" →
//     "/blog/2024"), up to kMaxIndexDepth of them; a path probes each of its own prefixes;
//   - the rest ("/*", "/:lang/docs"), which every path must try.
class PatternIndex {
 public:
  static constexpr std::size_t kMaxIndexDepth = 8;

  // Adds rule `id`; ids must be added in increasing order.
  void add(std::uint32_t id, const Pattern& pattern);

  // Calls fn(id) for every rule that may match `path`, in increasing id order, until fn returns
  // true. Allocates nothing.
  template <class Fn>
  void forEachCandidate(std::string_view path, Fn&& fn) const;

 private:
  using Ids = std::vector<std::uint32_t>;
  using Buckets = std::unordered_map<std::string, Ids, StringHash, std::equal_to<>>;

  Buckets exact_;
  Buckets prefix_;
  std::uint32_t prefix_depths_ = 0;  // bit d set: some pattern is keyed by d leading segments
  Ids everywhere_;
};

inline void PatternIndex::add(std::uint32_t id, const Pattern& pattern) {
  if (pattern.exact()) {
    exact_[exactKey(pattern)].push_back(id);
    return;
  }
  std::string key;
  std::size_t depth = 0;
  for (const auto& segment : pattern.segments) {
    if (segment.placeholder || depth == kMaxIndexDepth) break;
    key.push_back('/');
    key.append(segment.text);
    ++depth;
  }
  if (depth == 0) {
    everywhere_.push_back(id);
    return;
  }
  prefix_[key].push_back(id);
  prefix_depths_ |= 1U << depth;
}

template <class Fn>
void PatternIndex::forEachCandidate(std::string_view path, Fn&& fn) const {
  constexpr std::size_t kLists = kMaxIndexDepth + 2;
  const Ids* lists[kLists];
  std::size_t count = 0;
  auto probe = [&](const Buckets& buckets, std::string_view key) {
    auto it = buckets.find(key);
    if (it != buckets.end()) lists[count++] = &it->second;
  };
  if (!exact_.empty()) probe(exact_, exactKey(path));
  if (!everywhere_.empty()) lists[count++] = &everywhere_;
  // "/blog/2024/x" probes "/blog", "/blog/2024" and "/blog/2024/x", as far as any key reaches.
  std::size_t end = 0;
  for (std::size_t depth = 1; depth <= kMaxIndexDepth && (prefix_depths_ >> depth) != 0; ++depth) {
    if (end >= path.size()) break;
    end = std::min(path.find('/', end + 1), path.size());
    if ((prefix_depths_ & (1U << depth)) != 0) probe(prefix_, path.substr(0, end));
  }
  // A merge of ascending lists: the first match in file order wins.
  std::size_t at[kLists] = {};
  while (true) {
    std::size_t next = kLists;
    for (std::size_t i = 0; i < count; ++i) {
      if (at[i] < lists[i]->size() &&
          (next == kLists || (*lists[i])[at[i]] < (*lists[next])[at[next]])) {
        next = i;
      }
    }
    if (next == kLists) return;
    if (fn((*lists[next])[at[next]++])) return;
  }
}

}  // namespace cutover::rules
