#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

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

}  // namespace cutover::sqlite
