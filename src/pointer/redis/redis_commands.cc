#include "pointer/redis/redis_commands.h"

#include <array>

namespace cutover::redis_commands {
namespace {

constexpr std::size_t kBatch = 512;  // keys per MGET
constexpr std::string_view kScanCount = "1000";

// KEYS[1] the key; ARGV: has-expected ("1"/"0"), expected, has-desired, desired, channel, the
// notice (the key without the prefix). Returns 1 if it set (or had nothing to do), 0 on a
// conflict. Compare, write and announce in one script: Redis runs it atomically, so no other
// writer comes between, and no change is made without its notice.
constexpr std::string_view kScript = R"lua(
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[4])
elseif current then
  redis.call('DEL', KEYS[1])
else
  return 1
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
)lua";

std::string_view textOf(const redisReply& reply) {
  return reply.str == nullptr ? std::string_view{} : std::string_view(reply.str, reply.len);
}

Error unexpectedReply(const RedisConfig& config, std::string_view doing) {
  return Error{Errc::io, "Redis at " + config.address() + " gave an unexpected reply to " +
                             std::string(doing)};
}

// A reply's value: a string, or nil (nullopt). Anything else is an error.
Result<std::optional<std::string>> valueOf(const redisReply& reply, const RedisConfig& config,
                                           std::string_view doing) {
  if (reply.type == REDIS_REPLY_NIL) return std::optional<std::string>{};
  if (reply.type == REDIS_REPLY_STRING) return std::optional<std::string>(textOf(reply));
  if (reply.type == REDIS_REPLY_ERROR) {
    return tl::unexpected(redisReplyError(reply, config.address(), doing));
  }
  return tl::unexpected(unexpectedReply(config, doing));
}

}  // namespace

std::string escapeGlob(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

Result<std::optional<std::string>> get(RedisConnection& connection, const RedisConfig& config,
                                       const std::string& key) {
  std::string full = config.prefix + key;
  auto reply = connection.command({"GET", full});
  if (!reply) return tl::unexpected(reply.error());
  return valueOf(**reply, config, "GET " + key);
}

Result<std::vector<std::optional<std::string>>> getMany(RedisConnection& connection,
                                                        const RedisConfig& config,
                                                        const std::vector<std::string>& keys) {
  std::vector<std::optional<std::string>> values;
  values.reserve(keys.size());
  for (std::size_t start = 0; start < keys.size(); start += kBatch) {
    std::size_t end = std::min(keys.size(), start + kBatch);
    std::vector<std::string> full;
    full.reserve(end - start);
    for (std::size_t i = start; i < end; ++i) full.push_back(config.prefix + keys[i]);
    std::vector<std::string_view> args{"MGET"};
    args.insert(args.end(), full.begin(), full.end());
    auto reply = connection.command(args);
    if (!reply) return tl::unexpected(reply.error());
    const redisReply& r = **reply;
    if (r.type == REDIS_REPLY_ERROR)
      return tl::unexpected(redisReplyError(r, config.address(), "MGET"));
    if (r.type != REDIS_REPLY_ARRAY || r.elements != end - start) {
      return tl::unexpected(unexpectedReply(config, "MGET"));
    }
    for (std::size_t i = 0; i < r.elements; ++i) {
      // A key of another type (WRONGTYPE for GET) comes back nil from MGET: no pointer.
      auto value = valueOf(*r.element[i], config, "MGET");
      if (!value) return tl::unexpected(value.error());
      values.push_back(std::move(*value));
    }
  }
  return values;
}

Result<std::map<std::string, std::string>> list(RedisConnection& connection,
                                                const RedisConfig& config,
                                                const std::string& prefix) {
  std::string full_prefix = config.prefix + prefix;
  std::string pattern = escapeGlob(full_prefix) + "*";
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto reply = connection.command({"SCAN", cursor, "MATCH", pattern, "COUNT", kScanCount});
    if (!reply) return tl::unexpected(reply.error());
    const redisReply& r = **reply;
    if (r.type == REDIS_REPLY_ERROR)
      return tl::unexpected(redisReplyError(r, config.address(), "SCAN"));
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
        r.element[0]->type != REDIS_REPLY_STRING || r.element[1]->type != REDIS_REPLY_ARRAY) {
      return tl::unexpected(unexpectedReply(config, "SCAN"));
    }
    cursor = std::string(textOf(*r.element[0]));
    const redisReply& batch = *r.element[1];
    for (std::size_t i = 0; i < batch.elements; ++i) {
      std::string_view name = textOf(*batch.element[i]);
      if (name.starts_with(full_prefix)) keys.emplace_back(name.substr(config.prefix.size()));
    }
  } while (cursor != "0");

  std::map<std::string, std::string> out;
  auto values = getMany(connection, config, keys);
  if (!values) return tl::unexpected(values.error());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if ((*values)[i]) out.insert_or_assign(std::move(keys[i]), std::move(*(*values)[i]));
  }
  return out;
}

Result<bool> compareAndSet(RedisConnection& connection, const RedisConfig& config,
                           std::string& script_sha, const std::string& key,
                           const std::optional<std::string>& expected,
                           const std::optional<std::string>& desired) {
  if (script_sha.empty()) {
    auto loaded = connection.command({"SCRIPT", "LOAD", kScript});
    if (!loaded) return tl::unexpected(loaded.error());
    if ((*loaded)->type == REDIS_REPLY_ERROR) {
      return tl::unexpected(redisReplyError(**loaded, config.address(), "SCRIPT LOAD"));
    }
    if ((*loaded)->type != REDIS_REPLY_STRING) {
      return tl::unexpected(unexpectedReply(config, "SCRIPT LOAD"));
    }
    script_sha = std::string(textOf(**loaded));
  }
  std::string full = config.prefix + key;
  std::string channel = config.channel();
  std::string expected_value = expected.value_or("");
  std::string desired_value = desired.value_or("");
  std::array<std::string_view, 10> args{
      "EVALSHA",      script_sha,          "1",           full,    expected ? "1" : "0",
      expected_value, desired ? "1" : "0", desired_value, channel, key};
  auto reply = connection.command(args);
  if (!reply) return tl::unexpected(reply.error());
  // A restarted Redis has forgotten the script; NOSCRIPT means it did not run, so EVAL is safe.
  if ((*reply)->type == REDIS_REPLY_ERROR && textOf(**reply).starts_with("NOSCRIPT")) {
    args[0] = "EVAL";
    args[1] = kScript;
    reply = connection.command(args);
    if (!reply) return tl::unexpected(reply.error());
  }
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_ERROR) {
    return tl::unexpected(redisReplyError(r, config.address(), "compare-and-set of " + key));
  }
  if (r.type != REDIS_REPLY_INTEGER) return tl::unexpected(unexpectedReply(config, "EVALSHA"));
  return r.integer == 1;
}

}  // namespace cutover::redis_commands
