#include "common/work_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <set>
#include <thread>

namespace cutover {
namespace {

using namespace std::chrono_literals;

TEST(WorkPoolTest, RunsEveryJobOnTheWorkersItWasGiven) {
  WorkPool pool(4, 0);
  std::atomic<int> ran{0};
  std::mutex mutex;
  std::set<unsigned> workers;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(pool.submit(0, [&](unsigned worker) -> Result<void> {
      ++ran;
      std::lock_guard lock(mutex);
      workers.insert(worker);
      return {};
    }));
  }
  ASSERT_TRUE(pool.finish());
  EXPECT_EQ(ran, 200);
  for (unsigned w : workers) EXPECT_LT(w, 4U);
}

TEST(WorkPoolTest, SubmitWaitsWhileQueuedJobsHoldTheMemoryBound) {
  WorkPool pool(1, 100);
  std::latch release(1);
  std::atomic<bool> first_running{false};
  // The first job occupies the only worker; the second fills the bound while queued.
  ASSERT_TRUE(pool.submit(0, [&](unsigned) -> Result<void> {
    first_running = true;
    release.wait();
    return {};
  }));
  while (!first_running) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(pool.submit(80, [](unsigned) -> Result<void> { return {}; }));

  std::atomic<bool> third_queued{false};
  std::jthread submitter([&] {
    EXPECT_TRUE(pool.submit(80, [](unsigned) -> Result<void> { return {}; }));
    third_queued = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(third_queued) << "160 bytes queued under a bound of 100";
  release.count_down();
  submitter.join();
  EXPECT_TRUE(third_queued);
  EXPECT_TRUE(pool.finish());
}

TEST(WorkPoolTest, TheFirstFailureDropsTheRestAndIsWhatFinishReturns) {
  WorkPool pool(1, 0);
  std::atomic<int> ran_after{0};
  ASSERT_TRUE(pool.submit(0, [](unsigned) -> Result<void> { return fail(Errc::io, "disk full"); }));
  // Whatever was queued behind the failure, or submitted after it, does not run.
  for (int i = 0; i < 50; ++i) {
    if (!pool.submit(0, [&](unsigned) -> Result<void> {
          ++ran_after;
          return fail(Errc::io, "a later failure");
        })) {
      break;
    }
  }
  auto done = pool.finish();
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().message, "disk full");
  EXPECT_TRUE(pool.failed());
  // A job that was already running when the first failed may finish; the one worker here
  // runs jobs in order, so none of the later ones can.
  EXPECT_EQ(ran_after, 0);
}

}  // namespace
}  // namespace cutover
