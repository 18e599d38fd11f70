#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/deploy_record.h"
#include "cutover/pipeline/precompress.h"
#include "cutover/pipeline/source.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/pointer/records.h"
#include "cutover/store/manifest.h"
#include "cutover/store/object_store.h"

namespace cutover {

class CompressCache;
class CreatedBlobs;
class History;
class StatCache;

// What the pipeline works with. Only `objects` and `pointers` are required.
struct PipelineContext {
  ObjectStore* objects = nullptr;
  PointerStore* pointers = nullptr;
  History* history = nullptr;               // records every deploy when set
  StatCache* stat_cache = nullptr;          // skips re-hashing unchanged folder files when set
  std::filesystem::path lock_file;          // shared by deploys, exclusive for gc (empty: no lock)
  CompressCache* compress_cache = nullptr;  // skips recompressing content compressed before
};

// Reported while a deploy runs: `done` of `total` bytes in `stage` ("store", "compress").
using DeployProgress =
    std::function<void(std::string_view stage, std::uint64_t done, std::uint64_t total,
                       std::uint64_t files_done, std::uint64_t files_total)>;

struct DeployOptions {
  std::string site;
  std::filesystem::path source;  // a folder, .zip, .tar, .tar.gz or .tgz
  bool activate = true;          // flip the pointer when the version is stored
  std::string trigger = "cli";
  std::string version_prefix;  // e.g. a short commit id
  std::string version;         // the version id to store as (chosen before a build); empty: new
  SourceLimits limits;
  unsigned threads = 0;  // parallel blob writers; 0: the store's parallelWrites()
  DeployProgress progress;
  bool precompress = true;  // store brotli and gzip forms of compressible files
  PrecompressOptions compression;
  // How long the version's preview link answers (and gc keeps the version); 0: no link.
  std::int64_t preview_seconds = kDefaultPreviewSeconds;
};

struct DeployReport {
  std::string deploy_id;
  std::string site;
  std::string version;
  std::string source;
  std::string previous;  // the version live before (empty if none or not activated)
  bool activated = false;
  // Set when the site's deploys are locked (`cutover lock`): the version is stored and not made
  // live. The lock's reason and who set it.
  std::optional<DeployLock> locked;
  std::int64_t preview_until = 0;  // Unix seconds until the preview link answers; 0: no link
  std::uint64_t files = 0, new_files = 0, reused_files = 0;
  std::uint64_t bytes = 0, new_bytes = 0;
  std::vector<StageTiming> stages;
  PrecompressReport precompressed;  // all zero when precompression was off
  // What the deploy did but the user should know: a changed file under a name the live version
  // served as immutable (see pipeline/immutable_guard.h), each naming the path.
  std::vector<std::string> warnings;
};

// Runs one deploy: read the source, store every blob the store lacks, commit the manifest, and
// (unless told not to) flip the site's pointer with compare-and-set against the value seen when
// the deploy started. On any failure nothing live changes; the history records the error.
// A lost activation race fails with conflict; the version stays stored and can be activated.
//
// A deploy that fails before committing its manifest removes the blobs it added (those the store
// did not hold before it wrote them), so a failure such as a full disk does not leave the disk
// full. Another deploy may have been told such a blob was present meanwhile and rely on it, so
// the removal happens only when that is known not to be the case: the store is a local folder,
// the store lock can be taken exclusively at once (no other deploy, remote deploy or gc holds
// it), and no manifest committed since this deploy started names the blob. Otherwise the blobs
// stay for `cutover gc`.
[[nodiscard]] Result<DeployReport> deploy(const PipelineContext& context,
                                          const DeployOptions& options);

// The stored files of a deploy, whatever brought them (a source read here, or blobs uploaded to
// the API), ready to become a version.
struct FinalizeInput {
  std::string site;
  std::string source;                           // for the manifest
  std::map<std::string, FileEntry> files;       // every blob stored and flushed
  std::optional<std::string> expected_pointer;  // the raw live pointer when the deploy started
  bool activate = true;
  std::string version_prefix;
  std::string version;  // the id to commit under; empty: a fresh one
  bool precompress = true;
  PrecompressOptions compression;
  std::int64_t preview_seconds = kDefaultPreviewSeconds;  // see DeployOptions
  DeployProgress progress;                                // the "compress" stage
  // Local copies of the files' content, so precompression need not read the blobs back from
  // the store; empty when the blobs came from elsewhere (uploaded to the API).
  LocalContent local;
  // Where the blobs the finalizing stores that the store lacked are noted (may be null).
  CreatedBlobs* created = nullptr;
};

// The steps every deploy ends with: the version gains its rules and precompressed forms, its
// manifest is committed under a fresh version id, its preview link is issued, and (if asked) the
// pointer flips with compare-and-set against `expected_pointer`. Fills report.version, activated,
// previous and appends the stages it timed. A lost race fails with conflict, the message saying how
// to activate the stored version. On failure nothing live changes.
[[nodiscard]] Result<void> finalizeVersion(const PipelineContext& context, FinalizeInput input,
                                           DeployReport& report);

}  // namespace cutover
