#include "cutover/pipeline/history.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cutover/common/names.h"
#include "cutover/store/manifest.h"
#include "pipeline/sqlite.h"

namespace cutover {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS deploys (
  id TEXT PRIMARY KEY,
  site TEXT NOT NULL,
  version TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  trigger TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  activated INTEGER NOT NULL DEFAULT 0,
  started TEXT NOT NULL,
  finished TEXT NOT NULL DEFAULT '',
  pid INTEGER NOT NULL DEFAULT 0,
  files INTEGER NOT NULL DEFAULT 0,
  new_files INTEGER NOT NULL DEFAULT 0,
  reused_files INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  new_bytes INTEGER NOT NULL DEFAULT 0,
  stages TEXT NOT NULL DEFAULT '[]',
  error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deploys_by_site ON deploys(site, started);
)sql";

constexpr std::string_view kColumns =
    "id, site, version, source, trigger, status, activated, started, finished, pid, files, "
    "new_files, reused_files, bytes, new_bytes, stages, error";

std::string stagesJson(const std::vector<StageTiming>& stages) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : stages) j.push_back({{"name", s.name}, {"ms", s.ms}});
  return j.dump();
}

std::vector<StageTiming> parseStages(const std::string& text) {
  std::vector<StageTiming> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& s : j) out.push_back({s.value("name", ""), s.value("ms", 0.0)});
  return out;
}

DeployRecord readRow(const sqlite::Statement& st) {
  DeployRecord r;
  r.id = st.text(0);
  r.site = st.text(1);
  r.version = st.text(2);
  r.source = st.text(3);
  r.trigger = st.text(4);
  r.status = st.text(5);
  r.activated = st.integer(6) != 0;
  r.started = st.text(7);
  r.finished = st.text(8);
  r.pid = st.integer(9);
  r.files = static_cast<std::uint64_t>(st.integer(10));
  r.new_files = static_cast<std::uint64_t>(st.integer(11));
  r.reused_files = static_cast<std::uint64_t>(st.integer(12));
  r.bytes = static_cast<std::uint64_t>(st.integer(13));
  r.new_bytes = static_cast<std::uint64_t>(st.integer(14));
  r.stages = parseStages(st.text(15));
  r.error = st.text(16);
  return r;
}

bool processAlive(std::int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

// One connection, shared by the threads of a process: every use holds the mutex.
struct History::Db {
  sqlite::Database db;
  std::mutex mutex;
};

std::string newDeployId() { return "d-" + newVersionId(); }

Result<std::unique_ptr<History>> History::open(const std::filesystem::path& file) {
  auto db = sqlite::Database::open(file);
  if (!db) return tl::unexpected(db.error());
  if (auto r = db->exec(kSchema); !r) return tl::unexpected(r.error());
  auto state = std::make_unique<Db>(std::move(*db));
  std::unique_ptr<History> history(new History(std::move(state)));

  // A deploy whose process is gone will never finish: say so instead of "running" forever.
  sqlite::Statement running(history->db_->db.handle(),
                            "SELECT id, pid FROM deploys WHERE status = 'running'");
  std::vector<std::pair<std::string, std::int64_t>> stale;
  while (true) {
    auto row = running.step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    if (!processAlive(running.integer(1))) stale.emplace_back(running.text(0), running.integer(1));
  }
  for (const auto& [id, pid] : stale) {
    sqlite::Statement mark(history->db_->db.handle(),
                           "UPDATE deploys SET status = 'failed', finished = ?1, error = ?2 "
                           "WHERE id = ?3 AND status = 'running'");
    mark.bind(1, nowRfc3339())
        .bind(2, "interrupted: process " + std::to_string(pid) + " ended before the deploy finished")
        .bind(3, id);
    if (auto r = mark.run(); !r) return tl::unexpected(r.error());
  }
  return history;
}

History::History(std::unique_ptr<Db> db) : db_(std::move(db)) {}
History::~History() = default;

Result<void> History::begin(DeployRecord& record) {
  if (record.id.empty()) record.id = newDeployId();
  record.status = "running";
  record.started = nowRfc3339();
  record.pid = ::getpid();
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "INSERT INTO deploys (id, site, version, source, trigger, status, started, pid) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  st.bind(1, record.id).bind(2, record.site).bind(3, record.version).bind(4, record.source);
  st.bind(5, record.trigger).bind(6, record.status).bind(7, record.started).bind(8, record.pid);
  return st.run();
}

Result<void> History::update(const DeployRecord& r) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "UPDATE deploys SET version = ?2, source = ?3, status = ?4, activated = ?5, "
                       "finished = ?6, files = ?7, new_files = ?8, reused_files = ?9, bytes = ?10, "
                       "new_bytes = ?11, stages = ?12, error = ?13 WHERE id = ?1");
  st.bind(1, r.id).bind(2, r.version).bind(3, r.source).bind(4, r.status);
  st.bind(5, std::int64_t{r.activated ? 1 : 0}).bind(6, r.finished);
  st.bind(7, static_cast<std::int64_t>(r.files)).bind(8, static_cast<std::int64_t>(r.new_files));
  st.bind(9, static_cast<std::int64_t>(r.reused_files)).bind(10, static_cast<std::int64_t>(r.bytes));
  st.bind(11, static_cast<std::int64_t>(r.new_bytes)).bind(12, stagesJson(r.stages)).bind(13, r.error);
  return st.run();
}

Result<std::optional<DeployRecord>> History::find(const std::string& id) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "SELECT " + std::string(kColumns) + " FROM deploys WHERE id = ?1");
  st.bind(1, id);
  auto row = st.step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<DeployRecord>{};
  return std::optional<DeployRecord>{readRow(st)};
}

Result<std::vector<DeployRecord>> History::list(const std::string& site, std::size_t limit) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "SELECT " + std::string(kColumns) +
                           " FROM deploys WHERE (?1 = '' OR site = ?1) "
                           "ORDER BY started DESC, id DESC LIMIT ?2");
  st.bind(1, site).bind(2, static_cast<std::int64_t>(limit));
  std::vector<DeployRecord> out;
  while (true) {
    auto row = st.step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back(readRow(st));
  }
  return out;
}

Result<std::optional<DeployRecord>> History::findByVersion(const std::string& site,
                                                           const std::string& version) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "SELECT " + std::string(kColumns) +
                           " FROM deploys WHERE site = ?1 AND version = ?2 AND status = 'succeeded' "
                           "ORDER BY started DESC LIMIT 1");
  st.bind(1, site).bind(2, version);
  auto row = st.step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<DeployRecord>{};
  return std::optional<DeployRecord>{readRow(st)};
}

}  // namespace cutover
