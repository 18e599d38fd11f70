#include "cutover/pointer/aliases.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <tuple>

#include "cutover/common/hash.h"
#include "cutover/common/names.h"
#include "cutover/pointer/pointer_store.h"

namespace cutover {
namespace {

constexpr std::size_t kLabelMax = 63;
constexpr std::size_t kHashSuffix = 7;  // "-" and 6 hex digits

// The longest alias that fits "<alias>--<site>" in one DNS label (at least 8 characters, so a
// hashed name always fits; a site name that leaves less makes the host too long to resolve,
// which the preview host of any version shares).
std::size_t roomFor(std::string_view site) {
  std::size_t used = site.size() + 2;
  return used + 8 <= kLabelMax ? kLabelMax - used : 8;
}

std::string slug(std::string_view branch) {
  std::string out;
  out.reserve(branch.size());
  for (char c : branch) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (plain) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != '-') {
      out.push_back('-');
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

bool looksLikePullRequest(std::string_view name) {
  if (!name.starts_with("pr-") || name.size() == 3) return false;
  return name.substr(3).find_first_not_of("0123456789") == std::string_view::npos;
}

std::string withHash(std::string base, std::string_view branch, std::size_t room) {
  std::string hash = sha256Hex(branch).substr(0, 6);
  if (base.size() + kHashSuffix > room) base.resize(room - kHashSuffix);
  while (!base.empty() && base.back() == '-') base.pop_back();
  return base.empty() ? "b-" + hash : base + "-" + hash;
}

std::string rfc3339Seconds(std::int64_t unix_seconds) {
  std::time_t secs = unix_seconds;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

}  // namespace

std::string aliasKey(std::string_view site, std::string_view name) {
  return fmt::format("{}{}/{}", kAliasPrefix, site, name);
}

std::string aliasForBranch(std::string_view branch, std::string_view site) {
  std::string name = slug(branch);
  std::size_t room = roomFor(site);
  if (name.empty() || name.size() > room || looksLikePullRequest(name)) {
    return withHash(std::move(name), branch, room);
  }
  return name;
}

std::string hashedAliasForBranch(std::string_view branch, std::string_view site) {
  return withHash(slug(branch), branch, roomFor(site));
}

std::string pullRequestAlias(std::uint64_t number) { return fmt::format("pr-{}", number); }

std::string AliasPointer::toJson() const {
  auto j = nlohmann::json::parse(pointer.toJson());
  j["branch"] = branch;
  if (pr != 0) j["pr"] = pr;
  j["until"] = until;
  if (!commit.empty()) j["commit"] = commit;
  return j.dump();
}

Result<AliasPointer> AliasPointer::fromJson(std::string_view json) {
  auto pointer = LivePointer::fromJson(json);
  if (!pointer) return fail(Errc::invalid_argument, "alias is not valid JSON with a version");
  auto j = nlohmann::json::parse(json, nullptr, false);
  AliasPointer a;
  a.pointer = std::move(*pointer);
  a.pointer.lock.reset();  // aliases are never locked
  if (auto it = j.find("branch"); it != j.end() && it->is_string()) a.branch = *it;
  if (auto it = j.find("pr"); it != j.end() && it->is_number_unsigned()) a.pr = *it;
  if (auto it = j.find("commit"); it != j.end() && it->is_string()) a.commit = *it;
  auto until = j.find("until");
  if (until == j.end() || !until->is_number_integer()) {
    return fail(Errc::invalid_argument, "alias has no expiry time");
  }
  a.until = until->get<std::int64_t>();
  return a;
}

Result<std::optional<AliasPointer>> readAlias(PointerStore& pointers, std::string_view site,
                                              std::string_view name) {
  auto raw = pointers.get(aliasKey(site, name));
  if (!raw) return tl::unexpected(raw.error());
  if (!*raw) return std::optional<AliasPointer>{};
  auto parsed = AliasPointer::fromJson(**raw);
  if (!parsed) return tl::unexpected(parsed.error());
  return std::optional<AliasPointer>{std::move(*parsed)};
}

Result<std::string> previewVersion(PointerStore& pointers, std::string_view site,
                                   std::string_view name) {
  auto alias = readAlias(pointers, site, name);
  if (!alias) return tl::unexpected(alias.error());
  if (*alias) return (*alias)->pointer.version;
  if (!validateVersionId(name)) {
    return fail(Errc::invalid_argument,
                fmt::format("'{}' is neither a preview alias of {} (see `cutover previews {}`) "
                            "nor a version id",
                            name, site, site));
  }
  return std::string(name);
}

Result<std::pair<std::string, AliasPointer>> flipAlias(PointerStore& pointers,
                                                       const AliasTarget& target,
                                                       const std::string& version,
                                                       const std::string& by, std::int64_t now) {
  if (auto ok = validateSiteName(target.site); !ok) return tl::unexpected(ok.error());
  if (auto ok = validateVersionId(version); !ok) return tl::unexpected(ok.error());
  std::string since = rfc3339Seconds(now);
  bool hashed = false;
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::string name = target.pr != 0 ? pullRequestAlias(target.pr)
                       : hashed       ? hashedAliasForBranch(target.branch, target.site)
                                      : aliasForBranch(target.branch, target.site);
    auto key = aliasKey(target.site, name);
    auto raw = pointers.get(key);
    if (!raw) return tl::unexpected(raw.error());
    AliasPointer next;
    if (*raw) {
      auto current = AliasPointer::fromJson(**raw);
      // Another branch holds the plain name (two branches that differ only in case or
      // punctuation): this one takes its hashed name. A pull request's alias is its own.
      bool same =
          current && (target.pr != 0 ? current->pr == target.pr
                                     : current->pr == 0 && current->branch == target.branch);
      if (current && !same && target.pr == 0) {
        if (hashed) {
          return fail(Errc::already_exists,
                      fmt::format("the preview aliases {} and {} of site {} are both taken by "
                                  "other branches",
                                  aliasForBranch(target.branch, target.site), name, target.site));
        }
        hashed = true;
        continue;
      }
      if (same) {
        next.pointer = current->pointer.next(version, since, by, now);
      }
    }
    if (next.pointer.version.empty()) next.pointer = LivePointer{version, "", since, by};
    next.branch = target.branch;
    next.pr = target.pr;
    next.commit = target.commit;
    next.until = now + target.seconds;
    auto set = pointers.compareAndSet(key, *raw, next.toJson());
    if (set) return std::pair{std::move(name), std::move(next)};
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  return fail(Errc::conflict, fmt::format("the preview alias of {} kept changing; try again",
                                          target.pr != 0 ? pullRequestAlias(target.pr)
                                                         : "branch " + target.branch));
}

Result<AliasPointer> removeAlias(PointerStore& pointers, std::string_view site,
                                 std::string_view name) {
  auto key = aliasKey(site, name);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto raw = pointers.get(key);
    if (!raw) return tl::unexpected(raw.error());
    if (!*raw) {
      return fail(Errc::not_found, fmt::format("site {} has no preview alias {}", site, name));
    }
    auto set = pointers.compareAndSet(key, *raw, std::nullopt);
    if (set) {
      auto parsed = AliasPointer::fromJson(**raw);
      if (!parsed) return AliasPointer{};
      // Its versions' own preview links close too, so gc may collect them (unless live, or
      // named by another alias). Best effort: a link left open only delays that.
      std::int64_t now = std::time(nullptr);
      (void)setPreviewLink(pointers, site, parsed->pointer.version, 0, now);
      for (const auto& r : parsed->pointer.retired) {
        (void)setPreviewLink(pointers, site, r.version, 0, now);
      }
      return *parsed;
    }
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  return fail(Errc::conflict,
              fmt::format("the preview alias {} of {} kept changing; try again", name, site));
}

}  // namespace cutover

namespace cutover {

Result<std::vector<std::pair<std::string, AliasPointer>>> listAliases(PointerStore& pointers,
                                                                      std::string_view site) {
  std::string prefix = aliasKey(site, "");
  auto raw = pointers.list(prefix);
  if (!raw) return tl::unexpected(raw.error());
  std::vector<std::pair<std::string, AliasPointer>> out;
  for (const auto& [key, value] : *raw) {
    auto parsed = AliasPointer::fromJson(value);
    if (parsed) out.emplace_back(key.substr(prefix.size()), std::move(*parsed));
  }
  return out;
}

nlohmann::json previewJson(std::string_view site, std::string_view name, const AliasPointer& alias,
                           std::int64_t now) {
  return {{"alias", name},
          {"host", fmt::format("{}--{}", name, site)},
          {"version", alias.pointer.version},
          {"branch", alias.branch},
          {"pr", alias.pr},
          {"commit", alias.commit},
          {"since", alias.pointer.since},
          {"until", rfc3339Seconds(alias.until)},
          {"open", alias.until > now}};
}

Result<std::vector<std::string>> trimAliases(PointerStore& pointers, std::string_view site,
                                             std::size_t max, std::string_view keep) {
  auto aliases = listAliases(pointers, site);
  if (!aliases) return tl::unexpected(aliases.error());
  std::vector<std::string> removed;
  if (aliases->size() <= max) return removed;
  // Least recently moved first ("since" is RFC 3339 UTC: it sorts as text).
  std::sort(aliases->begin(), aliases->end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.pointer.since, a.first) < std::tie(b.second.pointer.since, b.first);
  });
  std::size_t excess = aliases->size() - max;
  for (const auto& [name, alias] : *aliases) {
    if (removed.size() == excess) break;
    if (name == keep) continue;
    auto gone = removeAlias(pointers, site, name);
    if (!gone && gone.error().code != Errc::not_found) return tl::unexpected(gone.error());
    removed.push_back(name);
  }
  return removed;
}

}  // namespace cutover
