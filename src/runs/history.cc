#include "runs/history.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/sqlite.h"
#include "cutover/common/names.h"
#include "cutover/store/manifest.h"

namespace cutover {

namespace {

// A status as an SQL string literal, so the names have one spelling: DeployStatus's.
std::string sqlStatus(DeployStatus s) { return fmt::format("'{}'", toString(s)); }

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

// Schema version 2 adds the pipeline's columns, version 3 the flips' previous and actor, version 4
// preview builds, version 5 branch and pull request previews. Adding
// columns with defaults keeps every row an older cutover wrote; each is added only if missing, so
// opening is idempotent and an older binary still reads the file (it names its columns).
struct AddedColumn {
  std::string_view name;
  std::string_view definition;
};
constexpr AddedColumn kAddedColumns[] = {
    {"stage", "TEXT NOT NULL DEFAULT ''"},
    {"timeline", "TEXT NOT NULL DEFAULT '[]'"},
    {"branch", "TEXT NOT NULL DEFAULT ''"},
    {"commit_sha", "TEXT NOT NULL DEFAULT ''"},
    {"commit_message", "TEXT NOT NULL DEFAULT ''"},
    {"commit_author", "TEXT NOT NULL DEFAULT ''"},
    {"archive", "TEXT NOT NULL DEFAULT ''"},
    {"remove_archive", "INTEGER NOT NULL DEFAULT 0"},
    {"log", "TEXT NOT NULL DEFAULT ''"},
    {"previous", "TEXT NOT NULL DEFAULT ''"},  // schema version 3: flips
    {"actor", "TEXT NOT NULL DEFAULT ''"},
    {"preview", "INTEGER NOT NULL DEFAULT 0"},  // schema version 4: preview builds, locks
    {"locked", "INTEGER NOT NULL DEFAULT 0"},
    {"pr", "INTEGER NOT NULL DEFAULT 0"},  // schema version 5: branch and pull request previews
    {"head_ref", "TEXT NOT NULL DEFAULT ''"},
    {"alias", "TEXT NOT NULL DEFAULT ''"},
};

constexpr std::string_view kColumns =
    "id, site, version, source, trigger, status, activated, started, finished, pid, files, "
    "new_files, reused_files, bytes, new_bytes, stages, error, stage, timeline, branch, "
    "commit_sha, commit_message, commit_author, archive, remove_archive, log, previous, actor, "
    "preview, locked, pr, head_ref, alias";

bool processAlive(std::int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

nlohmann::json stagesJson(const std::vector<StageTiming>& stages) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : stages) j.push_back({{"name", s.name}, {"ms", s.ms}});
  return j;
}

nlohmann::json timelineJson(const std::vector<StageMark>& marks) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& m : marks) j.push_back({{"name", m.name}, {"at_ms", m.at_ms}});
  return j;
}

std::vector<StageMark> parseTimeline(const std::string& text) {
  std::vector<StageMark> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& m : j) out.push_back({m.value("name", ""), m.value("at_ms", std::int64_t{0})});
  return out;
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
  r.stage = st.text(17);
  r.timeline = parseTimeline(st.text(18));
  r.branch = st.text(19);
  r.commit = st.text(20);
  r.commit_message = st.text(21);
  r.commit_author = st.text(22);
  r.archive = st.text(23);
  r.remove_archive = st.integer(24) != 0;
  r.log = st.text(25);
  r.previous = st.text(26);
  r.actor = st.text(27);
  r.preview = st.integer(28) != 0;
  r.locked = st.integer(29) != 0;
  r.pr = static_cast<std::uint64_t>(st.integer(30));
  r.head_ref = st.text(31);
  r.alias = st.text(32);
  return r;
}

Result<void> migrate(sqlite::Database& db) {
  // IMMEDIATE: two processes opening an old file at once must not both add a column.
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r;
  auto rollback = [&](Error e) -> Result<void> {
    (void)db.exec("ROLLBACK");
    return tl::unexpected(std::move(e));
  };
  if (auto r = db.exec(kSchema); !r) return rollback(r.error());
  std::vector<std::string> present;
  {
    sqlite::Statement info(db.handle(), "PRAGMA table_info(deploys)");
    while (true) {
      auto row = info.step();
      if (!row) return rollback(row.error());
      if (!*row) break;
      present.push_back(info.text(1));
    }
  }
  for (const auto& column : kAddedColumns) {
    if (std::find(present.begin(), present.end(), column.name) != present.end()) continue;
    auto added = db.exec("ALTER TABLE deploys ADD COLUMN " + std::string(column.name) + " " +
                         std::string(column.definition));
    if (!added) return rollback(added.error());
  }
  if (auto r = db.exec("CREATE INDEX IF NOT EXISTS deploys_by_status ON deploys(status, site);"
                       "PRAGMA user_version = 5;");
      !r) {
    return rollback(r.error());
  }
  return db.exec("COMMIT");
}

