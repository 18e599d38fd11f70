#include <fmt/format.h>

#include <cctype>
#include <string_view>

#include "common/percent.h"
#include "cutover/common/config_error.h"
#include "cutover/store/object_store.h"
#include "store/cache/caching_object_store.h"
#include "store/local/local_object_store.h"
#include "store/memory/memory_object_store.h"
#include "store/s3/s3_object_store.h"

namespace cutover {
namespace {

constexpr std::string_view kForms =
    "use file:///absolute/path, a plain path, s3://bucket/prefix?endpoint=..., or memory:";

// The scheme of "scheme:..." (RFC 3986: a letter, then letters, digits, '+', '-', '.'), or
// empty when `uri` is a plain path.
std::string_view schemeOf(std::string_view uri) {
  auto colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  std::string_view scheme = uri.substr(0, colon);
  if (!std::isalpha(static_cast<unsigned char>(scheme[0]))) return {};
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return {};
  }
  return scheme;
}

// Percent-decoded; a malformed escape or %00 is a ConfigError.
std::string percentDecode(std::string_view text, const std::string& uri) {
  auto decoded = cutover::percentDecode(text);
  if (!decoded || text.find("%00") != std::string_view::npos) {
    throw ConfigError(fmt::format("object store URI '{}': bad percent-escape", uri));
  }
  return std::move(*decoded);
}

ObjectStorePtr openLocal(const std::string& path, const std::string& uri) {
  auto store = LocalObjectStore::open(path);
  if (!store) {
    throw ConfigError(fmt::format("object store '{}': {}", uri, store.error().message));
  }
  return std::move(*store);
}

}  // namespace

ObjectStorePtr makeObjectStore(const std::string& uri) {
  if (uri.empty()) throw ConfigError(fmt::format("object store URI is empty: {}", kForms));
  std::string_view scheme = schemeOf(uri);
  if (scheme.empty()) return openLocal(uri, uri);
  std::string_view rest = std::string_view(uri).substr(scheme.size() + 1);
  if (scheme == "memory") {
    if (!rest.empty()) {
      throw ConfigError(fmt::format("object store URI '{}': memory: takes nothing after it", uri));
    }
    return std::make_shared<MemoryObjectStore>();
  }
  if (scheme == "file") {
    if (!rest.starts_with("//")) {
      throw ConfigError(fmt::format("object store URI '{}' is not a file URI: {}", uri, kForms));
    }
    rest.remove_prefix(2);
    // file://host/path: only the local machine is served.
    auto slash = rest.find('/');
    std::string_view host = rest.substr(0, slash);
    if (slash == std::string_view::npos || (!host.empty() && host != "localhost")) {
      throw ConfigError(fmt::format(
          "object store URI '{}' must name an absolute path on this machine: {}", uri, kForms));
    }
    return openLocal(percentDecode(rest.substr(slash), uri), uri);
  }
  if (scheme == "s3") {
    auto config = parseS3Uri(uri);
    if (!config) throw ConfigError(config.error().message);
    return std::make_shared<S3ObjectStore>(std::move(*config));
  }
  throw ConfigError(
      fmt::format("object store URI '{}': scheme '{}' is not supported: {}", uri, scheme, kForms));
}

bool isRemoteObjectStoreUri(std::string_view uri) { return schemeOf(uri) == "s3"; }

Result<ObjectStorePtr> cacheObjectStore(ObjectStorePtr remote, const std::filesystem::path& dir) {
  CachingObjectStore::Options options;
  options.dir = dir;
  auto cache = CachingObjectStore::open(std::move(remote), std::move(options));
  if (!cache) return tl::unexpected(cache.error());
  return ObjectStorePtr(std::move(*cache));
}

}  // namespace cutover
