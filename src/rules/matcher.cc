#include "rules/matcher.h"

#include <algorithm>
#include <unordered_map>

#include "cutover/common/ascii.h"
#include "cutover/rules/parse.h"

namespace cutover::rules {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = toLowerAscii(c);
  }
  return out;
}

}  // namespace

RulesMatcher::RulesMatcher(const SiteRules& rules) {
  for (const auto& rule : rules.redirects) {
    auto from = parsePattern(rule.from);
    if (!from || !isRuleStatus(rule.status)) {
      ++skipped_;
      continue;
    }
    auto to = parseTarget(rule.to, *from, !isRedirectStatus(rule.status));
    if (!to || (to->absolute && !isRedirectStatus(rule.status))) {
      ++skipped_;
      continue;
    }
    redirect_index_.add(static_cast<std::uint32_t>(redirects_.size()), *from);
    any_forced_ = any_forced_ || rule.force;
    redirects_.push_back({std::move(*from), std::move(*to), rule.status, rule.force, rule.line});
  }

  // Header names get small ids (case folded), so combining needs no string map per request.
  std::unordered_map<std::string, std::uint32_t> names;
  auto nameId = [&](std::string_view name) {
    auto [it, added] = names.try_emplace(lowercase(name), header_names_);
    if (added) ++header_names_;
    return it->second;
  };
  for (const auto& rule : rules.headers) {
    auto pattern = parsePattern(rule.pattern);
    if (!pattern) {
      ++skipped_;
      continue;
    }
    HeaderBlock block{std::move(*pattern), {}, {}, 0};
    for (const auto& [name, value] : rule.set) {
      block.set.push_back({nameId(name), name, value});
      block.bytes += name.size() + value.size() + 4;  // "Name: value\r\n"
    }
    header_index_.add(static_cast<std::uint32_t>(headers_.size()), block.pattern);
    headers_.push_back(std::move(block));
  }
  // Removals resolve once every set name has its id: a name nobody sets has nothing to remove.
  std::size_t block = 0;
  for (const auto& rule : rules.headers) {
    if (!parsePattern(rule.pattern)) continue;
    for (const auto& name : rule.remove) {
      auto it = names.find(lowercase(name));
      if (it != names.end()) headers_[block].remove.push_back(it->second);
    }
    ++block;
  }
}

bool RulesMatcher::expand(const Redirect& rule, std::string_view query, RedirectMatch& out,
                          std::size_t& path_end, std::size_t& query_begin,
                          std::size_t& query_end) const {
  bool redirect = isRedirectStatus(rule.status);
  // Checked after each piece: the target never grows past the bound by more than one capture
  // (itself bounded by the request head).
  auto put = [&](const std::vector<TargetPiece>& pieces,
                 void (*encode)(std::string&, std::string_view)) {
    for (const auto& piece : pieces) {
      if (piece.capture < 0) {
        out.target.append(piece.literal);
      } else if (redirect) {
        encode(out.target, out.captures[static_cast<std::size_t>(piece.capture)]);
      } else {
        // A rewrite names a file by its decoded path, which the capture already is.
        out.target.append(out.captures[static_cast<std::size_t>(piece.capture)]);
      }
      if (out.target.size() > kMaxSubstitutedTargetBytes) return false;
    }
    return true;
  };
  out.target.clear();
  if (!put(rule.to.path, appendEncodedPath)) return false;
  if (redirect && !rule.to.absolute) {
    // "//host" or "/\host" in a Location is another host. The rule's own text cannot start so
    // (the parser refuses it), but a capture after its leading '/' can: one slash is kept.
    std::size_t extra = 1;
    while (extra < out.target.size() && (out.target[extra] == '/' || out.target[extra] == '\\')) {
      ++extra;
    }
    out.target.erase(1, extra - 1);
  }
  path_end = query_begin = query_end = out.target.size();
  if (!redirect) return true;
  if (rule.to.has_query) {
    out.target.push_back('?');
    query_begin = out.target.size();
    if (!put(rule.to.query, appendEncodedQuery)) return false;
  } else if (!query.empty()) {
    out.target.push_back('?');
    query_begin = out.target.size();
    out.target.append(query);
  }
  query_end = out.target.size();
  if (rule.to.has_fragment) {
    out.target.push_back('#');
    if (!put(rule.to.fragment, appendEncodedPath)) return false;
  }
  return out.target.size() <= kMaxSubstitutedTargetBytes;
}

