#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover {

// Where a RedisPointerStore connects, how it signs in, and how long it waits.
struct RedisConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;                     // empty: Redis's default user
  std::optional<std::string> password;  // never printed
  int db = 0;
  // Put before every key, so several cutover installs can share one Redis.
  std::string prefix = "cutover:";

  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{2000};
  // Reconnect attempts wait `reconnect_min`, doubling up to `reconnect_max`, each less a random
  // part of up to half, so edges cut off together do not all come back in the same millisecond.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{2000};
  // How often the subscriber connection is PINGed: a connection dropped without a FIN (a cable,
  // a firewall) is noticed within this plus the command timeout.
  std::chrono::milliseconds health_check{5000};

  // "redis://host:port/db" (no password), for messages.
  [[nodiscard]] std::string address() const;
  // The channel every change notice is published on. Pub/sub ignores the database number, so it
  // is part of the name.
  [[nodiscard]] std::string channel() const;
};

// Parses "redis://[[user]:password@]host[:port][/db][?prefix=P]" (user, password and prefix
// percent-decoded; host may be "[v6 address]"). The password comes from the URI's userinfo, else
// from `env_password` ($REDIS_PASSWORD), never from a command-line flag of its own. Fails with
// invalid_argument naming the part that is wrong.
[[nodiscard]] Result<RedisConfig> parseRedisUri(std::string_view uri, const char* env_password);

// `uri` with the password (if any) replaced by "***", for messages.
[[nodiscard]] std::string redactRedisUri(std::string_view uri);

}  // namespace cutover
