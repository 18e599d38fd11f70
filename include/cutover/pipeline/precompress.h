#pragma once

#include <cstdint>

namespace cutover {

// How a deploy makes the brotli and gzip forms of its files. Each distinct content is
// compressed once (the compress cache remembers it), so these costs are paid by the first deploy
// that carries the content. Measured on this project's 2-core machine, CPU seconds per MB of
// text: brotli 11 ~1.1, brotli 10 ~0.35, brotli 9 ~0.2 on large files (but slower than 10 on
// small ones: its tables are sized for the level, not the file), gzip 9 ~0.03. Brotli 10 makes
// forms 1-2% larger than 11 at a third of the cost, so it is the default.
struct PrecompressOptions {
  std::uint64_t min_size = 1024;  // files of this size or smaller get no forms
  int brotli_quality = 10;        // 0–11, for files up to brotli_large_from bytes
  int brotli_large_quality = 9;   // for larger files
  std::uint64_t brotli_large_from = 512 * 1024;
  int gzip_level = 9;    // 1–9
  unsigned threads = 0;  // 0: the machine's hardware threads
  // Bytes of file content held in memory at once by the compressing threads (one file larger
  // than this is still compressed, alone).
  std::uint64_t max_in_flight = 256ULL << 20;
};

// What precompression did.
struct PrecompressReport {
  std::uint64_t candidates = 0;  // files of a compressible type over min_size
  std::uint64_t compressed = 0;  // distinct contents compressed by this run
  std::uint64_t cached = 0;      // distinct contents whose forms came from the compress cache
  std::uint64_t files = 0;       // files that have at least one form
  std::uint64_t bytes = 0;       // the size of those files as stored
  std::uint64_t br_files = 0, br_bytes = 0;      // files with a brotli form, and its total size
  std::uint64_t gzip_files = 0, gzip_bytes = 0;  // likewise for gzip
  std::uint64_t new_blobs = 0;  // forms this run stored that the store did not hold
};

}  // namespace cutover
