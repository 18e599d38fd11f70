#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "edge/routing_table.h"

namespace cutover::edge {

// Small files' bytes in memory, by blob hash, least recently used out first, bounded in bytes.
// Keyed by content hash, so an entry can never be stale. Lookups and inserts each take one
// shard's lock briefly; loading a blob happens outside any lock (the caller reads, then inserts).
class FileCache {
 public:
  explicit FileCache(std::uint64_t capacity_bytes, std::size_t shards = 16);

  // The cached bytes of `hash` (and marks them recently used), or null.
  [[nodiscard]] std::shared_ptr<const std::string> find(std::string_view hash);

  // Caches `bytes` under `hash` (unless it is larger than a shard can hold) and returns what the
  // cache holds for it now, which is what the caller should send.
  std::shared_ptr<const std::string> insert(std::string_view hash, std::string bytes);

  // Bytes held now, over all shards.
  [[nodiscard]] std::uint64_t bytes() const;

 private:
  struct Entry {
    std::string hash;
    std::shared_ptr<const std::string> bytes;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<Entry> lru;  // front: most recently used
    StringMap<std::list<Entry>::iterator> index;
    std::uint64_t bytes = 0;
  };

  Shard& shardFor(std::string_view hash);

  std::uint64_t shard_capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace cutover::edge