// Marks failed every running deploy whose process is gone. The caller holds the mutex.
Result<void> failAbandonedLocked(sqlite3* db) {
  sqlite::Statement running(
      db, "SELECT id, pid FROM deploys WHERE status = " + sqlStatus(DeployStatus::running));
  std::vector<std::pair<std::string, std::int64_t>> stale;
  while (true) {
    auto row = running.step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    if (!processAlive(running.integer(1))) stale.emplace_back(running.text(0), running.integer(1));
  }
  running.reset();
  for (const auto& [id, pid] : stale) {
    sqlite::Statement mark(db, "UPDATE deploys SET status = " + sqlStatus(DeployStatus::failed) +
                                   ", finished = ?1, error = ?2, "
                                   "stage = '', timeline = json_insert(timeline, '$[#]', "
                                   "json_object('name', 'finished', 'at_ms', ?4)) "
                                   "WHERE id = ?3 AND status = " +
                                   sqlStatus(DeployStatus::running));
    mark.bind(1, nowRfc3339())
        .bind(2,
              "interrupted: process " + std::to_string(pid) + " ended before the deploy finished")
        .bind(3, id)
        .bind(4, nowUnixMs());
    if (auto r = mark.run(); !r) return r;
  }
  return {};
}

}  // namespace

nlohmann::json DeployRecord::toJson() const {
  return {{"id", id},
          {"site", site},
          {"version", version},
          {"source", source},
          {"trigger", trigger},
          {"status", status},
          {"activated", activated},
          {"started", started},
          {"finished", finished},
          {"files", files},
          {"new_files", new_files},
          {"reused_files", reused_files},
          {"bytes", bytes},
          {"new_bytes", new_bytes},
          {"stages", stagesJson(stages)},
          {"stage", stage},
          {"timeline", timelineJson(timeline)},
          {"branch", branch},
          {"commit", commit},
          {"commit_message", commit_message},
          {"commit_author", commit_author},
          {"previous", previous},
          {"actor", actor},
          {"preview", preview},
          {"locked", locked},
          {"pr", pr},
          {"alias", alias},
          {"error", error}};
}

// One connection, shared by the threads of a process: every use holds the mutex.
struct History::Db {
  sqlite::Database db;
  std::mutex mutex;
};

std::string newDeployId() { return "d-" + newVersionId(); }

std::int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<History>> History::open(const std::filesystem::path& file) {
  auto db = sqlite::Database::open(file);
  if (!db) return tl::unexpected(db.error());
  if (auto r = migrate(*db); !r) return tl::unexpected(r.error());
  // Db is an aggregate: built with braces, which clang 14 make_unique cannot do.
  auto state = std::unique_ptr<Db>(new Db{std::move(*db)});
  std::unique_ptr<History> history(new History(std::move(state)));
  // A deploy whose process is gone will never finish: say so instead of "running" forever.
  // Queued requests stay: they are the pipeline's queue, and the next worker takes them.
  if (auto r = history->failAbandoned(); !r) return tl::unexpected(r.error());
  return history;
}

Result<void> History::failAbandoned() {
  std::lock_guard lock(db_->mutex);
  return failAbandonedLocked(db_->db.handle());
}

History::History(std::unique_ptr<Db> db) : db_(std::move(db)) {}
History::~History() = default;

