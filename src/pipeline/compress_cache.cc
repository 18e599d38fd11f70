#include "pipeline/compress_cache.h"

#include <mutex>

#include "cutover/common/hash.h"
#include "common/sqlite.h"

namespace cutover {

struct CompressCache::Db {
  sqlite::Database db;
  std::mutex mutex;
  sqlite::Statement lookup;
  sqlite::Statement upsert;

  explicit Db(sqlite::Database d)
      : db(std::move(d)),
        lookup(db.handle(),
               "SELECT br_hash, br_size, gzip_hash, gzip_size FROM forms "
               "WHERE hash = ?1 AND settings = ?2"),
        upsert(db.handle(),
               "INSERT INTO forms (hash, settings, br_hash, br_size, gzip_hash, gzip_size) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(hash, settings) DO UPDATE SET "
               "br_hash = excluded.br_hash, br_size = excluded.br_size, "
               "gzip_hash = excluded.gzip_hash, gzip_size = excluded.gzip_size") {}
};

Result<std::unique_ptr<CompressCache>> CompressCache::open(const std::filesystem::path& file) {
  auto db = sqlite::Database::open(file);
  if (!db) return tl::unexpected(db.error());
  // An absent form is stored as an empty hash, so "compressed, nothing worth keeping" is a hit
  // too and incompressible content is not tried again.
  auto created = db->exec(
      "CREATE TABLE IF NOT EXISTS forms (hash TEXT NOT NULL, settings TEXT NOT NULL, "
      "br_hash TEXT NOT NULL, br_size INTEGER NOT NULL, gzip_hash TEXT NOT NULL, "
      "gzip_size INTEGER NOT NULL, PRIMARY KEY (hash, settings))");
  if (!created) return tl::unexpected(created.error());
  auto state = std::make_unique<Db>(std::move(*db));
  if (!state->lookup.ok() || !state->upsert.ok()) {
    return fail(Errc::io, "compress cache: " + state->db.lastError());
  }
  return std::unique_ptr<CompressCache>(new CompressCache(std::move(state)));
}

CompressCache::CompressCache(std::unique_ptr<Db> db) : db_(std::move(db)) {}
CompressCache::~CompressCache() = default;

std::optional<CompressedForms> CompressCache::lookup(std::string_view hash,
                                                     std::string_view settings) {
  std::lock_guard lock(db_->mutex);
  auto& st = db_->lookup;
  st.bind(1, hash).bind(2, settings);
  auto row = st.step();
  std::optional<CompressedForms> out;
  if (row && *row) {
    CompressedForms forms{{st.text(0), static_cast<std::uint64_t>(st.integer(1))},
                          {st.text(2), static_cast<std::uint64_t>(st.integer(3))}};
    // A row that is not what this code writes (a damaged file) is a miss, not a wrong answer.
    bool sane = true;
    for (const auto* form : {&forms.br, &forms.gzip}) {
      if (form->present() ? !isBlobHash(form->hash) : form->size != 0) sane = false;
    }
    if (sane) out = std::move(forms);
  }
  st.reset();
  return out;
}

Result<void> CompressCache::record(const std::vector<Update>& updates) {
  if (updates.empty()) return {};
  std::lock_guard lock(db_->mutex);
  if (auto r = db_->db.exec("BEGIN IMMEDIATE"); !r) return r;
  for (const auto& u : updates) {
    auto& st = db_->upsert;
    st.bind(1, u.hash).bind(2, u.settings);
    st.bind(3, u.forms.br.hash).bind(4, static_cast<std::int64_t>(u.forms.br.size));
    st.bind(5, u.forms.gzip.hash).bind(6, static_cast<std::int64_t>(u.forms.gzip.size));
    if (auto r = st.run(); !r) {
      (void)db_->db.exec("ROLLBACK");
      return r;
    }
  }
  return db_->db.exec("COMMIT");
}

}  // namespace cutover
