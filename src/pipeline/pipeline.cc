// The deploy pipeline, stage by stage. Every deploy runs this list; the ways in differ only in
// where the files come from:
//
//   deploy()               a folder or archive on this machine (`cutover deploy`, the API's
//                          archive upload)
//   runDeployJob()         a queued deploy (runs/deploy_job.cc): stage 2 fetches and builds a
//                          commit, and its output folder goes through runPipeline()
//   RemoteUpload           a remote deploy through the API (upload.h): begin, accept the blobs
//                          the site lacks (stage 3, hashed by the client), then finish runs 4-8
//
//   1. source    open the folder or archive, within the site's limits     source/
//   2. build     (queued deploys of a repo) fetch the commit and build it  build/
//   3. upload    store every blob the store lacks, and flush               upload.cc
//   4. rules     take _redirects and _headers out of the files             rules_stage.cc
//   5. guard     what the live version served as immutable stays so        immutable_guard.cc
//   6. compress  store the brotli and gzip forms                           precompress.cc
//   7. commit    the manifest, under a fresh version id; its preview link   here
//   8. activate  flip the pointer with compare-and-set, unless locked      activate.cc
//
// Each deploy's record (status, stages, outcome) is kept by one Recorder (recorder.h).
#include "pipeline/pipeline.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <set>

#include "cutover/common/names.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/gc.h"
#include "cutover/pointer/records.h"
#include "pipeline/immutable_guard.h"
#include "pipeline/precompress.h"
#include "pipeline/recorder.h"
#include "pipeline/rules_stage.h"
#include "pipeline/store_lock.h"
#include "pipeline/upload.h"
#include "store/local/local_object_store.h"

namespace cutover {
namespace {

class StageClock {
 public:
  explicit StageClock(std::vector<StageTiming>& stages) : stages_(stages) {}
  void finish(Stage stage) {
    auto now = std::chrono::steady_clock::now();
    stages_.push_back({std::string(toString(stage)),
                       std::chrono::duration<double, std::milli>(now - start_).count()});
    start_ = now;
  }

