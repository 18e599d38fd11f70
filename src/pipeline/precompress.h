#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "cutover/common/result.h"
#include "cutover/pipeline/precompress.h"
#include "cutover/store/manifest.h"
#include "cutover/store/object_store.h"
#include "pipeline/compress_cache.h"
#include "pipeline/created_blobs.h"

namespace cutover {

// Whether files of this Content-Type gain from compression: text, JSON, XML, SVG, JavaScript,
// WebAssembly, uncompressed fonts and bitmaps. Already-compressed formats (PNG, JPEG, WOFF2,
// zip, video, ...) and unknown types are not.
[[nodiscard]] bool isCompressibleMediaType(std::string_view media_type);

// Whether precompress() tries to make forms of a file of this size and type.
[[nodiscard]] bool isPrecompressCandidate(std::uint64_t size, std::string_view media_type,
                                          const PrecompressOptions& options);

// `done` of `total` bytes of content compressed, over `files_done` of `files_total` contents.
using PrecompressProgress = std::function<void(
    std::uint64_t done, std::uint64_t total, std::uint64_t files_done, std::uint64_t files_total)>;

// Gives every file of a compressible type over options.min_size its brotli and gzip forms
// (entry.br, entry.gzip), each stored as a blob of its own and kept only where it is worth it:
// at least 32 bytes and 1% smaller than the file. Distinct contents are compressed once, on
// options.threads threads; contents `cache` knows (and whose forms the store still holds) are
// not compressed again. Content is compressed from its copy in `local` when there is one that
// still has its hash, else read from the store. The forms are flushed (durable) before this
// returns; the cache is updated after that. Any store failure fails the whole step, naming the
// file. Forms the store did not hold are noted in `created` (when given) as they are stored.
// Files are compressed as streams: memory does not grow with their size.
[[nodiscard]] Result<PrecompressReport> precompress(ObjectStore& objects, CompressCache* cache,
                                                    std::map<std::string, FileEntry>& files,
                                                    const PrecompressOptions& options,
                                                    const PrecompressProgress& progress = {},
                                                    const LocalContent* local = nullptr,
                                                    CreatedBlobs* created = nullptr);

}  // namespace cutover
