#include "pointer/redis/redis_config.h"

#include <charconv>

#include "common/percent.h"

namespace cutover {
namespace {

constexpr std::size_t kMaxPrefixBytes = 128;

Result<std::string> percentDecode(std::string_view text, std::string_view what) {
  auto decoded = cutover::percentDecode(text);
  if (!decoded) {
    return fail(Errc::invalid_argument,
                std::string(what) + " has a '%' not followed by two hex digits");
  }
  return std::move(*decoded);
}

Result<int> parseNumber(std::string_view text, int max, std::string_view what) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0 ||
      value > max) {
    return fail(Errc::invalid_argument, std::string(what) + " \"" + std::string(text) +
                                            "\" is not a number from 0 to " + std::to_string(max));
  }
  return value;
}

}  // namespace

std::string RedisConfig::address() const {
  bool v6 = host.find(':') != std::string::npos;
  return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" +
         std::to_string(db);
}

std::string redactRedisUri(std::string_view uri) {
  std::string_view authority =
      uri.substr(0, uri.find_first_of("/?", std::string_view("redis://").size()));
  auto at = authority.rfind('@');
  auto colon = authority.find(':', std::string_view("redis://").size());
  if (at == std::string_view::npos || colon == std::string_view::npos || colon > at) {
    return std::string(uri);
  }
  return std::string(uri.substr(0, colon + 1)) + "***" + std::string(uri.substr(at));
}

std::string RedisConfig::channel() const { return prefix + "changes@" + std::to_string(db); }

Result<RedisConfig> parseRedisUri(std::string_view uri, const char* env_password) {
  constexpr std::string_view kScheme = "redis://";
  if (!uri.starts_with(kScheme))
    return fail(Errc::invalid_argument, "it does not start with redis://");
  std::string_view rest = uri.substr(kScheme.size());
  RedisConfig config;

  std::string_view query;
  if (auto mark = rest.find('?'); mark != std::string_view::npos) {
    query = rest.substr(mark + 1);
    rest = rest.substr(0, mark);
  }
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  // The password may hold '@': the host part starts after the last one.
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    auto user = percentDecode(userinfo.substr(0, colon), "the user name");
    if (!user) return tl::unexpected(user.error());
    config.user = std::move(*user);
    if (colon != std::string_view::npos) {
      auto password = percentDecode(userinfo.substr(colon + 1), "the password");
      if (!password) return tl::unexpected(password.error());
      if (!password->empty()) config.password = std::move(*password);
    }
  }
  if (!config.password && env_password != nullptr && *env_password != '\0') {
    config.password = env_password;
  }

  std::string_view port;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return fail(Errc::invalid_argument, "the host's '[' has no closing ']'");
    }
    config.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return fail(Errc::invalid_argument, "expected ':port' after the host's ']'");
    }
    if (!after.empty()) port = after.substr(1);
  } else {
    auto colon = rest.find(':');
    config.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (config.host.empty()) return fail(Errc::invalid_argument, "no host");
  if (!port.empty()) {
    auto number = parseNumber(port, 65535, "the port");
    if (!number) return tl::unexpected(number.error());
    if (*number == 0) return fail(Errc::invalid_argument, "the port must not be 0");
    config.port = *number;
  }
  if (!path.empty()) {
    auto number = parseNumber(path, 1 << 20, "the database number");
    if (!number) return tl::unexpected(number.error());
    config.db = *number;
  }

  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (name != "prefix") {
      return fail(Errc::invalid_argument,
                  "unknown option \"" + std::string(name) + "\" (known: prefix)");
    }
    auto prefix = percentDecode(value, "the prefix");
    if (!prefix) return tl::unexpected(prefix.error());
    // Without a prefix, list("") would return every key of the database, cutover's or not.
    if (prefix->empty()) return fail(Errc::invalid_argument, "the prefix is empty");
    if (prefix->size() > kMaxPrefixBytes) {
      return fail(Errc::invalid_argument, "the prefix is over 128 bytes");
    }
    for (char c : *prefix) {
      if (c < 0x21 || c > 0x7e) {
        return fail(Errc::invalid_argument,
                    "the prefix has a byte that is not printable ASCII (or is a space)");
      }
    }
    config.prefix = std::move(*prefix);
  }
  return config;
}

}  // namespace cutover