 private:
  std::vector<StageTiming>& stages_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Commits the manifest under a fresh version id; a taken id (astronomically rare) draws again.
// A version id chosen in advance (a build was told it) is used as it is, or the deploy fails.
Result<std::string> commitVersion(ObjectStore& objects, Manifest& manifest,
                                  const std::string& prefix, const std::string& chosen) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    manifest.version = chosen.empty() ? newVersionId(prefix) : chosen;
    auto committed = objects.commitManifest(manifest);
    if (committed) return manifest.version;
    if (!chosen.empty()) return tl::unexpected(committed.error());
    if (committed.error().code != Errc::already_exists) return tl::unexpected(committed.error());
  }
  return fail(Errc::io, "could not find an unused version id");
}

// Stages 1 and 3 for a local source, then the shared ones.
Result<void> runStages(const PipelineContext& context, const DeployOptions& options,
                       DeployReport& report, CreatedBlobs& created) {
  StageClock clock(report.stages);
  if (auto ok = validateSiteName(options.site); !ok) return ok;

  auto lock = StoreLock::acquire(
      context.lock_file, StoreLock::Mode::shared,
      FleetRequest{context.pointers, "deploy " + options.site, options.site, {}, {}});
  if (!lock) return tl::unexpected(lock.error());

  // The pointer as it was when this deploy started: activation succeeds only if it is unchanged.
  auto before = context.pointers->get(liveKey(options.site));
  if (!before) return tl::unexpected(before.error());

  // 1. Source.
  auto source = openSource(options.source, options.limits);
  if (!source) return tl::unexpected(source.error());
  report.source = (*source)->describe();

  // 3. Upload.
  auto uploaded = uploadSource(context, **source, options, created);
  if (!uploaded) return tl::unexpected(uploaded.error());
  if (uploaded->files.empty()) {
    return fail(Errc::invalid_argument, report.source + " contains no files");
  }
  report.files = uploaded->files.size();
  report.new_files = uploaded->new_files;
  report.reused_files = report.files - report.new_files;
  report.bytes = uploaded->bytes;
  report.new_bytes = uploaded->new_bytes;
  clock.finish(Stage::store);

  // 4-8.
  FinalizeInput input{options.site, report.source,    std::move(uploaded->files),
                      *before,      options.activate, options.version_prefix};
  input.version = options.version;
  input.precompress = options.precompress;
  input.compression = options.compression;
  input.preview_seconds = options.preview_seconds;
  input.progress = options.progress;
  input.local = std::move(uploaded->local);
  input.created = &created;
  return finalizeVersion(context, std::move(input), report);
}

// Manifests are stamped in this fixed-width format, so they compare as strings; a manifest
// stamped up to this long before the deploy started is still checked, for clock steps.
constexpr auto kClockSlack = std::chrono::seconds(5);

std::string stampBefore(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t - kClockSlack);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

// After a deploy failed without committing its manifest: removes the blobs it created, under the
// rule deploy() documents. Best effort: whatever stays, gc collects. Returns how many went.
std::size_t removeWhatItAdded(const PipelineContext& context, std::vector<std::string> created,
                              std::chrono::system_clock::time_point started) {
  if (created.empty() || context.lock_file.empty()) return 0;
  // Another machine may share an S3 store and reuse a blob without this machine's lock.
  if (dynamic_cast<LocalObjectStore*>(context.objects) == nullptr) return 0;
  UniqueFd lock(::open(context.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock.valid()) return 0;
  int rc = 0;
  do {
    rc = ::flock(lock.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return 0;  // a deploy or gc is running: one of them may rely on these blobs

  // No deploy runs now; one that ran since this one started and named a created blob committed
  // its manifest after this deploy started.
  std::set<std::string> doomed(created.begin(), created.end());
  auto sites = context.objects->listSites();
  if (!sites) return 0;
  std::string since = stampBefore(started);
  for (const auto& site : *sites) {
    auto versions = context.objects->listVersions(site);
    if (!versions) return 0;
    for (const auto& info : *versions) {
      if (!info.created.empty() && info.created < since) continue;
      auto manifest = context.objects->readManifest(site, info.version);
      if (!manifest) return 0;
      for (const auto& [path, file] : manifest->files) {
        doomed.erase(file.hash);
        if (file.br.present()) doomed.erase(file.br.hash);
        if (file.gzip.present()) doomed.erase(file.gzip.hash);
      }
    }
  }
  std::size_t removed = 0;
  for (const auto& hash : doomed) {
    if (context.objects->deleteBlob(hash)) ++removed;
  }
  return removed;
}

}  // namespace

Result<void> finalizeVersion(const PipelineContext& context, FinalizeInput input,
                             DeployReport& report) {
  StageClock clock(report.stages);
  // Between storing the files and committing the manifest, the version gains what is not a file:
  // its rules (the `_redirects` and `_headers` files, parsed and taken out of the file list) and
  // the precompressed forms of its files, and the names it must not serve as immutable. A failure
  // here still changes nothing live.
  // 4. Rules.
  auto rules = takeRules(*context.objects, input.files);
  if (!rules) return tl::unexpected(rules.error());
  // 5. Guard.
  auto guard =
      guardImmutableNames(*context.objects, input.site, input.expected_pointer, input.files);
  if (!guard) return tl::unexpected(guard.error());
  report.warnings = std::move(guard->warnings);
  // 6. Compress.
  if (input.precompress) {
    PrecompressProgress progress;
    if (input.progress) {
      progress = [&](std::uint64_t done, std::uint64_t total, std::uint64_t files_done,
                     std::uint64_t files_total) {
        input.progress(toString(Stage::compress), done, total, files_done, files_total);
      };
    }
    auto compressed = precompress(*context.objects, context.compress_cache, input.files,
                                  input.compression, progress, &input.local, input.created);
    if (!compressed) return tl::unexpected(compressed.error());
    report.precompressed = *compressed;
    clock.finish(Stage::compress);
  }

  // 7. Commit.
  Manifest manifest;
  manifest.site = input.site;
  manifest.created = nowRfc3339();
  manifest.source = input.source;
  manifest.files = std::move(input.files);
  manifest.rules = std::move(*rules);
  manifest.short_cache = std::move(guard->short_cache);
  auto version = commitVersion(*context.objects, manifest, input.version_prefix, input.version);
  if (!version) return tl::unexpected(version.error());
  report.version = *version;
  // Its preview link, in the same stage: from here the version answers at its preview host, and
  // gc keeps it while the link is open (until then the deploy's lease keeps it).
  if (input.preview_seconds > 0) {
    std::int64_t now = std::time(nullptr);
    std::int64_t until = now + input.preview_seconds;
    if (auto issued = setPreviewLink(*context.pointers, input.site, report.version, until, now);
        !issued) {
      return tl::unexpected(issued.error());
    }
    report.preview_until = until;
  }
  clock.finish(Stage::commit);

  // 8. Activate, unless the site's deploys are locked: then the version stays stored, not live.
  if (!input.activate) return {};
  auto locked = [&](const std::optional<std::string>& raw) -> bool {
    auto pointer = raw ? LivePointer::fromJson(*raw) : Result<LivePointer>(LivePointer{});
    if (!pointer || !pointer->lock) return false;
    report.locked = pointer->lock;
    report.warnings.push_back(fmt::format(
        "site {} is locked ({}, {}): version {} is stored, not live; `cutover activate {} {}` "
        "makes it live, `cutover unlock {}` lets the next deploy go live",
        input.site, pointer->lock->reason, pointer->lock->by, report.version, input.site,
        report.version, input.site));
    return true;
  };
  if (locked(input.expected_pointer)) return {};
  // This deploy committed the version itself, so the flip needs no further check.
  auto flipped = flipPointer(*context.pointers, input.site, report.version, input.expected_pointer,
                             report.deploy_id);
  if (!flipped && flipped.error().code == Errc::conflict) {
    // Locked while this deploy ran: that is the lock's answer, not a lost race.
    auto now = context.pointers->get(liveKey(input.site));
    if (now && locked(*now)) return {};
  }
  if (!flipped) {
    auto error = flipped.error();
    if (error.code == Errc::conflict) {
      error.message = fmt::format(
          "site {} was changed by another deploy or activation while this one ran, so it was not "
          "made live; version {} is stored: `cutover activate {} {}` makes it live",
          input.site, report.version, input.site, report.version);
    }
    return tl::unexpected(std::move(error));
  }
  report.activated = true;
  report.previous = flipped->previous;
  clock.finish(Stage::activate);
  return {};
}

Result<void> runPipeline(const PipelineContext& context, const DeployOptions& options,
                         DeployReport& report) {
  report.site = options.site;
  report.source = options.source.string();
  auto started = std::chrono::system_clock::now();
  CreatedBlobs created;
  auto result = runStages(context, options, report, created);
  if (!result && report.version.empty()) {
    (void)removeWhatItAdded(context, created.take(), started);
  }
  return result;
}

Result<DeployReport> deploy(const PipelineContext& context, const DeployOptions& options) {
  DeployRecord record;
  record.site = options.site;
  record.source = options.source.string();
  record.trigger = options.trigger;
  Recorder recorder(record, context.history);
  if (auto begun = recorder.begin(); !begun) return tl::unexpected(begun.error());
  DeployReport report;
  report.deploy_id = record.id;
  auto result = runPipeline(context, options, report);
  record.source = report.source;
  recorder.take(report);
  recorder.finish(result);
  if (auto saved = recorder.save(); !saved && result) return tl::unexpected(saved.error());
  if (!result) return tl::unexpected(result.error());
  return report;
}

}  // namespace cutover
