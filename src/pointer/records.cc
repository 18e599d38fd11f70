#include "cutover/pointer/records.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "cutover/pointer/access.h"
#include "cutover/pointer/pointer_store.h"

namespace cutover {

std::string liveKey(std::string_view site) { return std::string(kLivePrefix) + std::string(site); }
std::string siteKey(std::string_view site) { return std::string(kSitePrefix) + std::string(site); }

std::string goneKey(std::string_view site, std::string_view version) {
  return std::string(kGonePrefix) + std::string(site) + "/" + std::string(version);
}

std::string previewKey(std::string_view site, std::string_view version) {
  return std::string(kPreviewPrefix) + std::string(site) + "/" + std::string(version);
}

std::optional<std::pair<std::string_view, std::string_view>> siteAndVersion(std::string_view rest) {
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return std::pair{rest.substr(0, slash), rest.substr(slash + 1)};
}

std::optional<std::int64_t> parseUnixSeconds(std::string_view value) {
  std::int64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return seconds;
}

Result<void> setPreviewLink(PointerStore& pointers, std::string_view site, std::string_view version,
                            std::int64_t until, std::int64_t now) {
  auto key = previewKey(site, version);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto raw = pointers.get(key);
    if (!raw) return tl::unexpected(raw.error());
    std::optional<std::string> value;
    if (until > now) value = std::to_string(until);
    if (*raw == value) return {};
    auto set = pointers.compareAndSet(key, *raw, value);
    if (set || set.error().code != Errc::conflict) return set;
  }
  return fail(Errc::conflict, "the preview link of " + std::string(site) + " " +
                                  std::string(version) + " kept changing; try again");
}

LivePointer LivePointer::next(std::string new_version, std::string since_rfc3339, std::string by,
                              std::int64_t now) const {
  LivePointer n{std::move(new_version), version, std::move(since_rfc3339), std::move(by), {}, lock};
  if (!version.empty() && version != n.version) n.retired.push_back({version, now});
  for (const auto& r : retired) {
    if (n.retired.size() >= kRetiredKept) break;
    if (r.version == n.version || r.version == version) continue;  // live again, or just retired
    if (now - r.until > kRetiredMaxAgeSeconds) continue;
    n.retired.push_back(r);
  }
  return n;
}

std::vector<std::string> versionsLiveWithin(const LivePointer& live, std::int64_t now,
                                            std::int64_t window_seconds) {
  std::vector<std::string> out{live.version};
  for (const auto& r : live.retired) {
    if (r.version != live.version && liveWithin(r, now, window_seconds)) out.push_back(r.version);
  }
  return out;
}

std::string LivePointer::toJson() const {
  nlohmann::json j{
      {"version", version}, {"previous", previous}, {"since", since}, {"deploy", deploy}};
  if (!retired.empty()) {
    auto& list = j["retired"] = nlohmann::json::array();
    for (const auto& r : retired) list.push_back({{"version", r.version}, {"until", r.until}});
  }
  if (lock) j["lock"] = {{"reason", lock->reason}, {"by", lock->by}, {"since", lock->since}};
  return j.dump();
}

Result<LivePointer> LivePointer::fromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version") || !j["version"].is_string()) {
    return fail(Errc::invalid_argument, "live pointer is not valid JSON with a version");
  }
  LivePointer p;
  p.version = j["version"].get<std::string>();
  p.previous = j.value("previous", "");
  p.since = j.value("since", "");
  p.deploy = j.value("deploy", "");
  if (auto it = j.find("retired"); it != j.end() && it->is_array()) {
    for (const auto& r : *it) {
      if (!r.is_object()) continue;
      auto v = r.find("version");
      auto until = r.find("until");
      if (v == r.end() || !v->is_string() || until == r.end() || !until->is_number_integer()) {
        continue;
      }
      p.retired.push_back({v->get<std::string>(), until->get<std::int64_t>()});
    }
  }
  if (auto it = j.find("lock"); it != j.end() && it->is_object()) {
    auto text = [&](const char* key) {
      auto f = it->find(key);
      return f != it->end() && f->is_string() ? f->get<std::string>() : std::string();
    };
    p.lock = DeployLock{text("reason"), text("by"), text("since")};
  }
  return p;
}

