#pragma once

#include <cstdint>
#include <string_view>

namespace cutover {

// Bounds on what one deploy may contain; past any of them the deploy fails with too_large
// before the disk fills: a folder's sizes are checked when it is listed, an archive's declared
// sizes before each entry is read and its actual bytes while they stream. Set globally with
// [limits] in cutover.toml, per site with [sites.NAME.limits], and per deploy with the deploy
// command's --max-file-size, --max-total-size and --max-files.
struct SourceLimits {
  std::uint64_t max_file_bytes = 512ULL << 20;  // one file: 512 MiB
  std::uint64_t max_total_bytes = 10ULL << 30;  // all files: 10 GiB
  std::uint64_t max_files = 100'000;            // number of files
};

// Where each limit is set, for the messages of a refused deploy.
inline constexpr std::string_view kMaxFileSizeHint =
    "max_file_size in cutover.toml's [limits], or deploy --max-file-size";
inline constexpr std::string_view kMaxTotalSizeHint =
    "max_total_size in cutover.toml's [limits], or deploy --max-total-size";
inline constexpr std::string_view kMaxFilesHint =
    "max_files in cutover.toml's [limits], or deploy --max-files";

}  // namespace cutover
