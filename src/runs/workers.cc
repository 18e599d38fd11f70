#include "runs/workers.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "cutover/common/fd.h"
#include "cutover/common/guard.h"
#include "cutover/common/names.h"
#include "cutover/pipeline/activate.h"
#include "cutover/store/manifest.h"
#include "pipeline/build/command.h"
#include "pipeline/build/git.h"
#include "runs/deploy_job.h"
#include "runs/scheduled.h"

namespace cutover {
namespace {

std::filesystem::path hostLockFile(const std::filesystem::path& data_dir) {
  return data_dir / "pipeline.lock";
}

Result<void> validateRequest(const DeployRequest& request, const Config* config) {
  if (auto ok = validateSiteName(request.site); !ok) return ok;
  if (!request.commit.empty() && !build::isCommitId(request.commit)) {
    return fail(Errc::invalid_argument,
                fmt::format("'{}' is not a full commit id (40 hex digits)", request.commit));
  }
  if (request.archive.empty() && config != nullptr) {
    const SiteConfig* site = config->site(request.site);
    if (site == nullptr || !site->builds()) {
      return fail(Errc::invalid_argument,
                  fmt::format("site {} has no repo in {}, so there is nothing to build",
                              request.site, config->file.string()));
    }
  }
  return {};
}

// Removes the workspaces of builds that are not running any more (their process died).
void removeStaleWorkspaces(History& history, const std::filesystem::path& data_dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir / "tmp", ec)) {
    auto name = entry.path().filename().string();
    if (!name.starts_with("build-")) continue;
    auto record = history.find(name.substr(6));
    if (!record) continue;
    if (*record && (*record)->is(DeployStatus::running)) continue;
    std::filesystem::remove_all(entry.path(), ec);
  }
}

}  // namespace

std::filesystem::path deployLogPath(const std::filesystem::path& data_dir,
                                    const std::string& deploy_id) {
  return data_dir / "logs" / (deploy_id + ".log");
}

Result<std::string> enqueueDeploy(History& history, const std::filesystem::path& data_dir,
                                  const DeployRequest& request) {
  if (auto ok = validateRequest(request, nullptr); !ok) return tl::unexpected(ok.error());
  DeployRecord record;
  record.id = newDeployId();
  record.site = request.site;
  record.trigger = request.trigger;
  record.commit = request.commit;
  record.branch = request.branch;
  record.archive = request.archive.string();
  record.remove_archive = request.remove_archive;
  record.preview = request.preview || request.pr != 0;
  record.pr = request.pr;
  record.head_ref = request.head_ref;
  record.source = request.archive.empty() ? std::string() : request.archive.filename().string();
  record.log = deployLogPath(std::filesystem::absolute(data_dir), record.id).string();
  if (auto r = history.enqueue(record); !r) return tl::unexpected(r.error());
  return record.id;
}

