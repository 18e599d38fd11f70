#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace cutover {

// Streaming SHA-256; the hex digest names a blob. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(std::span<const std::byte> bytes);
  void update(std::string_view bytes);
  // 64 lowercase hex characters. The hasher cannot be used afterwards.
  [[nodiscard]] std::string finishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

[[nodiscard]] std::string sha256Hex(std::string_view bytes);

// True for exactly 64 lowercase hex characters.
[[nodiscard]] bool isBlobHash(std::string_view text);

}  // namespace cutover
