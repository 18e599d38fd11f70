#include "cli/data_dir.h"

#include <cstdlib>

#include "cutover/common/config_error.h"

namespace cutover::cli {

DataDir DataDir::open(const std::filesystem::path& root, unsigned parts) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) throw ConfigError("cannot create data folder " + root.string() + ": " + ec.message());
  DataDir dir;
  dir.root = std::filesystem::absolute(root);
  // $CUTOVER_STORE puts the blobs and manifests elsewhere, e.g. in a bucket:
  // CUTOVER_STORE='s3://bucket/prefix?endpoint=http://127.0.0.1:7480'.
  const char* store = std::getenv("CUTOVER_STORE");
  dir.objects = makeObjectStore(
      store != nullptr && *store != '\0' ? std::string(store) : (dir.root / "objects").string());
  dir.pointers = makePointerStore((dir.root / "pointers").string());
  if ((parts & with_history) != 0) {
    auto history = History::open(dir.root / "deploys.sqlite");
    if (!history) throw ConfigError("deploy history: " + history.error().message);
    dir.history = std::move(*history);
  }
  if ((parts & with_stat_cache) != 0) {
    auto stat_cache = StatCache::open(dir.root / "statcache.sqlite");
    if (!stat_cache) throw ConfigError("stat cache: " + stat_cache.error().message);
    dir.stat_cache = std::move(*stat_cache);
  }
  if ((parts & with_compress_cache) != 0) {
    auto compress_cache = CompressCache::open(dir.root / "compresscache.sqlite");
    if (!compress_cache) throw ConfigError("compress cache: " + compress_cache.error().message);
    dir.compress_cache = std::move(*compress_cache);
  }
  return dir;
}

}  // namespace cutover::cli
