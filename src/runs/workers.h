#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/config/config.h"
#include "cutover/pipeline/deploy.h"
#include "runs/history.h"

namespace cutover {

// What starts a deploy of a site: a build of a commit or branch, or an uploaded archive.
struct DeployRequest {
  std::string site;
  std::string trigger = "manual";  // "push", "webhook", "poll", "api", "manual"
  std::string commit;              // build this commit; empty: the branch's head
  std::string branch;              // empty: the site's configured branch
  std::filesystem::path archive;   // deploy this archive instead of building
  bool remove_archive = false;     // the archive is a temporary upload: delete it when done
  bool preview = false;            // store it with an open preview link; never make it live
  // A preview build of a pull request (its number), at its alias pr-<N>--<site>; its head must
  // still be `head_ref` ("refs/pull/N/head") when the build starts. Implies preview.
  std::uint64_t pr = 0;
  std::string head_ref;
};

struct WorkersOptions {
  std::filesystem::path data_dir;       // holds logs/ (one log per deploy) and tmp/ (workspaces)
  unsigned threads = 0;                 // builds at once; 0: the config's `workers`
  std::vector<std::string> only_sites;  // take only these sites' requests (empty: every site)
  bool poll = true;                     // watch the branches of sites with a poll_interval
  bool schedule = true;                 // perform scheduled activations when they are due
  // Hold <data>/pipeline.lock while running, which tells `cutover pipeline run` in another
  // process that a pipeline is running, so it queues its request and leaves it to us.
  bool advertise = true;
  std::chrono::milliseconds queue_poll{100};  // how often idle workers look for queued requests
  // On stop(): how long running builds may go on before they are killed (and recorded failed).
  std::chrono::milliseconds shutdown_grace{10'000};
};

// The pipeline's workers. The queue is the history's table (see History::enqueue and claim):
// any process sharing the data folder can queue a request (a git hook running
// `cutover pipeline run`), and an idle worker here takes it within `queue_poll`. Why a table and
// not a socket: it needs no server to be reachable, survives a restart (requests queued while
// nothing ran are built when the pipeline starts), and the one transaction that takes a request
// is also what keeps one deploy per site at a time and supersedes older waiting requests, across
// every process at once.
//
// Per site one deploy at a time; sites in parallel up to `threads`. A request that arrives while
// its site builds waits; when the site is free only the newest waiting request runs, the older
// ones are recorded superseded.
//
// Shutdown (stop(), or the destructor): no new requests are taken or accepted; running deploys
// get `shutdown_grace` to finish, then their builds are killed (process group: SIGTERM, then
// SIGKILL) and recorded failed. Queued requests stay queued for the next start.
class Workers {
 public:
  // Starts the worker threads (and the pollers). `context` must outlive the workers; its history
  // is required. Removes workspaces that crashed builds left behind.
  [[nodiscard]] static Result<std::unique_ptr<Workers>> start(Config config,
                                                              PipelineContext context,
                                                              WorkersOptions options);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Queues a request and returns its deploy id at once (recorded "queued"). invalid_argument for
  // a bad site name or a build request for a site without a repo in the config; unavailable
  // once stopping.
  [[nodiscard]] Result<std::string> submit(const DeployRequest& request);

  // The pointer store the workers deploy to.
  [[nodiscard]] PointerStore& pointers() const;

  // The site's deploy lock, if it is locked (`cutover lock`); nullopt too if it cannot be read.
  [[nodiscard]] std::optional<DeployLock> deployLock(const std::string& site) const;

  // See the class comment. Idempotent.
  void stop();

  // Takes a new config (a reload): sites, builds, secrets and polling. Requests taken from now
  // on use it; a running build finishes with the config it started with. The number of worker
  // threads stays as started.
  void reconfigure(Config config);

  // The config in force; shared, so a reload does not pull it from under a caller.
  [[nodiscard]] std::shared_ptr<const Config> config() const;

 private:
  struct State;
  explicit Workers(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Queues `request` in the history without any worker in this process (for `cutover pipeline
// run` and git hooks); returns the deploy id. The log goes to <data_dir>/logs/<id>.log.
[[nodiscard]] Result<std::string> enqueueDeploy(History& history,
                                                const std::filesystem::path& data_dir,
                                                const DeployRequest& request);

// True while some process runs advertised Workers on `data_dir`.
[[nodiscard]] bool pipelineRunning(const std::filesystem::path& data_dir);

// The deploy's log file.
[[nodiscard]] std::filesystem::path deployLogPath(const std::filesystem::path& data_dir,
                                                  const std::string& deploy_id);

}  // namespace cutover
