#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "api/tokens.h"
#include "cutover/api/api_server.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pipeline/gc.h"
#include "pipeline/store_lock.h"
#include "pipeline/upload.h"

namespace cutover::api {

// A remote deploy between its start (the file list) and its finalize, as the API keeps it: the
// upload stage's state (pipeline/upload.h) and when a request last used it.
struct PendingDeploy {
  explicit PendingDeploy(std::unique_ptr<RemoteUpload> u) : upload(std::move(u)) {}
  [[nodiscard]] const DeployRecord& record() const { return upload->record(); }

  std::unique_ptr<RemoteUpload> upload;
  std::atomic<std::int64_t> last_used_ms{0};  // steady clock, for the abandon timeout
};
using PendingPtr = std::shared_ptr<PendingDeploy>;

// How many remote deploys may wait at once, and how long one may sit unused.
struct PendingLimits {
  std::size_t per_site = 2;
  std::size_t total = 8;
  std::chrono::milliseconds timeout{15 * 60'000};
};

// Why one more pending deploy is refused: the status (429: this site has too many; 503: the
// server has), the error code, and a message naming the limit and what waits.
struct Crowded {
  int status;
  std::string code;
  std::string message;
};

// The remote deploys waiting for blobs or a finalize. Thread-safe.
class PendingDeploys {
 public:
  // Adds it unconditionally (a finalize that failed puts its deploy back).
  void add(PendingPtr deploy);
  // Why a new deploy of `site` would be one too many, or nullopt.
  [[nodiscard]] std::optional<Crowded> crowded(const std::string& site,
                                               const PendingLimits& limits);
  // Adds it unless that makes one too many (checked under the same lock as the insert).
  [[nodiscard]] std::optional<Crowded> tryAdd(PendingPtr deploy, const PendingLimits& limits);
  // The deploy, marked as used now; null if it is not pending.
  [[nodiscard]] PendingPtr find(const std::string& id);
  // Removes and returns it (a finalize in progress owns it alone); null if not pending.
  [[nodiscard]] PendingPtr take(const std::string& id);
  // Those unused for longer than `timeout`, removed.
  [[nodiscard]] std::vector<PendingPtr> takeExpired(std::chrono::milliseconds timeout);
  [[nodiscard]] std::vector<PendingPtr> takeAll();

 private:
  [[nodiscard]] std::optional<Crowded> crowdedLocked(const std::string& site,
                                                     const PendingLimits& limits) const;

  std::mutex mutex_;
  std::map<std::string, PendingPtr> deploys_;
};

// Everything the routes share.
struct ApiState {
  ApiContext context;
  ApiOptions options;
  PendingDeploys pending;

  [[nodiscard]] PipelineContext pipeline() const {
    return PipelineContext{context.objects.get(),
                           context.pointers.get(),
                           context.history,
                           nullptr,  // remote files have no local identity to cache
                           lockFile(),
                           context.compress_cache};
  }
  [[nodiscard]] std::filesystem::path lockFile() const { return context.data_dir / "store.lock"; }
  [[nodiscard]] PendingLimits pendingLimits() const {
    return PendingLimits{options.max_pending_deploys_per_site, options.max_pending_deploys,
                         options.remote_deploy_timeout};
  }
  [[nodiscard]] std::string siteUrl(const std::string& site) const;
  [[nodiscard]] SourceLimits limitsFor(const std::string& site) const {
    return options.limits_for ? options.limits_for(site) : SourceLimits{};
  }
  // Records a pending deploy as failed with `why` and lets its lock go.
  void abandon(PendingDeploy& deploy, const std::string& why) const;
};

// One request, routed: its path parameters ("site", "deploy", "hash") are validated, and the
// token (if the route needs one) allows it.
struct Call {
  const HttpRequest& request;
  BodyReader& body;
  ResponseWriter& out;
  std::optional<TokenInfo> token;
  std::map<std::string, std::string> params;

  [[nodiscard]] const std::string& param(const std::string& name) const { return params.at(name); }
};

[[nodiscard]] bool tokenAllows(const TokenInfo& token, const std::string& site);

// Read routes (read_routes.cc).
void getHealth(ApiState& state, Call& call);
void getSites(ApiState& state, Call& call);
void getSiteDeploys(ApiState& state, Call& call);
void getDeploy(ApiState& state, Call& call);
void getDeployLog(ApiState& state, Call& call);
void getTokens(ApiState& state, Call& call);
void getOpenApi(ApiState& state, Call& call);
void postWebhook(ApiState& state, Call& call);
void getPreviews(ApiState& state, Call& call);

// Routes that change something (deploy_routes.cc).
void postActivate(ApiState& state, Call& call);
void postRollback(ApiState& state, Call& call);
void postLock(ApiState& state, Call& call);
void postUnlock(ApiState& state, Call& call);
void postPromote(ApiState& state, Call& call);
void deletePreview(ApiState& state, Call& call);
void postSchedule(ApiState& state, Call& call);
void deleteSchedule(ApiState& state, Call& call);
void postArchive(ApiState& state, Call& call);
void postRemoteDeploy(ApiState& state, Call& call);
void putBlob(ApiState& state, Call& call);
void postFinalize(ApiState& state, Call& call);

}  // namespace cutover::api
