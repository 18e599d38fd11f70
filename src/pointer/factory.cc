#include <cstdlib>
#include <string>

#include "common/percent.h"
#include "cutover/common/config_error.h"
#include "cutover/pointer/pointer_store.h"
#include "pointer/embedded/embedded_pointer_store.h"
#include "pointer/etcd/etcd_pointer_store.h"
#include "pointer/memory/memory_pointer_store.h"
#include "pointer/redis/redis_pointer_store.h"

namespace cutover {
namespace {

constexpr std::string_view kSupported =
    "use file:///absolute/path or a folder path (a store on this machine), "
    "etcd://host1:2379,host2:2379[/prefix] (an etcd cluster), "
    "redis://[:password@]host:port[/db][?prefix=P] (a Redis server), or memory: (tests)";

// "scheme:" as in RFC 3986: a letter, then letters, digits, '+', '-' or '.'.
bool hasScheme(std::string_view uri) {
  auto colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto isAlpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!isAlpha(uri[0])) return false;
  for (char c : uri.substr(1, colon - 1)) {
    if (!isAlpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// The folder a file: URI names ("file:///var/lib/x", "file://localhost/var/lib/x", %XX decoded).
std::string folderOfFileUri(const std::string& uri) {
  std::string_view rest = std::string_view(uri).substr(std::string_view("file://").size());
  if (rest.starts_with("localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (!rest.starts_with('/')) {
    throw ConfigError("pointer store URI \"" + uri +
                      "\" does not name an absolute path on this machine: write file:///abs/path");
  }
  std::string path;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() && cutover::hexValue(rest[i + 1]) >= 0 &&
        cutover::hexValue(rest[i + 2]) >= 0) {
      path +=
          static_cast<char>(cutover::hexValue(rest[i + 1]) * 16 + cutover::hexValue(rest[i + 2]));
      i += 2;
    } else {
      path += rest[i];
    }
  }
  return path;
}

}  // namespace

PointerStorePtr makePointerStore(const std::string& uri) {
  if (uri == "memory:") return std::make_shared<MemoryPointerStore>();
  if (uri.starts_with("etcd://")) {
    auto options = EtcdPointerStore::parseUri(uri);
    if (!options) throw ConfigError(options.error().message);
    return std::make_shared<EtcdPointerStore>(std::move(*options));
  }
  if (uri.starts_with("redis://")) {
    // The password comes from the URI or the environment, never from a flag of its own.
    auto config = parseRedisUri(uri, std::getenv("REDIS_PASSWORD"));
    if (!config) {
      throw ConfigError("pointer store URI \"" + redactRedisUri(uri) +
                        "\": " + config.error().message);
    }
    return RedisPointerStore::open(std::move(*config));
  }
  std::string folder;
  if (uri.starts_with("file://")) {
    folder = folderOfFileUri(uri);
  } else if (uri.empty()) {
    throw ConfigError(std::string("no pointer store given: ") + std::string(kSupported));
  } else if (hasScheme(uri)) {
    throw ConfigError("pointer store URI \"" + uri +
                      "\" is not supported by this build: " + std::string(kSupported));
  } else {
    folder = uri;
  }
  auto store = EmbeddedPointerStore::open(folder);
  if (!store) {
    throw ConfigError("cannot open the pointer store in " + folder + ": " +
                      store.error().describe());
  }
  return std::move(*store);
}

}  // namespace cutover
