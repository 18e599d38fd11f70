#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"

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

// The deploy history: every deploy with its stages, timings, outcome and error, kept in SQLite so
// that several processes (a deploy in a shell, a running server) can write and read it at once.
class History {
 public:
  // Opens (creating if needed) the history at `file`. Deploys recorded as running by a process
  // that no longer exists are marked failed ("interrupted") on open.
  [[nodiscard]] static Result<std::unique_ptr<History>> open(const std::filesystem::path& file);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // Inserts a new record (status running, started now, this process's pid); fills id if empty.
  [[nodiscard]] Result<void> begin(DeployRecord& record);

  // The pipeline's queue is this table: a "queued" row is a request waiting for a worker, in any
  // process that shares the data folder. enqueue() inserts one (status and stage "queued",
  // started now, the timeline's first mark); fills id if empty.
  [[nodiscard]] Result<void> enqueue(DeployRecord& record);

  // Takes the next request for a worker, in one transaction, so two workers (in this process or
  // another) never take the same one: the site whose oldest queued request is oldest among the
  // sites with nothing running, limited to `sites` if it is not empty. Of that
  // site's queued requests the newest is taken (status running, this process's pid); the older
  // ones are marked superseded. Running deploys whose process is gone are first marked failed,
  // so a crashed worker does not hold its site forever.
  [[nodiscard]] Result<std::optional<DeployRecord>> claim(const std::vector<std::string>& sites);

  // Marks failed ("interrupted: ...") every running deploy whose process no longer exists.
  [[nodiscard]] Result<void> failAbandoned();

  // The newest deploy of `site` that names a commit and was not superseded (for polling).
  [[nodiscard]] Result<std::optional<DeployRecord>> latestCommit(const std::string& site);
  // Replaces the stored record with `record` (same id).
  [[nodiscard]] Result<void> update(const DeployRecord& record);

  [[nodiscard]] Result<std::optional<DeployRecord>> find(const std::string& id);
  // Newest first; `site` empty for all sites.
  [[nodiscard]] Result<std::vector<DeployRecord>> list(const std::string& site, std::size_t limit);
  // Records a flip that deployed nothing (a rollback or an activation) as a finished record of
  // its own, so the history is an audit trail of every change to what is live: trigger
  // "rollback" or "activate", status "succeeded", `to` as the version, `from` as previous.
  [[nodiscard]] Result<DeployRecord> recordFlip(const std::string& site, std::string_view trigger,
                                                const std::string& from, const std::string& to,
                                                const std::string& actor);

  // The newest succeeded deploy that produced `version` of `site`, if any.
  [[nodiscard]] Result<std::optional<DeployRecord>> findByVersion(const std::string& site,
                                                                  const std::string& version);

 private:
  struct Db;
  explicit History(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// A new deploy id: "d-<yyyymmdd>-<hhmmss>-<6 hex>".
[[nodiscard]] std::string newDeployId();

// Unix time in milliseconds, as StageMark::at_ms holds it.
[[nodiscard]] std::int64_t nowUnixMs();

}  // namespace cutover
