#include "common/backoff.h"

#include <algorithm>
#include <cstdint>
#include <random>

namespace cutover {

Backoff::Backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap, Jitter jitter)
    : first_(first), cap_(std::max(first, cap)), jitter_(jitter) {}

std::chrono::milliseconds Backoff::after(unsigned attempt) const {
  auto wait = first_;
  for (unsigned i = 1; i < attempt && wait < cap_; ++i) wait = std::min(wait * 2, cap_);
  if (jitter_ == Jitter::none) return wait;
  thread_local std::mt19937_64 random{std::random_device{}()};
  auto spread = jitter_ == Jitter::full ? wait.count() : wait.count() / 2;
  if (spread <= 0) return wait;
  return wait -
         std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, spread)(random));
}

}  // namespace cutover
