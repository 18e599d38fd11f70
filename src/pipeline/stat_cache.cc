#include "pipeline/stat_cache.h"

#include <mutex>

#include "common/sqlite.h"

namespace cutover {

struct StatCache::Db {
  sqlite::Database db;
  std::mutex mutex;
  sqlite::Statement lookup;
  sqlite::Statement upsert;

  explicit Db(sqlite::Database d)
      : db(std::move(d)),
        lookup(db.handle(),
               "SELECT hash FROM files WHERE path = ?1 AND device = ?2 AND inode = ?3 AND "
               "size = ?4 AND mtime_ns = ?5 AND ctime_ns = ?6"),
        upsert(db.handle(),
               "INSERT INTO files (path, device, inode, size, mtime_ns, ctime_ns, hash) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(path) DO UPDATE SET "
               "device = excluded.device, inode = excluded.inode, size = excluded.size, "
               "mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, hash = excluded.hash") {}
};

Result<std::unique_ptr<StatCache>> StatCache::open(const std::filesystem::path& file) {
  auto db = sqlite::Database::open(file);
  if (!db) return tl::unexpected(db.error());
  auto created = db->exec(
      "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, device INTEGER, inode INTEGER, "
      "size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, hash TEXT NOT NULL)");
  if (!created) return tl::unexpected(created.error());
  auto state = std::make_unique<Db>(std::move(*db));
  if (!state->lookup.ok() || !state->upsert.ok()) {
    return fail(Errc::io, "stat cache: " + state->db.lastError());
  }
  return std::unique_ptr<StatCache>(new StatCache(std::move(state)));
}

StatCache::StatCache(std::unique_ptr<Db> db) : db_(std::move(db)) {}
StatCache::~StatCache() = default;

std::optional<std::string> StatCache::lookup(const std::filesystem::path& file,
                                             const FileIdentity& id) {
  std::lock_guard lock(db_->mutex);
  auto& st = db_->lookup;
  st.bind(1, file.string()).bind(2, static_cast<std::int64_t>(id.device));
  st.bind(3, static_cast<std::int64_t>(id.inode)).bind(4, static_cast<std::int64_t>(id.size));
  st.bind(5, id.mtime_ns).bind(6, id.ctime_ns);
  auto row = st.step();
  std::optional<std::string> out;
  if (row && *row) out = st.text(0);
  st.reset();
  return out;
}

Result<void> StatCache::record(const std::vector<Update>& updates) {
  std::lock_guard lock(db_->mutex);
  if (auto r = db_->db.exec("BEGIN IMMEDIATE"); !r) return r;
  for (const auto& u : updates) {
    auto& st = db_->upsert;
    st.bind(1, u.file.string()).bind(2, static_cast<std::int64_t>(u.identity.device));
    st.bind(3, static_cast<std::int64_t>(u.identity.inode));
    st.bind(4, static_cast<std::int64_t>(u.identity.size));
    st.bind(5, u.identity.mtime_ns).bind(6, u.identity.ctime_ns).bind(7, u.hash);
    if (auto r = st.run(); !r) {
      (void)db_->db.exec("ROLLBACK");
      return r;
    }
  }
  return db_->db.exec("COMMIT");
}

}  // namespace cutover
