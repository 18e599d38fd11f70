#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cutover {

struct StageTiming {
  std::string name;  // "read", "store", "commit", "activate"
  double ms = 0;
};

// When a deploy entered one of its stages: "queued", "fetching", "building", "uploading",
// "activating", and "finished" when it ended (whatever the outcome).
struct StageMark {
  std::string name;
  std::int64_t at_ms = 0;  // Unix time in milliseconds
};

// One run of the pipeline, as recorded.
struct DeployRecord {
  std::string id;
  std::string site;
  std::string version;  // empty until a version id is chosen
  std::string source;   // folder path or archive file name
  std::string trigger;  // "cli", "push", "webhook", "poll", "api", "manual"
  // "queued" (waiting for a worker), "running", then one of "succeeded", "failed",
  // "superseded" (a newer request for the site arrived while this one waited), "ignored" (not
  // built, for the reason in `error`: a pushed commit that is no longer its branch's head).
  std::string status;
  bool activated = false;
  std::string started;   // RFC 3339
  std::string finished;  // RFC 3339, empty while running
  std::int64_t pid = 0;  // the process running it
  std::uint64_t files = 0, new_files = 0, reused_files = 0;
  std::uint64_t bytes = 0, new_bytes = 0;
  std::vector<StageTiming> stages;
  std::string error;  // why it failed

  // Pipeline deploys (built from git or uploaded), added by schema version 2; empty for others.
  std::string stage;                // the current StageMark name; "" once finished
  std::vector<StageMark> timeline;  // every stage entered, in order
  std::string branch;               // the branch asked for
  std::string commit;               // the commit asked for (if any), then the one built
  std::string commit_message;       // its subject line
  std::string commit_author;        // "Name <email>"
  std::string archive;              // an uploaded archive deployed instead of a build
  bool remove_archive = false;      // the archive is the pipeline's to delete when done
  std::string log;                  // the deploy's log file

  // Flips recorded by History::recordFlip (trigger "rollback" or "activate"), added by schema
  // version 3: the version live before, and who flipped: "user NAME" or "token ID".
  std::string previous;
  std::string actor;

  [[nodiscard]] bool finishedOutcome() const {
    return status == "succeeded" || status == "failed" || status == "superseded" ||
           status == "ignored";
  }
  // The record as JSON (the API's answers, `cutover deploys --json`); the log file and pid,
  // which are this machine's, are left out.
  [[nodiscard]] nlohmann::json toJson() const;
};

// A new deploy id: "d-<yyyymmdd>-<hhmmss>-<6 hex>".
[[nodiscard]] std::string newDeployId();

// Unix time in milliseconds, as StageMark::at_ms holds it.
[[nodiscard]] std::int64_t nowUnixMs();

}  // namespace cutover
