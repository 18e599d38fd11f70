#pragma once

#include <cstdint>
#include <string>

#include "cutover/common/result.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pipeline/deploy_record.h"

namespace cutover {

class History;

// Owns one deploy's record while the deploy runs, whichever way it came in: the stages it enters,
// what its report says, and its outcome, each saved to the history as it happens. Without a
// history (a deploy recorded by no one) the record is kept but saved nowhere.
class Recorder {
 public:
  Recorder(DeployRecord& record, History* history) : record_(record), history_(history) {}

  [[nodiscard]] DeployRecord& record() { return record_; }
  // Inserts the record (status running) and gives it its id; without a history only the id.
  [[nodiscard]] Result<void> begin();
  // The deploy entered `mark` at `at_ms`.
  void mark(Mark mark, std::int64_t at_ms = nowUnixMs());
  // Adds a stage's timing.
  void time(Stage stage, double ms);
  // The one place a deploy's report fills its record: the version, whether it went live, the
  // counts and the stages' timings (after those already recorded).
  void take(const DeployReport& report);
  // Ends the deploy without building: not an error, a decision, recorded with its reason.
  void ignore(std::string reason);
  // Ends the deploy (save() records it): succeeded, or failed with `error`'s message. A record
  // with a timeline (a queued deploy) gains the mark "finished".
  void finish(const Error* error);
  template <typename T>
  void finish(const Result<T>& outcome) {
    finish(outcome ? nullptr : &outcome.error());
  }
  // Saves the record as it is.
  [[nodiscard]] Result<void> save();
  // As save(); the deploy goes on without its record rather than fail for it, and says so.
  void saveOrLog();

 private:
  void end(DeployStatus status, const std::string* error);

  DeployRecord& record_;
  History* history_;
};

}  // namespace cutover
