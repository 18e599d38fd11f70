#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "cutover/config/config.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/store/object_store.h"
#include "pipeline/compress_cache.h"
#include "pipeline/stat_cache.h"
#include "runs/history.h"

namespace cutover::cli {

// The data folder's databases cannot be opened for a reason that is no configuration mistake
// (a full disk, an i/o error): main() prints it and exits with status 1, not 2.
class DataDirError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Everything one machine keeps, in one folder:
//   objects/          blobs and manifests (LocalObjectStore), unless a store URI names another
//   pointers/         live pointers and site settings (EmbeddedPointerStore), unless a pointers
//                     URI names another
//   cache/            an edge's copies of blobs read from a remote object store
//   deploys.sqlite    deploy history
//   statcache.sqlite  hashes of deployed folder files, by identity
//   compresscache.sqlite  precompressed forms made so far, by content hash
//   store.lock        held shared by deploys, exclusive by gc
//
// Which stores: $CUTOVER_STORE / $CUTOVER_POINTERS, else the config's `store` / `pointers`, else
// the folders above. The folder: --data-dir or $CUTOVER_DATA, else the config's data_dir, else
// ./cutover-data.
struct DataDir {
  std::filesystem::path root;
  std::optional<Config> config;  // --config FILE or $CUTOVER_CONFIG, when given
  std::string objects_uri;       // the stores opened, for messages
  std::string pointers_uri;
  ObjectStorePtr objects;
  PointerStorePtr pointers;
  std::unique_ptr<History> history;
  std::unique_ptr<StatCache> stat_cache;
  std::unique_ptr<CompressCache> compress_cache;

  // What a command opens besides the two stores. SQLite files are left closed where they are not
  // needed: opening one writes to the file system, and a flip's fsync would then pay for it.
  enum Parts : unsigned {
    stores = 0,
    with_history = 1,
    with_stat_cache = 2,
    with_compress_cache = 4,
    all = 7,
    // A remote object store is read through the edge's cache (cache/); for `cutover serve`.
    edge_cache = 8,
  };

  // Reads the config (if one is given) and opens (creating if needed) the data folder and the
  // stores. Throws ConfigError if it cannot.
  static DataDir open(const GlobalOptions& global, unsigned parts = all);

  [[nodiscard]] std::filesystem::path lockFile() const { return root / "store.lock"; }
  [[nodiscard]] PipelineContext context() const {
    return PipelineContext{objects.get(),    pointers.get(), history.get(),
                           stat_cache.get(), lockFile(),     compress_cache.get()};
  }
};

}  // namespace cutover::cli
