#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/store/object_store.h"

namespace cutover {

// A scheduled activation: schedule/<site> → ScheduledFlip (JSON), one per site. Every running
// `cutover serve` or `cutover pipeline` looks for due ones (SchedulePoller), and the one that
// takes the record (a compare-and-set delete) flips the pointer, so it happens once however many
// run. gc keeps a scheduled version.
inline constexpr std::string_view kSchedulePrefix = "schedule/";

struct ScheduledFlip {
  std::string version;
  std::int64_t at = 0;  // Unix seconds
  std::string by;       // who scheduled it: "user NAME", "token ID"
  bool lock = false;    // lock the site's deploys in the same flip

  [[nodiscard]] std::string toJson() const;
  [[nodiscard]] static Result<ScheduledFlip> fromJson(std::string_view json);
};

[[nodiscard]] std::string scheduleKey(std::string_view site);

// Schedules `flip` for `site` (replacing one scheduled before, which is returned); the version
// must be stored. invalid_argument for a time more than a year ahead.
[[nodiscard]] Result<std::optional<ScheduledFlip>> scheduleFlip(ObjectStore& objects,
                                                                PointerStore& pointers,
                                                                const std::string& site,
                                                                const ScheduledFlip& flip);

// Cancels the site's scheduled flip; returns it (nullopt if there was none).
[[nodiscard]] Result<std::optional<ScheduledFlip>> cancelSchedule(PointerStore& pointers,
                                                                  const std::string& site);

// Every scheduled flip, by site.
[[nodiscard]] Result<std::vector<std::pair<std::string, ScheduledFlip>>> listSchedules(
    PointerStore& pointers);

// One scheduled flip that was due, and how it went.
struct DueFlip {
  std::string site;
  ScheduledFlip flip;
  Result<Flip> result;
};

// Takes every flip due at `now` (whose record this process removed first) and activates it.
[[nodiscard]] std::vector<DueFlip> runDueFlips(ObjectStore& objects, PointerStore& pointers,
                                               std::int64_t now);

}  // namespace cutover
