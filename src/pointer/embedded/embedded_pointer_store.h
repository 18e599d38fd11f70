#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "cutover/common/fd.h"
#include "cutover/pointer/pointer_store.h"

namespace cutover {

// A PointerStore in one folder, shared by every process on the machine that opens it; no server.
//
// On disk: one file per key, named by percent-encoding the key ("live/docs" → "live%2Fdocs"), or,
// when that would not fit a file name, "~" + SHA-256 of the key. Each file holds the key, a
// newline and the value. Names starting with '.' are never keys: ".lock" is flocked around every
// compare-and-set (the kernel drops an flock when its process dies, so a killed writer never
// leaves a stale lock) and ".tmp-*" are the new values being written, renamed over the key's file
// once fsynced. Watches read inotify events for the folder on one dispatcher thread per store.
class EmbeddedPointerStore final : public PointerStore {
 public:
  struct Options {
    // fsync the new file and the folder on every change. Only tests that need thousands of
    // writes in a second turn this off; it changes nothing but what survives a power cut.
    bool durable = true;
  };

  // Opens (creating it if needed) the store in `folder`, and removes temp files that killed
  // writers left behind.
  [[nodiscard]] static Result<std::shared_ptr<EmbeddedPointerStore>> open(
      const std::filesystem::path& folder);
  [[nodiscard]] static Result<std::shared_ptr<EmbeddedPointerStore>> open(
      const std::filesystem::path& folder, Options options);

  ~EmbeddedPointerStore() override;
  EmbeddedPointerStore(const EmbeddedPointerStore&) = delete;
  EmbeddedPointerStore& operator=(const EmbeddedPointerStore&) = delete;

  Result<std::optional<std::string>> get(const std::string& key) override;
  Result<void> compareAndSet(const std::string& key, const std::optional<std::string>& expected,
                             const std::optional<std::string>& desired) override;
  Result<std::map<std::string, std::string>> list(const std::string& prefix) override;
  Result<WatchHandlePtr> watch(const std::string& prefix,
                               std::function<void(const PointerEvent&)> callback) override;

  [[nodiscard]] const std::filesystem::path& folder() const { return folder_; }

  // The file name that holds `key` (exposed for tests of the on-disk format).
  [[nodiscard]] static std::string fileNameOf(std::string_view key);

  class Dispatcher;  // the inotify reader and watch registry, shared with the watch handles

 private:
  EmbeddedPointerStore(std::filesystem::path folder, Options options, UniqueFd dir, UniqueFd lock);

  Result<void> lockedRemoveTempFiles();

  std::filesystem::path folder_;
  Options options_;
  UniqueFd dir_;   // the folder, for *at() calls and fsync
  UniqueFd lock_;  // ".lock", flocked by compareAndSet
  // flock excludes other processes only: threads of this one share `lock_`'s open file.
  std::mutex write_mutex_;
  std::mutex dispatcher_mutex_;
  std::shared_ptr<Dispatcher> dispatcher_;  // started by the first watch()
};

}  // namespace cutover
