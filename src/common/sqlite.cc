#include "common/sqlite.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

namespace cutover::sqlite {
namespace {

// The last error on `db` as an Error; a full disk says so and names the database file (SQLite
// itself says "database or disk is full", or "disk I/O error" when the WAL index cannot grow).
Error lastErrorOf(sqlite3* db, std::string_view message) {
  int code = sqlite3_errcode(db) & 0xff;
  int err = sqlite3_system_errno(db);
  bool os_full =
      (code == SQLITE_IOERR || code == SQLITE_CANTOPEN) && (err == ENOSPC || err == EDQUOT);
  if (code == SQLITE_FULL || os_full) {
    const char* file = sqlite3_db_filename(db, "main");
    std::string what = std::string("sqlite database ") + (file != nullptr ? file : "?");
    return Error{Errc::io, "the disk is full (" + what + ": " +
                               std::strerror(err == EDQUOT ? EDQUOT : ENOSPC) + ")"};
  }
  return Error{Errc::io, "sqlite: " + std::string(message)};
}

}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Result<bool> Statement::step() {
  if (stmt_ == nullptr) return tl::unexpected(lastErrorOf(db_, sqlite3_errmsg(db_)));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = lastErrorOf(db_, sqlite3_errmsg(db_));
  sqlite3_reset(stmt_);
  return tl::unexpected(std::move(error));
}

Result<void> Statement::run() {
  auto r = step();
  reset();
  if (!r) return tl::unexpected(r.error());
  return {};
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

Result<Database> Database::open(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error error =
        db != nullptr ? lastErrorOf(db, sqlite3_errmsg(db)) : Error{Errc::io, "out of memory"};
    if (!error.message.starts_with("the disk is full")) {
      error.message =
          "cannot open " + file.string() + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    }
    sqlite3_close(db);
    return tl::unexpected(std::move(error));
  }
  sqlite3_busy_timeout(db, 10'000);
  Database out(db);
  // Switching a new file to WAL needs it alone: while another connection makes the same switch,
  // SQLite answers "database is locked" at once instead of waiting (the busy handler is not
  // called, to avoid a deadlock). So wait here, as the busy timeout would.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    auto r = out.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    if (r) return out;
    bool busy = (sqlite3_errcode(db) & 0xff) == SQLITE_BUSY;
    if (!busy || std::chrono::steady_clock::now() > deadline) return tl::unexpected(r.error());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Database::Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Database::~Database() { sqlite3_close(db_); }

Result<void> Database::exec(std::string_view sql) {
  char* err = nullptr;
  std::string copy(sql);
  if (sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    Error error = lastErrorOf(db_, err != nullptr ? err : "error");
    sqlite3_free(err);
    return tl::unexpected(std::move(error));
  }
  return {};
}

std::string Database::lastError() const { return sqlite3_errmsg(db_); }

Result<std::unique_ptr<CacheTable>> CacheTable::open(const std::filesystem::path& file,
                                                     const Sql& sql) {
  auto db = Database::open(file);
  if (!db) return tl::unexpected(db.error());
  if (auto created = db->exec(sql.create); !created) return tl::unexpected(created.error());
  auto table = std::make_unique<CacheTable>(std::move(*db), sql);
  if (!table->lookup_.ok() || !table->upsert_.ok()) {
    return fail(Errc::io, std::string(sql.what) + ": " + table->db_.lastError());
  }
  return table;
}

CacheTable::CacheTable(Database db, const Sql& sql)
    : db_(std::move(db)), lookup_(db_.handle(), sql.lookup), upsert_(db_.handle(), sql.upsert) {}

bool CacheTable::lookup(const std::function<void(Statement&)>& bind,
                        const std::function<void(const Statement&)>& read) {
  std::lock_guard lock(mutex_);
  bind(lookup_);
  auto row = lookup_.step();
  bool found = row && *row;
  if (found) read(lookup_);
  lookup_.reset();
  return found;
}

Result<void> CacheTable::upsertAll(std::size_t count,
                                   const std::function<void(Statement&, std::size_t)>& bind) {
  if (count == 0) return {};
  std::lock_guard lock(mutex_);
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return r;
  for (std::size_t i = 0; i < count; ++i) {
    bind(upsert_, i);
    if (auto r = upsert_.run(); !r) {
      (void)db_.exec("ROLLBACK");
      return r;
    }
  }
  return db_.exec("COMMIT");
}

}  // namespace cutover::sqlite
