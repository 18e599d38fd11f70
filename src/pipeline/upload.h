#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "cutover/common/result.h"
#include "cutover/pipeline/deploy.h"
#include "cutover/pipeline/precompress.h"
#include "cutover/store/manifest.h"
#include "pipeline/created_blobs.h"

namespace cutover {

// What the upload stage produced: every file's entry, what it cost, and where the content that
// precompression will want is at hand locally.
struct UploadResult {
  std::map<std::string, FileEntry> files;
  std::uint64_t new_files = 0, new_bytes = 0, bytes = 0;
  LocalContent local;
};

// Reads every file of `source` and stores the blobs `objects` lacks, then flushes them so they
// are durable. Folder files whose identity is in the stat cache are not read unless their blob
// is missing; other folder files are read once, straight into the store, on several threads.
// When options.precompress is set, the precompression candidates' local copies are noted: a
// folder's files by path, an archive's small entries by keeping their bytes (up to a bound).
// Every blob this call stores that the store lacked is noted in `created` as it is stored, so a
// deploy that fails later, or here, knows what it added.
[[nodiscard]] Result<UploadResult> uploadSource(const PipelineContext& context, Source& source,
                                                const DeployOptions& options,
                                                CreatedBlobs& created);

}  // namespace cutover
