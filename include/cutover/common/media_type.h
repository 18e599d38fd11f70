#pragma once

#include <string_view>

namespace cutover {

// The Content-Type for a file, chosen by its extension (case-insensitive); text types carry
// "; charset=utf-8". Unknown extensions are "application/octet-stream".
[[nodiscard]] std::string_view mediaTypeFor(std::string_view path);

}  // namespace cutover
