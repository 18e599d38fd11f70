#include "cli/api_host.h"

#include "cutover/common/config_error.h"

namespace cutover::cli {

Result<std::unique_ptr<ApiHost>> ApiHost::start(const DataDir& data, ApiOptions options) {
  std::unique_ptr<ApiHost> host(new ApiHost());
  auto history = History::open(data.root / "deploys.sqlite");
  if (!history) throw ConfigError("deploy history: " + history.error().message);
  host->history_ = std::move(*history);
  auto tokens = TokenStore::open(data.root / "tokens.sqlite");
  if (!tokens) throw ConfigError("tokens: " + tokens.error().message);
  host->tokens_ = std::move(*tokens);
  auto compress_cache = CompressCache::open(data.root / "compresscache.sqlite");
  if (!compress_cache) throw ConfigError("compress cache: " + compress_cache.error().message);
  host->compress_cache_ = std::move(*compress_cache);
  if (data.config) {
    options.max_pending_deploys = data.config->api_max_pending_deploys;
    options.max_pending_deploys_per_site = data.config->api_max_pending_deploys_per_site;
    options.remote_deploy_timeout = data.config->api_pending_deploy_timeout;
    const auto& bounds = data.config->api_connections;
    options.max_connections = bounds.total.value_or(options.max_connections);
    options.max_connections_per_client =
        bounds.per_client.value_or(options.max_connections_per_client);
    host->reconfigure(*data.config);
  }
  options.limits_for = [limits = host->limits_](const std::string& site) {
    return limits->forSite(site);
  };
  ApiContext context{data.objects,
                     data.pointers,
                     host->history_.get(),
                     host->tokens_.get(),
                     host->compress_cache_.get(),
                     data.root};
  host->server_ = makeApiServer(std::move(context), std::move(options));
  if (auto started = host->server_->start(); !started) return tl::unexpected(started.error());
  return host;
}

SourceLimits ApiHost::Limits::forSite(const std::string& site) {
  std::shared_ptr<const Config> now;
  {
    std::lock_guard guard(mutex);
    now = config;
  }
  return now ? now->limitsFor(site) : SourceLimits{};
}

void ApiHost::reconfigure(const Config& config) {
  auto next = std::make_shared<const Config>(config);
  std::lock_guard guard(limits_->mutex);
  limits_->config = std::move(next);
}

ApiHost::~ApiHost() { stop(); }

void ApiHost::stop() {
  if (server_) server_->stop();
}

}  // namespace cutover::cli
