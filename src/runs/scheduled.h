#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "cutover/pipeline/deploy.h"

namespace cutover {

// Performs scheduled activations (`cutover schedule`, cutover/pipeline/schedule.h): a thread that
// every kPoll flips whatever is due, under the shared store lock (so gc cannot take the version
// between its record going and the flip), and records each flip in the history. Run by every
// `cutover serve` and `cutover pipeline`; the record goes to whichever takes it first.
class ScheduledActivations {
 public:
  static constexpr auto kPoll = std::chrono::milliseconds(200);

  // `context` (its objects, pointers and lock file; its history if set) must outlive this.
  explicit ScheduledActivations(const PipelineContext& context);
  ~ScheduledActivations();
  ScheduledActivations(const ScheduledActivations&) = delete;
  ScheduledActivations& operator=(const ScheduledActivations&) = delete;

 private:
  void run(std::stop_token stop);
  void flipDue();

  PipelineContext context_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::jthread thread_;
};

}  // namespace cutover