bool RulesMatcher::redirect(std::string_view path, std::string_view query, bool file_exists,
                            RedirectMatch& out) const {
  out.status = 0;
  out.force = false;
  out.line = 0;
  out.target.clear();
  if (redirects_.empty() || (file_exists && !any_forced_)) return false;
  redirect_index_.forEachCandidate(path, [&](std::uint32_t id) {
    const Redirect& rule = redirects_[id];
    if (file_exists && !rule.force) return false;
    if (!matchPattern(rule.from, path, &out.captures)) return false;
    std::size_t path_end = 0;
    std::size_t query_begin = 0;
    std::size_t query_end = 0;
    if (!expand(rule, query, out, path_end, query_begin, query_end)) return false;
    if (isRedirectStatus(rule.status) && !rule.to.absolute) {
      // Redirecting a request to itself would loop; the rule does not apply to this path.
      std::string_view target(out.target);
      if (percentDecode(target.substr(0, path_end), out.scratch) && out.scratch == path &&
          target.substr(query_begin, query_end - query_begin) == query) {
        return false;
      }
    }
    out.status = rule.status;
    out.force = rule.force;
    out.line = rule.line;
    return true;
  });
  if (out.status == 0) out.target.clear();
  return out.matched();
}

void RulesMatcher::headers(std::string_view path, HeaderMatch& out) const {
  out.fields.clear();
  if (headers_.empty()) return;
  out.work.clear();
  out.touched.clear();
  out.joined.clear();
  if (out.cut.size() < header_names_) {
    out.cut.resize(header_names_, 0);
    out.slot.resize(header_names_, -1);
    out.count.resize(header_names_, 0);
  }

  std::size_t bytes = 0;
  header_index_.forEachCandidate(path, [&](std::uint32_t id) {
    const HeaderBlock& block = headers_[id];
    if (!matchPattern(block.pattern, path, nullptr)) return false;
    bytes += block.bytes;
    if (bytes > kMaxRuleHeaderBytes) return true;  // this block and later ones do not apply
    for (std::uint32_t name : block.remove) {
      out.cut[name] = static_cast<std::uint32_t>(out.work.size());
      out.touched.push_back(name);
    }
    for (const auto& setter : block.set) {
      out.work.push_back({setter.name_id, setter.name, setter.value});
      out.touched.push_back(setter.name_id);
    }
    return false;  // every matching block applies
  });

  // One field per surviving name, at its first appearance; repeats are joined afterwards.
  std::size_t join_bytes = 0;
  for (std::uint32_t i = 0; i < out.work.size(); ++i) {
    const auto& c = out.work[i];
    if (i < out.cut[c.name_id]) continue;
    if (out.slot[c.name_id] < 0) {
      out.slot[c.name_id] = static_cast<std::int32_t>(out.fields.size());
      out.fields.push_back({c.name, c.value});
    }
    if (++out.count[c.name_id] > 1) out.order.push_back(i);
    join_bytes += c.value.size() + 2;
  }
  if (!out.order.empty()) {
    // Every joined value lives in `joined`; reserving first means the views into it never move.
    out.joined.reserve(join_bytes);
    out.order.clear();
    for (std::uint32_t i = 0; i < out.work.size(); ++i) {
      const auto& c = out.work[i];
      if (i >= out.cut[c.name_id] && out.count[c.name_id] > 1) out.order.push_back(i);
    }
    // Grouped by field, in file order within each: (slot, index) is unique, so sort is stable.
    std::sort(out.order.begin(), out.order.end(), [&](std::uint32_t a, std::uint32_t b) {
      auto sa = out.slot[out.work[a].name_id];
      auto sb = out.slot[out.work[b].name_id];
      return sa != sb ? sa < sb : a < b;
    });
    std::size_t i = 0;
    while (i < out.order.size()) {
      auto slot = out.slot[out.work[out.order[i]].name_id];
      std::size_t start = out.joined.size();
      for (bool first = true;
           i < out.order.size() && out.slot[out.work[out.order[i]].name_id] == slot;
           ++i, first = false) {
        if (!first) out.joined.append(", ");
        out.joined.append(out.work[out.order[i]].value);
      }
      out.fields[static_cast<std::size_t>(slot)].value =
          std::string_view(out.joined).substr(start, out.joined.size() - start);
    }
    out.order.clear();
  }

  for (std::uint32_t name : out.touched) {
    out.cut[name] = 0;
    out.slot[name] = -1;
    out.count[name] = 0;
  }
}

}  // namespace cutover::rules
