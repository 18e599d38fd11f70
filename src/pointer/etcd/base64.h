#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cutover::etcd {

// Standard base64 with padding: how etcd's JSON gateway carries every key and value (protobuf
// `bytes` fields).
[[nodiscard]] std::string base64Encode(std::string_view bytes);

// nullopt if `text` is not well-formed padded base64.
[[nodiscard]] std::optional<std::string> base64Decode(std::string_view text);

}  // namespace cutover::etcd
