#pragma once

#include <cstddef>
#include <string>

namespace cutover {

// `bytes` random bytes as twice as many lowercase hex digits: for secrets (from OpenSSL's
// generator) as well as for names that must not collide (temp files, upload tokens).
[[nodiscard]] std::string randomHex(std::size_t bytes);

}  // namespace cutover
