#include "cli/lock_wait.h"

#include <cstdio>

#include "pipeline/store_lock.h"
#include "runs/history.h"

namespace cutover::cli {

WaitNotice::WaitNotice(std::chrono::milliseconds delay, std::function<void()> say) {
  thread_ = std::thread([this, delay, say = std::move(say)] {
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, delay, [&] { return done_; })) return;
    say();
  });
}

void WaitNotice::done() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void explainStoreLockWait(const DataDir& data) {
  std::fprintf(stderr, "cutover: waiting for the store lock (%s): running deploys hold it",
               data.lockFile().c_str());
  auto history = History::open(data.root / "deploys.sqlite");
  auto recent = history ? (*history)->list("", 500) : Result<std::vector<DeployRecord>>{};
  std::size_t shown = 0;
  if (recent) {
    for (const auto& d : *recent) {
      if (!d.is(DeployStatus::running)) continue;
      std::fprintf(stderr, "%s\n  %s: site %s, %s, started %s (pid %lld)", shown == 0 ? ":" : "",
                   d.id.c_str(), d.site.c_str(),
                   d.trigger == "remote"
                       ? "a remote deploy waiting for its uploads and finalize (the API drops it "
                         "after [api] pending_deploy_timeout without a request)"
                       : ("a " + d.trigger + " deploy").c_str(),
                   d.started.c_str(), static_cast<long long>(d.pid));
      ++shown;
    }
  }
  if (shown == 0) {
    std::fprintf(stderr, " (none is recorded running: an activation, or another gc)");
  }
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace cutover::cli