Result<void> History::begin(DeployRecord& record) {
  if (record.id.empty()) record.id = newDeployId();
  record.status = toString(DeployStatus::running);
  record.started = nowRfc3339();
  record.pid = ::getpid();
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(
      db_->db.handle(),
      "INSERT INTO deploys (id, site, version, source, trigger, status, started, pid) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  st.bind(1, record.id).bind(2, record.site).bind(3, record.version).bind(4, record.source);
  st.bind(5, record.trigger).bind(6, record.status).bind(7, record.started).bind(8, record.pid);
  return st.run();
}

Result<void> History::enqueue(DeployRecord& record) {
  if (record.id.empty()) record.id = newDeployId();
  record.status = toString(DeployStatus::queued);
  record.stage = toString(Mark::queued);
  record.started = nowRfc3339();
  record.timeline = {{record.stage, nowUnixMs()}};
  record.pid = ::getpid();
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(
      db_->db.handle(),
      "INSERT INTO deploys (id, site, source, trigger, status, started, pid, stage, "
      "timeline, branch, commit_sha, archive, remove_archive, log, preview, pr, head_ref) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)");
  st.bind(1, record.id).bind(2, record.site).bind(3, record.source).bind(4, record.trigger);
  st.bind(5, record.status).bind(6, record.started).bind(7, record.pid).bind(8, record.stage);
  st.bind(9, timelineJson(record.timeline).dump()).bind(10, record.branch);
  st.bind(11, record.commit);
  st.bind(12, record.archive).bind(13, std::int64_t{record.remove_archive ? 1 : 0});
  st.bind(14, record.log).bind(15, std::int64_t{record.preview ? 1 : 0});
  st.bind(16, static_cast<std::int64_t>(record.pr)).bind(17, record.head_ref);
  return st.run();
}

Result<std::optional<DeployRecord>> History::claim(const std::vector<std::string>& sites) {
  std::lock_guard lock(db_->mutex);
  auto& db = db_->db;
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return tl::unexpected(r.error());
  auto abort = [&](Error e) -> Result<std::optional<DeployRecord>> {
    (void)db.exec("ROLLBACK");
    return tl::unexpected(std::move(e));
  };
  if (auto r = failAbandonedLocked(db.handle()); !r) return abort(r.error());

  // Sites with waiting requests and nothing running, the longest-waiting first.
  std::string site;
  {
    sqlite::Statement candidates(
        db.handle(),
        "SELECT site, MIN(rowid) FROM deploys WHERE status = " + sqlStatus(DeployStatus::queued) +
            " AND "
            "site NOT IN (SELECT site FROM deploys WHERE status = " +
            sqlStatus(DeployStatus::running) +
            ") "
            "GROUP BY site ORDER BY MIN(rowid)");
    while (true) {
      auto row = candidates.step();
      if (!row) return abort(row.error());
      if (!*row) break;
      auto name = candidates.text(0);
      if (sites.empty() || std::find(sites.begin(), sites.end(), name) != sites.end()) {
        site = name;
        break;
      }
    }
  }
  if (site.empty()) {
    if (auto r = db.exec("COMMIT"); !r) return tl::unexpected(r.error());
    return std::optional<DeployRecord>{};
  }

  DeployRecord record;
  {
    sqlite::Statement newest(db.handle(),
                             "SELECT " + std::string(kColumns) +
                                 " FROM deploys WHERE status = " + sqlStatus(DeployStatus::queued) +
                                 " AND site = ?1 "
                                 "ORDER BY rowid DESC LIMIT 1");
    newest.bind(1, site);
    auto row = newest.step();
    if (!row) return abort(row.error());
    if (!*row) return abort(Error{Errc::io, "queued request vanished inside a transaction"});
    record = readRow(newest);
  }
  auto now_ms = nowUnixMs();
  sqlite::Statement supersede(
      db.handle(),
      "UPDATE deploys SET status = " + sqlStatus(DeployStatus::superseded) +
          ", stage = '', finished = ?1, error = ?2, "
          "timeline = json_insert(timeline, '$[#]', json_object('name', 'finished', 'at_ms', ?3)) "
          "WHERE status = " +
          sqlStatus(DeployStatus::queued) +
          " AND site = ?4 AND id != ?5 AND preview = ?6 AND (preview = 0 OR (branch = ?7 AND pr = "
          "?8))");
  // Production requests supersede each other; a preview, only the previews of its own branch
  // or pull request (each has its own alias).
  std::string kind = !record.preview          ? std::string("production")
                     : record.pr != 0         ? fmt::format("preview of pull request {}", record.pr)
                     : !record.branch.empty() ? "preview of branch " + record.branch
                                              : std::string("preview");
  supersede.bind(1, nowRfc3339())
      .bind(2, fmt::format("superseded by {}, a newer {} request for the site", record.id, kind))
      .bind(3, now_ms)
      .bind(4, site)
      .bind(5, record.id)
      .bind(6, std::int64_t{record.preview ? 1 : 0})
      .bind(7, record.branch)
      .bind(8, static_cast<std::int64_t>(record.pr));
  if (auto r = supersede.run(); !r) return abort(r.error());

  record.status = toString(DeployStatus::running);
  record.pid = ::getpid();
  sqlite::Statement take(db.handle(),
                         "UPDATE deploys SET status = " + sqlStatus(DeployStatus::running) +
                             ", pid = ?2 WHERE id = ?1");
  take.bind(1, record.id).bind(2, record.pid);
  if (auto r = take.run(); !r) return abort(r.error());
  if (auto r = db.exec("COMMIT"); !r) return abort(r.error());
  return std::optional<DeployRecord>{std::move(record)};
}

Result<std::optional<DeployRecord>> History::latestCommit(const std::string& site) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "SELECT " + std::string(kColumns) +
                           " FROM deploys WHERE site = ?1 AND commit_sha != '' AND "
                           "status NOT IN (" +
                           sqlStatus(DeployStatus::superseded) + ", " +
                           sqlStatus(DeployStatus::ignored) + ") ORDER BY rowid DESC LIMIT 1");
  st.bind(1, site);
  return st.first(readRow);
}

