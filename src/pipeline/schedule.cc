#include "cutover/pipeline/schedule.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace cutover {

std::string scheduleKey(std::string_view site) {
  return std::string(kSchedulePrefix) + std::string(site);
}

std::string ScheduledFlip::toJson() const {
  return nlohmann::json{{"version", version}, {"at", at}, {"by", by}, {"lock", lock}}.dump();
}

Result<ScheduledFlip> ScheduledFlip::fromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  auto version = j.is_object() ? j.find("version") : j.end();
  auto at = j.is_object() ? j.find("at") : j.end();
  if (!j.is_object() || version == j.end() || !version->is_string() || at == j.end() ||
      !at->is_number_integer()) {
    return fail(Errc::invalid_argument, "a scheduled flip is not JSON with a version and a time");
  }
  ScheduledFlip f;
  f.version = version->get<std::string>();
  f.at = at->get<std::int64_t>();
  if (auto by = j.find("by"); by != j.end() && by->is_string()) f.by = *by;
  if (auto lock = j.find("lock"); lock != j.end() && lock->is_boolean()) f.lock = *lock;
  return f;
}

Result<std::optional<ScheduledFlip>> scheduleFlip(ObjectStore& objects, PointerStore& pointers,
                                                  const std::string& site,
                                                  const ScheduledFlip& flip) {
  if (auto ok = requireVersion(objects, site, flip.version); !ok) {
    return tl::unexpected(ok.error());
  }
  if (flip.at > std::time(nullptr) + std::int64_t{366} * 24 * 3600) {
    return fail(Errc::invalid_argument, "a flip can be scheduled at most a year ahead");
  }
  auto key = scheduleKey(site);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto raw = pointers.get(key);
    if (!raw) return tl::unexpected(raw.error());
    auto set = pointers.compareAndSet(key, *raw, flip.toJson());
    if (set) {
      std::optional<ScheduledFlip> before;
      if (*raw) {
        if (auto parsed = ScheduledFlip::fromJson(**raw)) before = std::move(*parsed);
      }
      return before;
    }
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  return fail(Errc::conflict, "the schedule of " + site + " kept changing; try again");
}

Result<std::optional<ScheduledFlip>> cancelSchedule(PointerStore& pointers,
                                                    const std::string& site) {
  auto key = scheduleKey(site);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto raw = pointers.get(key);
    if (!raw) return tl::unexpected(raw.error());
    if (!*raw) return std::optional<ScheduledFlip>{};
    auto set = pointers.compareAndSet(key, *raw, std::nullopt);
    if (set) {
      auto parsed = ScheduledFlip::fromJson(**raw);
      return parsed ? std::optional<ScheduledFlip>(*parsed) : std::optional<ScheduledFlip>{};
    }
    if (set.error().code != Errc::conflict) return tl::unexpected(set.error());
  }
  return fail(Errc::conflict, "the schedule of " + site + " kept changing; try again");
}

Result<std::vector<std::pair<std::string, ScheduledFlip>>> listSchedules(PointerStore& pointers) {
  auto raw = pointers.list(std::string(kSchedulePrefix));
  if (!raw) return tl::unexpected(raw.error());
  std::vector<std::pair<std::string, ScheduledFlip>> out;
  for (const auto& [key, value] : *raw) {
    if (auto parsed = ScheduledFlip::fromJson(value)) {
      out.emplace_back(key.substr(kSchedulePrefix.size()), std::move(*parsed));
    }
  }
  return out;
}

std::vector<DueFlip> runDueFlips(ObjectStore& objects, PointerStore& pointers, std::int64_t now) {
  std::vector<DueFlip> done;
  auto raw = pointers.list(std::string(kSchedulePrefix));
  if (!raw) return done;
  for (const auto& [key, value] : *raw) {
    auto flip = ScheduledFlip::fromJson(value);
    if (!flip || flip->at > now) continue;
    // Whoever removes the record performs the flip: once, whichever process sees it first.
    if (!pointers.compareAndSet(key, value, std::nullopt)) continue;
    std::string site = key.substr(kSchedulePrefix.size());
    std::optional<DeployLock> lock;
    if (flip->lock) lock = lockForFlip("scheduled activation of " + flip->version, flip->by);
    auto result = activateVersion(objects, pointers, site, flip->version, std::move(lock));
    done.push_back({std::move(site), std::move(*flip), std::move(result)});
  }
  return done;
}

}  // namespace cutover
