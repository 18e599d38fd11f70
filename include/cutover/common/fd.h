#pragma once

#include <unistd.h>

#include <cstddef>
#include <string_view>
#include <utility>

#include "cutover/common/result.h"

namespace cutover {

// Owns one file descriptor and closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Writes all `size` bytes at `data` to `fd`, retrying short writes and EINTR; fails naming `what`
// ("write cache file") and the errno.
[[nodiscard]] Result<void> writeAll(int fd, const void* data, std::size_t size,
                                    std::string_view what);

}  // namespace cutover
