#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/source.h"

namespace cutover {

namespace sqlite {
class CacheTable;
}

// Remembers the hash of each deployed file by its absolute path and identity (device, inode,
// size, mtime, ctime), so a deploy of a folder hashes only files that changed. A hit is only a
// hint: the blob is still checked for presence, and a stored blob is verified against the hash.
class StatCache {
 public:
  [[nodiscard]] static Result<std::unique_ptr<StatCache>> open(const std::filesystem::path& file);
  ~StatCache();
  StatCache(const StatCache&) = delete;
  StatCache& operator=(const StatCache&) = delete;

  // The hash recorded for `file` if its identity is unchanged. Thread-safe.
  [[nodiscard]] std::optional<std::string> lookup(const std::filesystem::path& file,
                                                  const FileIdentity& identity);

  struct Update {
    std::filesystem::path file;
    FileIdentity identity;
    std::string hash;
  };
  // Records many hashes in one transaction.
  [[nodiscard]] Result<void> record(const std::vector<Update>& updates);

 private:
  explicit StatCache(std::unique_ptr<sqlite::CacheTable> table);
  std::unique_ptr<sqlite::CacheTable> table_;
};

}  // namespace cutover
