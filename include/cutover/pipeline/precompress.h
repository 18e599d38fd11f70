#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>

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
  unsigned threads = 0;  // compressing at once; 0: the machine's hardware threads
  // Files in progress at once, most of them waiting on the store (reading content that has no
  // local copy, storing forms): on S3 each request waits tens of milliseconds, so waiting only
  // `threads` at a time would leave the cores idle. Files are compressed as streams, a chunk at
  // a time, so memory does not grow with their size.
  unsigned store_threads = 8;
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
  std::uint64_t read_back = 0;  // contents compressed from the store, for want of a local copy
};

// Copies of a deploy's content that it holds locally, by content hash. Precompression compresses
// from these instead of reading each blob back from the store, which on S3 is a GET per file.
// Content with no local copy (a remote deploy's blobs arrived over HTTP) is read from the store.
struct LocalContent {
  // Files whose content had the hash when they were stored. They are read again when compressed
  // and checked against it: a file changed since is read from the store instead.
  std::unordered_map<std::string, std::filesystem::path> files;
  // Content exactly as stored (an archive's entries).
  std::unordered_map<std::string, std::string> bytes;
};

}  // namespace cutover
