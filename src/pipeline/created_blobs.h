#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cutover {

// The blobs one deploy stored that the store did not hold before (StoredBlob::created), noted
// from any thread: what a failed deploy may remove again (see deploy()).
class CreatedBlobs {
 public:
  void add(std::string hash) {
    std::lock_guard lock(mutex_);
    hashes_.push_back(std::move(hash));
  }
  [[nodiscard]] std::vector<std::string> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(hashes_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> hashes_;
};

}  // namespace cutover
