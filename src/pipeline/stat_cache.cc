#include "pipeline/stat_cache.h"

#include "common/sqlite.h"

namespace cutover {

namespace {

constexpr sqlite::CacheTable::Sql kSql{
    "stat cache",
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, device INTEGER, inode INTEGER, "
    "size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, hash TEXT NOT NULL)",
    "SELECT hash FROM files WHERE path = ?1 AND device = ?2 AND inode = ?3 AND "
    "size = ?4 AND mtime_ns = ?5 AND ctime_ns = ?6",
    "INSERT INTO files (path, device, inode, size, mtime_ns, ctime_ns, hash) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(path) DO UPDATE SET "
    "device = excluded.device, inode = excluded.inode, size = excluded.size, "
    "mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, hash = excluded.hash"};

// Binds a file's path and identity as parameters 1 to 6, as both statements take them.
void bindFile(sqlite::Statement& st, const std::filesystem::path& file, const FileIdentity& id) {
  st.bind(1, file.string()).bind(2, static_cast<std::int64_t>(id.device));
  st.bind(3, static_cast<std::int64_t>(id.inode)).bind(4, static_cast<std::int64_t>(id.size));
  st.bind(5, id.mtime_ns).bind(6, id.ctime_ns);
}

}  // namespace

Result<std::unique_ptr<StatCache>> StatCache::open(const std::filesystem::path& file) {
  auto table = sqlite::CacheTable::open(file, kSql);
  if (!table) return tl::unexpected(table.error());
  return std::unique_ptr<StatCache>(new StatCache(std::move(*table)));
}

StatCache::StatCache(std::unique_ptr<sqlite::CacheTable> table) : table_(std::move(table)) {}
StatCache::~StatCache() = default;

std::optional<std::string> StatCache::lookup(const std::filesystem::path& file,
                                             const FileIdentity& id) {
  std::optional<std::string> out;
  table_->lookup([&](sqlite::Statement& st) { bindFile(st, file, id); },
                 [&](const sqlite::Statement& st) { out = st.text(0); });
  return out;
}

Result<void> StatCache::record(const std::vector<Update>& updates) {
  return table_->upsertAll(updates.size(), [&](sqlite::Statement& st, std::size_t i) {
    bindFile(st, updates[i].file, updates[i].identity);
    st.bind(7, updates[i].hash);
  });
}

}  // namespace cutover
