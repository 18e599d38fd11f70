#include "runs/scheduled.h"

#include <algorithm>
#include <ctime>
#include <utility>

#include "common/log.h"
#include "cutover/common/guard.h"
#include "cutover/pipeline/schedule.h"
#include "pipeline/store_lock.h"
#include "runs/history.h"

namespace cutover {

ScheduledActivations::ScheduledActivations(const PipelineContext& context) : context_(context) {
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

ScheduledActivations::~ScheduledActivations() {
  thread_.request_stop();
  {
    std::lock_guard lock(mutex_);
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ScheduledActivations::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    (void)guarded("scheduled activations", [&] { flipDue(); });
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, kPoll, [&] { return stop.stop_requested(); });
  }
}

void ScheduledActivations::flipDue() {
  auto schedules = listSchedules(*context_.pointers);
  std::int64_t now = std::time(nullptr);
  if (!schedules || std::none_of(schedules->begin(), schedules->end(),
                                 [&](const auto& s) { return s.second.at <= now; })) {
    return;
  }
  auto lock =
      StoreLock::acquire(context_.lock_file, StoreLock::Mode::shared,
                         FleetRequest{context_.pointers, "scheduled activation", "", "", nullptr});
  if (!lock) {
    log::error("cutover: scheduled activations wait: {}", lock.error().message);
    return;
  }
  for (auto& due : runDueFlips(*context_.objects, *context_.pointers, now)) {
    if (!due.result) {
      log::error("cutover: the scheduled activation of {} {} failed: {}", due.site,
                 due.flip.version, due.result.error().message);
      continue;
    }
    log::info("cutover: scheduled activation: {} is live on {}", due.flip.version, due.site);
    if (context_.history == nullptr) continue;
    const LivePointer& p = due.result->pointer;
    if (auto r =
            context_.history->recordFlip(due.site, "schedule", p.previous, p.version, due.flip.by);
        !r) {
      log::error("cutover: recording the scheduled activation of {}: {}", due.site,
                 r.error().message);
    }
  }
}

}  // namespace cutover
