#include "cli/data_dir.h"

#include <cstdio>
#include <cstdlib>

#include "cutover/common/config_error.h"

namespace cutover::cli {

namespace {

// $name when set and not empty, else `configured` when not empty, else `fallback`.
std::string choose(const char* name, const std::string& configured, const std::string& fallback) {
  if (const char* env = std::getenv(name); env != nullptr && *env != '\0') return env;
  return configured.empty() ? fallback : configured;
}

}  // namespace

DataDir DataDir::open(const GlobalOptions& global, unsigned parts) {
  std::optional<Config> config;
  if (!global.config.empty()) {
    auto loaded = loadConfig(global.config);
    if (!loaded) throw ConfigError(loaded.error().message);
    config = std::move(*loaded);
  }
  std::filesystem::path root = global.data_dir;
  if (!global.data_dir_set && config && !config->data_dir.empty()) root = config->data_dir;
  std::error_code ec;
  bool created = std::filesystem::create_directories(root, ec);
  if (ec) throw ConfigError("cannot create data folder " + root.string() + ": " + ec.message());
  // A new folder holds no sites: a command that meant the folder `cutover serve` uses would
  // otherwise act on an empty one without a word.
  if (created) {
    std::fprintf(stderr, "cutover: created a new data folder %s%s\n", root.c_str(),
                 config || global.data_dir_set
                     ? ""
                     : (std::string(" (no cutover.toml found in ./, $CUTOVER_CONFIG or ") +
                        kSystemConfig + ")")
                           .c_str());
  }
  DataDir dir;
  dir.root = std::filesystem::absolute(root).lexically_normal();
  dir.objects_uri = choose("CUTOVER_STORE", config ? config->store : std::string(),
                           (dir.root / "objects").string());
  dir.pointers_uri = choose("CUTOVER_POINTERS", config ? config->pointers : std::string(),
                            (dir.root / "pointers").string());
  dir.config = std::move(config);
  dir.objects = makeObjectStore(dir.objects_uri);
  if ((parts & edge_cache) != 0 && isRemoteObjectStoreUri(dir.objects_uri)) {
    auto cached = cacheObjectStore(dir.objects, dir.root / "cache");
    if (!cached) throw ConfigError("edge cache: " + cached.error().message);
    dir.objects = std::move(*cached);
  }
  dir.pointers = makePointerStore(dir.pointers_uri);
  if ((parts & with_history) != 0) {
    auto history = History::open(dir.root / "deploys.sqlite");
    if (!history) throw DataDirError("deploy history: " + history.error().message);
    dir.history = std::move(*history);
  }
  if ((parts & with_stat_cache) != 0) {
    auto stat_cache = StatCache::open(dir.root / "statcache.sqlite");
    if (!stat_cache) throw DataDirError("stat cache: " + stat_cache.error().message);
    dir.stat_cache = std::move(*stat_cache);
  }
  if ((parts & with_compress_cache) != 0) {
    auto compress_cache = CompressCache::open(dir.root / "compresscache.sqlite");
    if (!compress_cache) {
      throw DataDirError("compress cache: " + compress_cache.error().message);
    }
    dir.compress_cache = std::move(*compress_cache);
  }
  return dir;
}

}  // namespace cutover::cli
