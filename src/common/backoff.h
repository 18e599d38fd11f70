#pragma once

#include <chrono>

namespace cutover {

// The waits between attempts at something that failed: `first`, doubling up to `cap`. With
// jitter each wait is cut by a random part (up to half of it, or all of it: "full jitter"), so
// that processes cut off together spread their attempts.
class Backoff {
 public:
  enum class Jitter { none, half, full };

  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap, Jitter jitter);

  // The wait before attempt number `attempt` + 1, after `attempt` (1, 2, ...) failed ones.
  [[nodiscard]] std::chrono::milliseconds after(unsigned attempt) const;
  // The wait after one more failed attempt; reset() after a success.
  std::chrono::milliseconds next() { return after(++failed_); }
  void reset() { failed_ = 0; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds cap_;
  Jitter jitter_;
  unsigned failed_ = 0;
};

}  // namespace cutover
