#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cutover/common/result.h"

namespace cutover {

struct StageTiming {
  std::string name;  // "read", "store", "commit", "activate"
  double ms = 0;
};

// One run of the pipeline, as recorded.
struct DeployRecord {
  std::string id;
  std::string site;
  std::string version;  // empty until a version id is chosen
  std::string source;   // folder path or archive file name
  std::string trigger;  // "cli", later "git", "webhook", "api"
  std::string status;   // "running", "succeeded", "failed"
  bool activated = false;
  std::string started;   // RFC 3339
  std::string finished;  // RFC 3339, empty while running
  std::int64_t pid = 0;  // the process running it
  std::uint64_t files = 0, new_files = 0, reused_files = 0;
  std::uint64_t bytes = 0, new_bytes = 0;
  std::vector<StageTiming> stages;
  std::string error;  // why it failed
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
  // Replaces the stored record with `record` (same id).
  [[nodiscard]] Result<void> update(const DeployRecord& record);

  [[nodiscard]] Result<std::optional<DeployRecord>> find(const std::string& id);
  // Newest first; `site` empty for all sites.
  [[nodiscard]] Result<std::vector<DeployRecord>> list(const std::string& site, std::size_t limit);
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

}  // namespace cutover
