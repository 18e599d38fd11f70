#include "cutover/pointer/records.h"

#include <nlohmann/json.hpp>

#include "cutover/pointer/pointer_store.h"

namespace cutover {

std::string liveKey(std::string_view site) { return std::string(kLivePrefix) + std::string(site); }
std::string siteKey(std::string_view site) { return std::string(kSitePrefix) + std::string(site); }

std::string LivePointer::toJson() const {
  nlohmann::json j{
      {"version", version}, {"previous", previous}, {"since", since}, {"deploy", deploy}};
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
  return p;
}

std::string SiteSettings::toJson() const {
  nlohmann::json j{{"hosts", hosts}, {"spa", spa}, {"max_age", max_age}};
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

}  // namespace cutover
