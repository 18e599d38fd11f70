// The PointerStore contract: a fixture parameterised by backend. pointer_store_contract.cc holds
// the tests; each backend's file instantiates them (INSTANTIATE_TEST_SUITE_P) in its own binary.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "cutover/pointer/pointer_store.h"
#include "support/temp_dir.h"

namespace cutover::contract {

using namespace std::chrono_literals;
using Map = std::map<std::string, std::string>;

struct PointerStoreBackend {
  std::string name;
  std::function<PointerStorePtr(const testing::TempDir&)> make;
};

inline void PrintTo(const PointerStoreBackend& backend, std::ostream* out) { *out << backend.name; }

// Every event a watch delivered, and a way to wait for one.
class Recorder {
 public:
  std::function<void(const PointerEvent&)> callback() {
    return [this](const PointerEvent& event) {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      cv_.notify_all();
    };
  }

  // Waits until `done(events)` holds; false after 5 s.
  bool waitFor(const std::function<bool(const std::vector<PointerEvent>&)>& done) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 5s, [&] { return done(events_); });
  }

  bool waitForValue(const std::string& key, const std::optional<std::string>& value) {
    return waitFor([&](const auto& events) {
      for (const auto& e : events) {
        if (e.key == key && e.value == value) return true;
      }
      return false;
    });
  }

  std::vector<PointerEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

  // The value the watcher would believe `key` holds now, from the events it got.
  std::optional<std::optional<std::string>> lastValue(const std::string& key) {
    std::lock_guard lock(mutex_);
    std::optional<std::optional<std::string>> last;
    for (const auto& e : events_) {
      if (e.key == key) last = e.value;
    }
    return last;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<PointerEvent> events_;
};

class PointerStoreContract : public ::testing::TestWithParam<PointerStoreBackend> {
 protected:
  void SetUp() override { store_ = GetParam().make(dir_); }

  void set(const std::string& key, const std::optional<std::string>& expected,
           const std::optional<std::string>& desired) {
    auto result = store_->compareAndSet(key, expected, desired);
    ASSERT_TRUE(result) << result.error().describe();
  }

  std::optional<std::string> get(const std::string& key) {
    auto result = store_->get(key);
    EXPECT_TRUE(result) << result.error().describe();
    return result ? *result : std::nullopt;
  }

  Map list(const std::string& prefix) {
    auto result = store_->list(prefix);
    EXPECT_TRUE(result) << result.error().describe();
    return result ? *result : Map{};
  }

  WatchHandlePtr watch(const std::string& prefix, Recorder& recorder) {
    auto handle = store_->watch(prefix, recorder.callback());
    EXPECT_TRUE(handle) << handle.error().describe();
    return handle ? std::move(*handle) : nullptr;
  }

  testing::TempDir dir_;
  PointerStorePtr store_;
};

inline std::string backendName(const ::testing::TestParamInfo<PointerStoreBackend>& param) {
  return param.param.name;
}

}  // namespace cutover::contract
