#pragma once

#include <memory>
#include <string>

#include "cli/api_host.h"
#include "cli/data_dir.h"
#include "runs/workers.h"

namespace cutover::cli {

// What `cutover serve --config` and `cutover pipeline` run besides the edge: the build workers
// of the config's sites and the admin API, whose POST /hooks/<site> hands webhooks to the
// workers. Before starting them it writes the config's host names and settings to the pointer
// store, so every edge on that store answers by them.
class PipelineHost {
 public:
  struct Options {
    std::string api_listen;  // empty: no API (and so no webhooks)
    std::string site_url;    // where a site answers, for the API's answers ("{site}" replaced)
  };

  // `data` must be opened with a config, its history and its compress cache, and outlive the
  // host. Fails if the config's settings cannot be written, or the workers or API cannot start.
  [[nodiscard]] static Result<std::unique_ptr<PipelineHost>> start(DataDir& data, Options options);
  ~PipelineHost();
  PipelineHost(const PipelineHost&) = delete;
  PipelineHost& operator=(const PipelineHost&) = delete;

  // Takes a reloaded config: writes its hosts and settings, then hands it to the workers
  // (sites, builds, webhook secrets, polling).
  [[nodiscard]] Result<void> reload(PointerStore& pointers, const Config& config);

  // The API first (no new requests or webhooks), then the workers (running builds get their
  // grace, then are killed and recorded failed). Idempotent.
  void stop();

 private:
  PipelineHost() = default;
  std::unique_ptr<Workers> workers_;
  std::unique_ptr<ApiHost> api_;
};

// Writes each configured site's hosts (replacing the list) and the settings it sets to the
// pointer store; prints a line per site it changed.
[[nodiscard]] Result<void> applySiteConfig(PointerStore& pointers, const Config& config);

}  // namespace cutover::cli
