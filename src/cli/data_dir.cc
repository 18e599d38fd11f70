#include "cli/data_dir.h"

#include "cutover/common/config_error.h"

namespace cutover::cli {

DataDir DataDir::open(const std::filesystem::path& root, unsigned parts) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) throw ConfigError("cannot create data folder " + root.string() + ": " + ec.message());
  DataDir dir;
  dir.root = std::filesystem::absolute(root);
  dir.objects = makeObjectStore((dir.root / "objects").string());
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
  return dir;
}

}  // namespace cutover::cli
