#include "pipeline/compress_cache.h"

#include "common/sqlite.h"
#include "cutover/common/hash.h"

namespace cutover {

namespace {

// An absent form is stored as an empty hash, so "compressed, nothing worth keeping" is a hit
// too and incompressible content is not tried again.
constexpr sqlite::CacheTable::Sql kSql{
    "compress cache",
    "CREATE TABLE IF NOT EXISTS forms (hash TEXT NOT NULL, settings TEXT NOT NULL, "
    "br_hash TEXT NOT NULL, br_size INTEGER NOT NULL, gzip_hash TEXT NOT NULL, "
    "gzip_size INTEGER NOT NULL, PRIMARY KEY (hash, settings))",
    "SELECT br_hash, br_size, gzip_hash, gzip_size FROM forms WHERE hash = ?1 AND settings = ?2",
    "INSERT INTO forms (hash, settings, br_hash, br_size, gzip_hash, gzip_size) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(hash, settings) DO UPDATE SET "
    "br_hash = excluded.br_hash, br_size = excluded.br_size, "
    "gzip_hash = excluded.gzip_hash, gzip_size = excluded.gzip_size"};

}  // namespace

Result<std::unique_ptr<CompressCache>> CompressCache::open(const std::filesystem::path& file) {
  auto table = sqlite::CacheTable::open(file, kSql);
  if (!table) return tl::unexpected(table.error());
  return std::unique_ptr<CompressCache>(new CompressCache(std::move(*table)));
}

CompressCache::CompressCache(std::unique_ptr<sqlite::CacheTable> table)
    : table_(std::move(table)) {}
CompressCache::~CompressCache() = default;

std::optional<CompressedForms> CompressCache::lookup(std::string_view hash,
                                                     std::string_view settings) {
  std::optional<CompressedForms> out;
  table_->lookup([&](sqlite::Statement& st) { st.bind(1, hash).bind(2, settings); },
                 [&](const sqlite::Statement& st) {
                   CompressedForms forms{{st.text(0), static_cast<std::uint64_t>(st.integer(1))},
                                         {st.text(2), static_cast<std::uint64_t>(st.integer(3))}};
                   // A row that is not what this code writes (a damaged file) is a miss, not a
                   // wrong answer.
                   for (const auto* form : {&forms.br, &forms.gzip}) {
                     if (form->present() ? !isBlobHash(form->hash) : form->size != 0) return;
                   }
                   out = std::move(forms);
                 });
  return out;
}

Result<void> CompressCache::record(const std::vector<Update>& updates) {
  return table_->upsertAll(updates.size(), [&](sqlite::Statement& st, std::size_t i) {
    const auto& u = updates[i];
    st.bind(1, u.hash).bind(2, u.settings);
    st.bind(3, u.forms.br.hash).bind(4, static_cast<std::int64_t>(u.forms.br.size));
    st.bind(5, u.forms.gzip.hash).bind(6, static_cast<std::int64_t>(u.forms.gzip.size));
  });
}

}  // namespace cutover
