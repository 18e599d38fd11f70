#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/deploy_record.h"

namespace cutover {

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
  // Trigger "lock" or "unlock" records a change of the site's deploy lock the same way.
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

}  // namespace cutover
