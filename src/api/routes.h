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
#include "cutover/api/api_server.h"
#include "cutover/api/tokens.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pipeline/gc.h"

namespace cutover::api {

// A remote deploy between its start (the file list) and its finalize: which blobs it needs, and
// the pointer it saw. Holds the store lock shared all along, so gc cannot collect a blob the
// deploy was told it need not upload.
struct PendingDeploy {
  PendingDeploy(DeployRecord r, StoreLock l) : record(std::move(r)), lock(std::move(l)) {}

  DeployRecord record;  // as begun in the history (status running)
  StoreLock lock;
  bool activate = true;
  std::optional<std::string> expected_pointer;
  std::map<std::string, FileEntry> files;      // path → hash, size, media type
  std::map<std::string, std::uint64_t> blobs;  // every distinct hash → its size
  std::size_t missing_at_start = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> last_used_ms{0};  // steady clock, for the abandon timeout
  std::atomic<std::uint64_t> uploaded{0};     // blobs stored by this deploy's uploads
  std::atomic<std::uint64_t> uploaded_bytes{0};
};
using PendingPtr = std::shared_ptr<PendingDeploy>;

// The remote deploys waiting for blobs or a finalize. Thread-safe.
class PendingDeploys {
 public:
  void add(PendingPtr deploy);
  // The deploy, marked as used now; null if it is not pending.
  [[nodiscard]] PendingPtr find(const std::string& id);
  // Removes and returns it (a finalize in progress owns it alone); null if not pending.
  [[nodiscard]] PendingPtr take(const std::string& id);
  // Those unused for longer than `timeout`, removed.
  [[nodiscard]] std::vector<PendingPtr> takeExpired(std::chrono::milliseconds timeout);
  [[nodiscard]] std::vector<PendingPtr> takeAll();

 private:
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
  [[nodiscard]] std::string siteUrl(const std::string& site) const;
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
void postWebhook(ApiState& state, Call& call);

// Routes that change something (deploy_routes.cc).
void postActivate(ApiState& state, Call& call);
void postRollback(ApiState& state, Call& call);
void postArchive(ApiState& state, Call& call);
void postRemoteDeploy(ApiState& state, Call& call);
void putBlob(ApiState& state, Call& call);
void postFinalize(ApiState& state, Call& call);

}  // namespace cutover::api