bool pipelineRunning(const std::filesystem::path& data_dir) {
  UniqueFd fd(::open(hostLockFile(data_dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return false;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return false;  // nobody holds it shared
  return errno == EWOULDBLOCK;
}

// The pollers: one thread that asks each polled site's repo for its branch head
// (`git ls-remote`) every poll_interval and queues a build when it moved.
class Poller {
 public:
  Poller(Workers& workers, History& history, std::shared_ptr<const Config> config,
         const std::filesystem::path& data_dir)
      : workers_(workers),
        history_(history),
        config_(std::move(config)),
        home_(data_dir / "tmp" / "poll-home") {
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  }
  ~Poller() { stop(); }
  void stop() {
    thread_.request_stop();
    {
      std::lock_guard lock(mutex_);
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Watched {
    const SiteConfig* site;
    std::string last;  // the head seen last (or the commit deployed last)
    std::chrono::steady_clock::time_point due;
  };

  void run(std::stop_token stop) {
    std::vector<Watched> watched;
    for (const auto& site : config_->sites) {
      if (!site.builds() || site.poll_interval.count() == 0) continue;
      Watched w{&site, {}, std::chrono::steady_clock::now()};
      if (auto latest = history_.latestCommit(site.name); latest && *latest)
        w.last = (*latest)->commit;
      watched.push_back(w);
    }
    if (watched.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(home_, ec);
    while (!stop.stop_requested()) {
      auto now = std::chrono::steady_clock::now();
      auto next = now + std::chrono::hours(1);
      for (auto& w : watched) {
        if (w.due <= now) {
          (void)guarded("polling " + w.site->name, [&] { check(w, stop); });
          w.due = std::chrono::steady_clock::now() + w.site->poll_interval;
        }
        next = std::min(next, w.due);
      }
      std::unique_lock lock(mutex_);
      cv_.wait_until(lock, next, [&] { return stop.stop_requested(); });
    }
  }

  void check(Watched& w, std::stop_token stop) {
    build::GitOptions git;
    git.env = build::cleanEnvironment(home_);
    git.timeout = std::chrono::seconds(60);
    git.stop = stop;
    auto head = build::remoteHead(w.site->repo, w.site->branch, git);
    if (!head) {
      log::warn("cutover: polling {}: {}", w.site->name, head.error().message);
      return;
    }
    if (*head == w.last) return;
    DeployRequest request{w.site->name, "poll", *head, w.site->branch};
    if (auto id = workers_.submit(request); id) {
      log::info("cutover: {} moved to {}: deploy {} queued", w.site->name, head->substr(0, 7), *id);
      w.last = *head;
    }
  }

  Workers& workers_;
  History& history_;
  std::shared_ptr<const Config> config_;  // the sites polled point into it
  std::filesystem::path home_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::jthread thread_;
};

struct Workers::State {
  std::shared_ptr<const Config> config;  // replaced whole by reconfigure(), under `mutex`
  PipelineContext context;
  WorkersOptions options;
  UniqueFd host_lock;

  std::mutex mutex;
  std::condition_variable wake;      // a request was submitted, or stopping
  std::condition_variable finished;  // a deploy ended
  bool stopping = false;
  unsigned running = 0;
  std::vector<std::jthread> threads;
  std::unique_ptr<Poller> poller;
  std::unique_ptr<ScheduledActivations> scheduler;  // `cutover schedule`

  // A job that ended by an exception is a failed deploy, not a running one forever.
  void recordFailed(const std::string& id, const std::string& why) const {
    auto found = context.history->find(id);
    if (!found || !*found || (*found)->finishedOutcome()) return;
    DeployRecord record = **found;
    record.status = toString(DeployStatus::failed);
    record.stage.clear();
    record.finished = nowRfc3339();
    record.error = why;
    if (auto saved = context.history->update(record); !saved) {
      log::error("cutover: recording deploy {}: {}", id, saved.error().message);
    }
  }

  void work(std::stop_token stop) {
    while (true) {
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
        ++running;  // counted before the claim, so stop() waits for a deploy being taken
      }
      auto claimed = context.history->claim(options.only_sites);
      if (claimed && *claimed) {
        std::string id = (*claimed)->id;
        std::shared_ptr<const Config> now = snapshot();
        auto ran = guarded("deploy " + id, [&] {
          runDeployJob(std::move(**claimed), *now, context, options.data_dir, stop);
        });
        if (!ran) recordFailed(id, ran.error().message);
      } else if (!claimed) {
        log::error("cutover: taking a queued deploy: {}", claimed.error().message);
      }
      std::unique_lock lock(mutex);
      --running;
      finished.notify_all();
      if (claimed && *claimed) continue;  // more may be waiting
      wake.wait_for(lock, options.queue_poll, [&] { return stopping; });
    }
  }

  std::shared_ptr<const Config> snapshot() {
    std::lock_guard lock(mutex);
    return config;
  }
};

Workers::Workers(std::unique_ptr<State> state) : state_(std::move(state)) {}

Workers::~Workers() { stop(); }

std::shared_ptr<const Config> Workers::config() const { return state_->snapshot(); }

void Workers::reconfigure(Config config) {
  auto next = std::make_shared<const Config>(std::move(config));
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return;
    state_->config = next;
  }
  if (state_->options.poll) {
    // The poller is this thread's alone to replace: reloads come one at a time.
    if (state_->poller) state_->poller->stop();
    state_->poller =
        std::make_unique<Poller>(*this, *state_->context.history, next, state_->options.data_dir);
  }
}

Result<std::unique_ptr<Workers>> Workers::start(Config config, PipelineContext context,
                                                WorkersOptions options) {
  if (context.history == nullptr) {
    return fail(Errc::invalid_argument, "the pipeline's workers need the deploy history");
  }
  options.data_dir = std::filesystem::absolute(options.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir / "tmp", ec);
  if (ec)
    return fail(Errc::io,
                "cannot create " + (options.data_dir / "tmp").string() + ": " + ec.message());
  auto state = std::make_unique<State>();
  if (options.advertise) {
    state->host_lock.reset(
        ::open(hostLockFile(options.data_dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!state->host_lock.valid() || ::flock(state->host_lock.get(), LOCK_SH) != 0) {
      return failErrno("cannot lock " + hostLockFile(options.data_dir).string(), errno);
    }
  }
  for (const auto& site : config.sites) {
    if (site.builds() && !site.sandbox) {
      log::warn(
          "cutover: warning: site {} builds without a sandbox (sandbox = false): its build can "
          "read this server's environment, its config with every site's secrets and the data "
          "folder",
          site.name);
    }
  }
  if (auto r = context.history->failAbandoned(); !r) return tl::unexpected(r.error());
  removeStaleWorkspaces(*context.history, options.data_dir);
  unsigned threads = options.threads != 0 ? options.threads : std::max(1U, config.workers);
  state->config = std::make_shared<const Config>(std::move(config));
  state->context = context;
  state->options = std::move(options);
  std::unique_ptr<Workers> workers(new Workers(std::move(state)));
  auto* s = workers->state_.get();
  for (unsigned i = 0; i < threads; ++i) {
    s->threads.emplace_back([s](std::stop_token stop) { s->work(stop); });
  }
  if (s->options.poll) {
    s->poller =
        std::make_unique<Poller>(*workers, *s->context.history, s->config, s->options.data_dir);
  }
  if (s->options.schedule) s->scheduler = std::make_unique<ScheduledActivations>(s->context);
  return workers;
}

PointerStore& Workers::pointers() const { return *state_->context.pointers; }

std::optional<DeployLock> Workers::deployLock(const std::string& site) const {
  auto live = readLivePointer(*state_->context.pointers, site);
  if (!live || !*live) return std::nullopt;
  return (*live)->lock;
}

Result<std::string> Workers::submit(const DeployRequest& request) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return fail(Errc::unavailable, "the pipeline is shutting down");
  }
  auto config = state_->snapshot();
  if (auto ok = validateRequest(request, config.get()); !ok) return tl::unexpected(ok.error());
  auto id = enqueueDeploy(*state_->context.history, state_->options.data_dir, request);
  if (id) state_->wake.notify_one();
  return id;
}

void Workers::stop() {
  if (state_->poller) state_->poller->stop();
  state_->scheduler.reset();
  std::unique_lock lock(state_->mutex);
  if (!state_->stopping) {
    state_->stopping = true;
    state_->wake.notify_all();
    state_->finished.wait_for(lock, state_->options.shutdown_grace,
                              [&] { return state_->running == 0; });
  }
  lock.unlock();
  // Past the grace: the stop token kills what still builds; the deploy records it failed.
  for (auto& t : state_->threads) t.request_stop();
  for (auto& t : state_->threads) {
    if (t.joinable()) t.join();
  }
  state_->threads.clear();
  state_->host_lock.reset();  // other processes' `pipeline run` now build for themselves
}

}  // namespace cutover