Result<void> History::update(const DeployRecord& r) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(
      db_->db.handle(),
      "UPDATE deploys SET version = ?2, source = ?3, status = ?4, activated = ?5, "
      "finished = ?6, files = ?7, new_files = ?8, reused_files = ?9, bytes = ?10, "
      "new_bytes = ?11, stages = ?12, error = ?13, stage = ?14, timeline = ?15, "
      "branch = ?16, commit_sha = ?17, commit_message = ?18, commit_author = ?19, "
      "archive = ?20, remove_archive = ?21, log = ?22, locked = ?23, alias = ?24, preview = ?25 "
      "WHERE id = ?1");
  st.bind(1, r.id).bind(2, r.version).bind(3, r.source).bind(4, r.status);
  st.bind(5, std::int64_t{r.activated ? 1 : 0}).bind(6, r.finished);
  st.bind(7, static_cast<std::int64_t>(r.files)).bind(8, static_cast<std::int64_t>(r.new_files));
  st.bind(9, static_cast<std::int64_t>(r.reused_files))
      .bind(10, static_cast<std::int64_t>(r.bytes));
  st.bind(11, static_cast<std::int64_t>(r.new_bytes))
      .bind(12, stagesJson(r.stages).dump())
      .bind(13, r.error);
  st.bind(14, r.stage).bind(15, timelineJson(r.timeline).dump()).bind(16, r.branch);
  st.bind(17, r.commit);
  st.bind(18, r.commit_message).bind(19, r.commit_author).bind(20, r.archive);
  st.bind(21, std::int64_t{r.remove_archive ? 1 : 0}).bind(22, r.log);
  st.bind(23, std::int64_t{r.locked ? 1 : 0}).bind(24, r.alias);
  st.bind(25, std::int64_t{r.preview ? 1 : 0});
  return st.run();
}

Result<std::optional<DeployRecord>> History::find(const std::string& id) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "SELECT " + std::string(kColumns) + " FROM deploys WHERE id = ?1");
  st.bind(1, id);
  return st.first(readRow);
}

Result<std::vector<DeployRecord>> History::list(const std::string& site, std::size_t limit) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(), "SELECT " + std::string(kColumns) +
                                             " FROM deploys WHERE (?1 = '' OR site = ?1) "
                                             "ORDER BY started DESC, rowid DESC LIMIT ?2");
  st.bind(1, site).bind(2, static_cast<std::int64_t>(limit));
  return st.all(readRow);
}

Result<DeployRecord> History::recordFlip(const std::string& site, std::string_view trigger,
                                         const std::string& from, const std::string& to,
                                         const std::string& actor) {
  DeployRecord r;
  r.id = newDeployId();
  r.site = site;
  r.version = to;
  r.previous = from;
  r.actor = actor;
  r.trigger = std::string(trigger);
  r.source = std::string(trigger);
  r.status = toString(DeployStatus::succeeded);
  r.activated = trigger == "rollback" || trigger == "activate";  // not "lock", "unlock"
  r.locked = trigger == "lock";
  r.started = nowRfc3339();
  r.finished = r.started;
  r.pid = ::getpid();
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(db_->db.handle(),
                       "INSERT INTO deploys (id, site, version, source, trigger, status, "
                       "activated, started, finished, pid, previous, actor, locked) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?12, ?7, ?8, ?9, ?10, ?11, ?13)");
  st.bind(1, r.id).bind(2, r.site).bind(3, r.version).bind(4, r.source).bind(5, r.trigger);
  st.bind(6, r.status).bind(7, r.started).bind(8, r.finished).bind(9, r.pid);
  st.bind(10, r.previous).bind(11, r.actor).bind(12, std::int64_t{r.activated ? 1 : 0});
  st.bind(13, std::int64_t{r.locked ? 1 : 0});
  if (auto done = st.run(); !done) return tl::unexpected(done.error());
  return r;
}

Result<std::optional<DeployRecord>> History::findByVersion(const std::string& site,
                                                           const std::string& version) {
  std::lock_guard lock(db_->mutex);
  sqlite::Statement st(
      db_->db.handle(),
      "SELECT " + std::string(kColumns) +
          " FROM deploys WHERE site = ?1 AND version = ?2 AND status = " +
          sqlStatus(DeployStatus::succeeded) +
          " "
          "AND trigger NOT IN ('rollback', 'activate') ORDER BY started DESC LIMIT 1");
  st.bind(1, site).bind(2, version);
  return st.first(readRow);
}

}  // namespace cutover
