#include "cutover/store/manifest.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cutover/common/hash.h"
#include "cutover/common/names.h"
#include "cutover/common/site_path.h"

namespace cutover {

std::uint64_t Manifest::totalBytes() const {
  std::uint64_t total = 0;
  for (const auto& [path, entry] : files) total += entry.size;
  return total;
}

std::string Manifest::toJson() const {
  nlohmann::json out_files = nlohmann::json::object();
  for (const auto& [path, entry] : files) {
    out_files[path] = {{"hash", entry.hash}, {"size", entry.size}, {"type", entry.media_type}};
  }
  nlohmann::json j{{"format", 1},          {"site", site},     {"version", version},
                   {"created", created},   {"source", source}, {"files", std::move(out_files)}};
  return j.dump();
}

Result<Manifest> Manifest::fromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  auto bad = [](std::string why) { return fail(Errc::invalid_argument, "manifest: " + why); };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (j.value("format", 0) != 1) return bad("unknown format");
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
      FileEntry e{entry.at("hash").get<std::string>(), entry.at("size").get<std::uint64_t>(),
                  entry.at("type").get<std::string>()};
      if (!isBlobHash(e.hash)) return bad(fmt::format("bad hash for '{}'", path));
      m.files.emplace(path, std::move(e));
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

}  // namespace cutover
