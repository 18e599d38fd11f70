#include "edge/file_cache.h"

namespace cutover::edge {

FileCache::FileCache(std::uint64_t capacity_bytes, std::size_t shards)
    : shard_capacity_(capacity_bytes / (shards == 0 ? 1 : shards)) {
  shards_.resize(shards == 0 ? 1 : shards);
  for (auto& shard : shards_) shard = std::make_unique<Shard>();
}

FileCache::Shard& FileCache::shardFor(std::string_view hash) {
  return *shards_[StringHash{}(hash) % shards_.size()];
}

std::shared_ptr<const std::string> FileCache::find(std::string_view hash) {
  Shard& shard = shardFor(hash);
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(hash);
  if (it == shard.index.end()) return nullptr;
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return it->second->bytes;
}

std::shared_ptr<const std::string> FileCache::insert(std::string_view hash, std::string bytes) {
  auto value = std::make_shared<const std::string>(std::move(bytes));
  if (value->size() > shard_capacity_) return value;
  Shard& shard = shardFor(hash);
  std::lock_guard lock(shard.mutex);
  if (auto it = shard.index.find(hash); it != shard.index.end()) {
    // Another request loaded it meanwhile; the bytes are the same (same hash).
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return it->second->bytes;
  }
  while (!shard.lru.empty() && shard.bytes + value->size() > shard_capacity_) {
    Entry& last = shard.lru.back();
    shard.bytes -= last.bytes->size();
    shard.index.erase(last.hash);
    shard.lru.pop_back();
  }
  shard.lru.push_front(Entry{std::string(hash), value});
  shard.index.emplace(shard.lru.front().hash, shard.lru.begin());
  shard.bytes += value->size();
  return value;
}

std::uint64_t FileCache::bytes() const {
  std::uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->bytes;
  }
  return total;
}

}  // namespace cutover::edge
