#pragma once

#include <cstdint>
#include <string_view>

namespace cutover::edge {

// What a Range field asks of a representation of `size` bytes (RFC 9110 §14).
struct ByteRange {
  enum class Kind {
    whole,          // no usable range: send everything with 200 (absent, malformed, several ranges)
    partial,        // send bytes [first, last] with 206
    unsatisfiable,  // 416 with "Content-Range: bytes */size"
  };
  Kind kind = Kind::whole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive

  [[nodiscard]] std::uint64_t length() const { return last - first + 1; }
};

// Parses one "bytes=" range: "a-b", "a-" or "-n". A field the server may ignore (another unit,
// bad syntax, more than one range) gives `whole`, as RFC 9110 allows; a well-formed range that
// starts past the end, or a suffix of zero bytes, gives `unsatisfiable`.
[[nodiscard]] ByteRange parseRange(std::string_view field, std::uint64_t size);

}  // namespace cutover::edge