std::string Lease::toJson() const {
  return nlohmann::json{{"id", id},
                        {"host", host},
                        {"what", what},
                        {"site", site},
                        {"version", version},
                        {"started_ms", started_ms},
                        {"refreshed_ms", refreshed_ms},
                        {"ttl_ms", ttl_ms}}
      .dump();
}

Result<Lease> Lease::fromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(Errc::invalid_argument, "lease is not JSON");
  auto text = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto number = [&](const char* key) -> std::int64_t {
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  Lease l{text("id"),      text("host"),         text("what"),           text("site"),
          text("version"), number("started_ms"), number("refreshed_ms"), number("ttl_ms")};
  if (l.id.empty() || l.started_ms <= 0 || l.ttl_ms <= 0) {
    return fail(Errc::invalid_argument, "lease lacks an id, a start or a ttl");
  }
  return l;
}

std::string_view toString(Protection p) {
  switch (p) {
    case Protection::previews:
      return "previews";
    case Protection::all:
      return "all";
    case Protection::none:
      break;
  }
  return "none";
}

std::optional<Protection> parseProtection(std::string_view text) {
  for (auto p : {Protection::none, Protection::previews, Protection::all}) {
    if (toString(p) == text) return p;
  }
  return std::nullopt;
}

void SiteSettings::setProtection(Protection p, bool rotate) {
  protect = p;
  if (access_key.empty() || rotate) access_key = newAccessKey();
}

std::string SiteSettings::toJson() const {
  nlohmann::json j{{"hosts", hosts}, {"spa", spa}, {"max_age", max_age}};
  if (protect != Protection::none) j["protect"] = toString(protect);
  if (!access_key.empty()) j["access_key"] = access_key;
  return j.dump();
}

Result<SiteSettings> SiteSettings::fromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::invalid_argument, "site settings are not a JSON object");
  }
  SiteSettings s;
  if (j.contains("hosts") && j["hosts"].is_array()) {
    for (const auto& h : j["hosts"]) {
      if (h.is_string()) s.hosts.push_back(h.get<std::string>());
    }
  }
  if (j.contains("spa") && j["spa"].is_boolean()) s.spa = j["spa"].get<bool>();
  if (j.contains("max_age") && j["max_age"].is_number_unsigned()) {
    s.max_age = j["max_age"].get<std::uint32_t>();
  }
  if (auto it = j.find("access_key"); it != j.end() && it->is_string()) s.access_key = *it;
  if (auto it = j.find("protect"); it != j.end()) {
    // Unreadable protection protects everything rather than nothing.
    auto p = it->is_string() ? parseProtection(it->get<std::string>()) : std::nullopt;
    s.protect = p.value_or(Protection::all);
  }
  return s;
}

Result<SiteSettings> updateSiteSettings(PointerStore& pointers, std::string_view site,
                                        const std::function<Result<void>(SiteSettings&)>& edit) {
  auto key = siteKey(site);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto raw = pointers.get(key);
    if (!raw) return tl::unexpected(raw.error());
    SiteSettings settings;
    if (*raw) {
      auto parsed = SiteSettings::fromJson(**raw);
      if (!parsed) return tl::unexpected(parsed.error());
      settings = std::move(*parsed);
    }
    if (auto edited = edit(settings); !edited) return tl::unexpected(edited.error());
    auto json = settings.toJson();
    if (*raw && **raw == json) return settings;  // nothing to change: no write, no watch event
    auto set = pointers.compareAndSet(key, *raw, json);
    if (set) return settings;
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  return fail(Errc::conflict,
              "site settings of " + std::string(site) + " kept changing; try again");
}

Result<LivePointer> setDeployLock(PointerStore& pointers, std::string_view site,
                                  std::optional<DeployLock> lock) {
  auto key = liveKey(site);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto raw = pointers.get(key);
    if (!raw) return tl::unexpected(raw.error());
    if (!*raw) {
      return fail(Errc::not_found, "site " + std::string(site) +
                                       " has no live version, so there is no deploy to " +
                                       (lock ? "lock" : "unlock"));
    }
    auto pointer = LivePointer::fromJson(**raw);
    if (!pointer) return tl::unexpected(pointer.error());
    if (!lock && !pointer->lock) return *pointer;  // not locked: nothing to write
    pointer->lock = lock;
    auto set = pointers.compareAndSet(key, *raw, pointer->toJson());
    if (set) return *pointer;
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  return fail(Errc::conflict,
              "the live pointer of " + std::string(site) + " kept changing; try again");
}

}  // namespace cutover
