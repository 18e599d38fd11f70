#include "pipeline/recorder.h"

#include "common/log.h"
#include "cutover/store/manifest.h"
#include "runs/history.h"

namespace cutover {

Result<void> Recorder::begin() {
  if (history_ != nullptr) return history_->begin(record_);
  if (record_.id.empty()) record_.id = newDeployId();
  return {};
}

void Recorder::mark(Mark mark, std::int64_t at_ms) {
  record_.stage = std::string(toString(mark));
  record_.timeline.push_back({record_.stage, at_ms});
  saveOrLog();
}

void Recorder::time(Stage stage, double ms) {
  record_.stages.push_back({std::string(toString(stage)), ms});
}

void Recorder::take(const DeployReport& report) {
  record_.version = report.version;
  record_.activated = report.activated;
  record_.locked = report.locked.has_value();
  record_.files = report.files;
  record_.new_files = report.new_files;
  record_.reused_files = report.reused_files;
  record_.bytes = report.bytes;
  record_.new_bytes = report.new_bytes;
  record_.stages.insert(record_.stages.end(), report.stages.begin(), report.stages.end());
}

void Recorder::end(DeployStatus status, const std::string* error) {
  record_.status = std::string(toString(status));
  if (error != nullptr) record_.error = *error;
  record_.stage.clear();
  record_.finished = nowRfc3339();
  if (!record_.timeline.empty()) {
    record_.timeline.push_back({std::string(toString(Mark::finished)), nowUnixMs()});
  }
}

void Recorder::ignore(std::string reason) {
  end(DeployStatus::ignored, &reason);
  saveOrLog();
}

void Recorder::finish(const Error* error) {
  end(error ? DeployStatus::failed : DeployStatus::succeeded, error ? &error->message : nullptr);
}

Result<void> Recorder::save() {
  if (history_ == nullptr) return {};
  return history_->update(record_);
}

void Recorder::saveOrLog() {
  if (auto saved = save(); !saved) {
    log::error("cutover: recording deploy {}: {}", record_.id, saved.error().message);
  }
}

}  // namespace cutover
