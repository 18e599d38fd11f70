#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"

namespace cutover::sqlite {

// A prepared statement; reset and rebound for each use.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  [[nodiscard]] bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  // SQLITE_ROW → true, SQLITE_DONE → false, else an error.
  [[nodiscard]] Result<bool> step();
  [[nodiscard]] Result<void> run();  // step to done, then reset
  void reset();

  [[nodiscard]] std::string text(int column) const;
  [[nodiscard]] std::int64_t integer(int column) const;

  // Every row, each read by `read(const Statement&)`, or the first error.
  template <class Read>
  [[nodiscard]] auto all(Read read) -> Result<std::vector<decltype(read(*this))>> {
    std::vector<decltype(read(*this))> rows;
    while (true) {
      auto row = step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) return rows;
      rows.push_back(read(*this));
    }
  }

  // The first row read by `read(const Statement&)`, nothing when there is none, or the error.
  template <class Read>
  [[nodiscard]] auto first(Read read) -> Result<std::optional<decltype(read(*this))>> {
    auto row = step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return std::optional<decltype(read(*this))>{};
    return std::optional<decltype(read(*this))>{read(*this)};
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One connection in WAL mode with a busy timeout, so several processes share the file.
class Database {
 public:
  [[nodiscard]] static Result<Database> open(const std::filesystem::path& file);
  Database(Database&& other) noexcept;
  Database& operator=(Database&&) = delete;
  Database(const Database&) = delete;
  ~Database();

  [[nodiscard]] sqlite3* handle() const { return db_; }
  [[nodiscard]] Result<void> exec(std::string_view sql);
  [[nodiscard]] std::string lastError() const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// A table used as a cache of hints: one lookup and one upsert statement behind a mutex, shared
// by a process's threads and (WAL) by processes. The deploy's stat cache and compress cache are
// two of these.
class CacheTable {
 public:
  struct Sql {
    const char* what;    // "stat cache": what an error names
    const char* create;  // CREATE TABLE IF NOT EXISTS ...
    const char* lookup;  // SELECT ... WHERE ...
    const char* upsert;  // INSERT ... ON CONFLICT ... DO UPDATE ...
  };
  [[nodiscard]] static Result<std::unique_ptr<CacheTable>> open(const std::filesystem::path& file,
                                                                const Sql& sql);

  // Binds the lookup's parameters with `bind` and, if a row matches, reads it with `read`.
  // False when no row matched or the lookup failed (a miss: this is a cache). Thread-safe.
  bool lookup(const std::function<void(Statement&)>& bind,
              const std::function<void(const Statement&)>& read);

  // Runs the upsert for items 0 .. count-1 in one transaction; `bind` binds item i's parameters.
  // Thread-safe.
  [[nodiscard]] Result<void> upsertAll(std::size_t count,
                                       const std::function<void(Statement&, std::size_t)>& bind);

  CacheTable(Database db, const Sql& sql);

 private:
  Database db_;
  std::mutex mutex_;
  Statement lookup_;
  Statement upsert_;
};

}  // namespace cutover::sqlite
