#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cutover/common/result.h"
#include "cutover/pipeline/history.h"
#include "cutover/pipeline/source.h"
#include "cutover/pipeline/stat_cache.h"
#include "cutover/pointer/pointer_store.h"
#include "cutover/store/object_store.h"

namespace cutover {

// What the pipeline works with. Only `objects` and `pointers` are required.
struct PipelineContext {
  ObjectStore* objects = nullptr;
  PointerStore* pointers = nullptr;
  History* history = nullptr;            // records every deploy when set
  StatCache* stat_cache = nullptr;       // skips re-hashing unchanged folder files when set
  std::filesystem::path lock_file;       // shared by deploys, exclusive for gc (empty: no lock)
};

// Reported while a deploy runs: `done` of `total` bytes in `stage` ("store").
using DeployProgress = std::function<void(std::string_view stage, std::uint64_t done,
                                          std::uint64_t total, std::uint64_t files_done,
                                          std::uint64_t files_total)>;

struct DeployOptions {
  std::string site;
  std::filesystem::path source;  // a folder, .zip, .tar, .tar.gz or .tgz
  bool activate = true;          // flip the pointer when the version is stored
  std::string trigger = "cli";
  std::string version_prefix;    // e.g. a short commit id
  SourceLimits limits;
  unsigned threads = 0;          // parallel blob writers for folders; 0: a default
  DeployProgress progress;
};

struct DeployReport {
  std::string deploy_id;
  std::string site;
  std::string version;
  std::string source;
  std::string previous;  // the version live before (empty if none or not activated)
  bool activated = false;
  std::uint64_t files = 0, new_files = 0, reused_files = 0;
  std::uint64_t bytes = 0, new_bytes = 0;
  std::vector<StageTiming> stages;
};

// Runs one deploy: read the source, store every blob the store lacks, commit the manifest, and
// (unless told not to) flip the site's pointer with compare-and-set against the value seen when
// the deploy started. On any failure nothing live changes; the history records the error.
// A lost activation race fails with conflict; the version stays stored and can be activated.
[[nodiscard]] Result<DeployReport> deploy(const PipelineContext& context,
                                          const DeployOptions& options);

}  // namespace cutover
