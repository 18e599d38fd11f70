#pragma once

#include <memory>
#include <mutex>

#include "api/tokens.h"
#include "cli/data_dir.h"
#include "cutover/api/api_server.h"

namespace cutover::cli {

// The admin API running beside another command (`cutover serve --api-listen`), with the files
// of the data folder it needs besides the stores: the history, tokens.sqlite and the compress
// cache. Stops the server before closing them.
class ApiHost {
 public:
  // Opens those files (ConfigError if it cannot) and starts the API; fails if it cannot bind.
  [[nodiscard]] static Result<std::unique_ptr<ApiHost>> start(const DataDir& data,
                                                              ApiOptions options);
  ~ApiHost();
  ApiHost(const ApiHost&) = delete;
  ApiHost& operator=(const ApiHost&) = delete;

  [[nodiscard]] ApiServer& server() { return *server_; }
  // Takes a reloaded config: the deploy limits the API applies from now on.
  void reconfigure(const Config& config);
  void stop();

 private:
  // The config's deploy limits, read by request threads and replaced by a reload.
  struct Limits {
    std::mutex mutex;
    std::shared_ptr<const Config> config;
    [[nodiscard]] SourceLimits forSite(const std::string& site);
  };

  ApiHost() = default;
  std::shared_ptr<Limits> limits_ = std::make_shared<Limits>();
  std::unique_ptr<History> history_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<CompressCache> compress_cache_;
  std::unique_ptr<ApiServer> server_;
};

}  // namespace cutover::cli
