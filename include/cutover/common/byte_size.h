#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cutover {

// A size as written in cutover.toml or on the command line: a whole number of bytes, or one
// with a unit: "25MB", "512MiB", "10 GiB" (kB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of
// 1024; B or none: bytes). nullopt if malformed or past 2^64.
[[nodiscard]] std::optional<std::uint64_t> parseByteSize(std::string_view text);

// A size for a message: "512 MiB" when it is a whole number of a binary unit, else "N bytes".
[[nodiscard]] std::string formatByteSize(std::uint64_t bytes);

}  // namespace cutover
