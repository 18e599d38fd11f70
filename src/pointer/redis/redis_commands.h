#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "pointer/redis/redis_config.h"
#include "pointer/redis/redis_connection.h"

// The commands RedisPointerStore sends, on a connection its caller holds; keys are the store's
// (the config's prefix is added and removed here).
namespace cutover::redis_commands {

// GET: the value of `key`, or nullopt.
[[nodiscard]] Result<std::optional<std::string>> get(RedisConnection& connection,
                                                     const RedisConfig& config,
                                                     const std::string& key);

// MGET: the values of `keys`, in their order.
[[nodiscard]] Result<std::vector<std::optional<std::string>>> getMany(
    RedisConnection& connection, const RedisConfig& config, const std::vector<std::string>& keys);

// SCAN MATCH (the prefix glob-escaped), then MGET: every key under `prefix` with its value.
// SCAN may return a key twice and misses none that exists throughout; a key removed in between
// is left out.
[[nodiscard]] Result<std::map<std::string, std::string>> list(RedisConnection& connection,
                                                              const RedisConfig& config,
                                                              const std::string& prefix);

// The compare-and-set script (loaded once into `script_sha`): true if it set, false on a
// conflict.
[[nodiscard]] Result<bool> compareAndSet(RedisConnection& connection, const RedisConfig& config,
                                         std::string& script_sha, const std::string& key,
                                         const std::optional<std::string>& expected,
                                         const std::optional<std::string>& desired);

// `text` with every glob character (* ? [ ] \) escaped, for SCAN MATCH.
[[nodiscard]] std::string escapeGlob(std::string_view text);

}  // namespace cutover::redis_commands
