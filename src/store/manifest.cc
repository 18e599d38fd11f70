#include "cutover/store/manifest.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "cutover/common/hash.h"
#include "cutover/common/names.h"
#include "cutover/common/site_path.h"
#include "cutover/rules/parse.h"

namespace cutover {
namespace {

// Members read as integers must be integers in range: nlohmann's get<> would cast a float or a
// negative number, and casting an out-of-range float is undefined. Throws (as at() does) the
// type_error fromJson reports.
template <class Int>
Int integerAt(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  bool fits = false;
  if (v.is_number_unsigned()) {
    fits = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<Int>::max());
  } else if constexpr (std::is_signed_v<Int>) {
    fits = v.is_number_integer() && v.get<std::int64_t>() >= std::numeric_limits<Int>::min();
  }
  if (!fits) {
    throw nlohmann::json::type_error::create(
        302,
        fmt::format("'{}' must be an integer from {} to {}", key, std::numeric_limits<Int>::min(),
                    std::numeric_limits<Int>::max()),
        &v);
  }
  return v.get<Int>();
}

// integerAt for a member that may be absent.
template <class Int>
Int integerOr(const nlohmann::json& j, const char* key, Int fallback) {
  return j.contains(key) ? integerAt<Int>(j, key) : fallback;
}

nlohmann::json rulesToJson(const SiteRules& rules) {
  nlohmann::json redirects = nlohmann::json::array();
  for (const auto& r : rules.redirects) {
    redirects.push_back({{"from", r.from},
                         {"to", r.to},
                         {"status", r.status},
                         {"force", r.force},
                         {"line", r.line}});
  }
  nlohmann::json headers = nlohmann::json::array();
  for (const auto& h : rules.headers) {
    nlohmann::json set = nlohmann::json::array();
    for (const auto& [name, value] : h.set) set.push_back({name, value});
    headers.push_back(
        {{"pattern", h.pattern}, {"set", std::move(set)}, {"remove", h.remove}, {"line", h.line}});
  }
  return {{"redirects", std::move(redirects)}, {"headers", std::move(headers)}};
}

// Throws nlohmann::json::exception on a wrong shape; the caller reports it.
Result<SiteRules> rulesFromJson(const nlohmann::json& j) {
  SiteRules rules;
  for (const auto& r : j.at("redirects")) {
    rules.redirects.push_back(RedirectRule{
        r.at("from").get<std::string>(), r.at("to").get<std::string>(), integerAt<int>(r, "status"),
        r.at("force").get<bool>(), integerOr<int>(r, "line", 0)});
    // A manifest names only rules its deploy validated; checking again keeps a damaged or
    // hand-made one from giving the edge a rule it cannot follow.
    if (auto ok = validateRedirectRule(rules.redirects.back()); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  for (const auto& h : j.at("headers")) {
    HeaderRule rule{h.at("pattern").get<std::string>(), {}, {}, integerOr<int>(h, "line", 0)};
    for (const auto& pair : h.at("set")) {
      rule.set.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
    }
    rule.remove = h.at("remove").get<std::vector<std::string>>();
    if (auto ok = validateHeaderRule(rule); !ok) return tl::unexpected(ok.error());
    rules.headers.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace

std::uint64_t Manifest::totalBytes() const {
  std::uint64_t total = 0;
  for (const auto& [path, entry] : files) total += entry.size;
  return total;
}

std::string Manifest::toJson() const {
  nlohmann::json out_files = nlohmann::json::object();
  for (const auto& [path, entry] : files) {
    nlohmann::json e{{"hash", entry.hash}, {"size", entry.size}, {"type", entry.media_type}};
    if (entry.br.present()) e["br"] = {{"hash", entry.br.hash}, {"size", entry.br.size}};
    if (entry.gzip.present()) e["gzip"] = {{"hash", entry.gzip.hash}, {"size", entry.gzip.size}};
    out_files[path] = std::move(e);
  }
  nlohmann::json j{{"format", 1},        {"site", site},     {"version", version},
                   {"created", created}, {"source", source}, {"files", std::move(out_files)}};
  if (!rules.empty()) j["rules"] = rulesToJson(rules);
  if (!short_cache.empty()) j["short_cache"] = short_cache;
  return j.dump();
}

Result<Manifest> Manifest::fromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  auto bad = [](std::string why) { return fail(Errc::invalid_argument, "manifest: " + why); };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto format = j.find("format");
  if (format == j.end() || !format->is_number_integer() || *format != 1) {
    return bad("unknown format");
  }
  Manifest m;
  try {
    m.site = j.at("site").get<std::string>();
    m.version = j.at("version").get<std::string>();
    m.created = j.at("created").get<std::string>();
    m.source = j.value("source", "");
    if (auto ok = validateSiteName(m.site); !ok) return bad(ok.error().message);
    if (auto ok = validateVersionId(m.version); !ok) return bad(ok.error().message);
    for (const auto& [path, entry] : j.at("files").items()) {
      auto normal = normalizeSitePath(path);
      if (!normal || *normal != path) return bad(fmt::format("bad path '{}'", path));
      FileEntry e{entry.at("hash").get<std::string>(),
                  integerAt<std::uint64_t>(entry, "size"),
                  entry.at("type").get<std::string>(),
                  {},
                  {}};
      if (!isBlobHash(e.hash)) return bad(fmt::format("bad hash for '{}'", path));
      for (auto [name, encoded] : {std::pair{"br", &e.br}, std::pair{"gzip", &e.gzip}}) {
        if (!entry.contains(name)) continue;
        *encoded = Encoded{entry[name].at("hash").get<std::string>(),
                           integerAt<std::uint64_t>(entry[name], "size")};
        if (!isBlobHash(encoded->hash)) {
          return bad(fmt::format("bad {} hash for '{}'", name, path));
        }
      }
      m.files.emplace(path, std::move(e));
    }
    if (j.contains("rules")) {
      auto rules = rulesFromJson(j["rules"]);
      if (!rules) return bad(rules.error().message);
      m.rules = std::move(*rules);
    }
    if (j.contains("short_cache")) {
      if (!j["short_cache"].is_array()) return bad("short_cache is not a list");
      for (const auto& path : j["short_cache"]) {
        auto text = path.get<std::string>();
        auto normal = normalizeSitePath(text);
        if (!normal || *normal != text) return bad(fmt::format("bad short_cache path '{}'", text));
        m.short_cache.insert(std::move(text));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
  return m;
}

std::string nowRfc3339() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = ms / 1000;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms % 1000);
}

std::string rfc3339(std::int64_t unix_seconds) {
  std::time_t secs = unix_seconds;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

}  // namespace cutover
