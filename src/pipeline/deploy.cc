#include "cutover/pipeline/deploy.h"

#include <fmt/format.h>

#include <chrono>

#include "cutover/common/names.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/gc.h"
#include "cutover/pointer/records.h"
#include "pipeline/precompress.h"
#include "pipeline/rules_stage.h"
#include "pipeline/upload.h"

namespace cutover {
namespace {

class StageClock {
 public:
  explicit StageClock(std::vector<StageTiming>& stages) : stages_(stages) {}
  void finish(std::string name) {
    auto now = std::chrono::steady_clock::now();
    stages_.push_back(
        {std::move(name), std::chrono::duration<double, std::milli>(now - start_).count()});
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

Result<DeployReport> runStages(const PipelineContext& context, const DeployOptions& options,
                               DeployReport& report) {
  StageClock clock(report.stages);
  if (auto ok = validateSiteName(options.site); !ok) return tl::unexpected(ok.error());

  auto lock = StoreLock::acquire(context.lock_file, StoreLock::Mode::shared);
  if (!lock) return tl::unexpected(lock.error());

  // The pointer as it was when this deploy started: activation succeeds only if it is unchanged.
  auto before = context.pointers->get(liveKey(options.site));
  if (!before) return tl::unexpected(before.error());

  auto source = openSource(options.source, options.limits);
  if (!source) return tl::unexpected(source.error());
  report.source = (*source)->describe();

  auto uploaded = uploadSource(context, **source, options);
  if (!uploaded) return tl::unexpected(uploaded.error());
  if (uploaded->files.empty()) {
    return fail(Errc::invalid_argument, report.source + " contains no files");
  }
  report.files = uploaded->files.size();
  report.new_files = uploaded->new_files;
  report.reused_files = report.files - report.new_files;
  report.bytes = uploaded->bytes;
  report.new_bytes = uploaded->new_bytes;
  clock.finish("store");

  FinalizeInput input{options.site, report.source,    std::move(uploaded->files),
                      *before,      options.activate, options.version_prefix};
  input.version = options.version;
  input.precompress = options.precompress;
  input.compression = options.compression;
  input.progress = options.progress;
  input.local = std::move(uploaded->local);
  if (auto done = finalizeVersion(context, std::move(input), report); !done) {
    return tl::unexpected(done.error());
  }
  return report;
}

}  // namespace

Result<void> finalizeVersion(const PipelineContext& context, FinalizeInput input,
                             DeployReport& report) {
  StageClock clock(report.stages);
  // Between storing the files and committing the manifest, the version gains what is not a file:
  // its rules (the `_redirects` and `_headers` files, parsed and taken out of the file list) and
  // the precompressed forms of its files. A failure here still changes nothing live.
  auto rules = takeRules(*context.objects, input.files);
  if (!rules) return tl::unexpected(rules.error());
  if (input.precompress) {
    PrecompressProgress progress;
    if (input.progress) {
      progress = [&](std::uint64_t done, std::uint64_t total, std::uint64_t files_done,
                     std::uint64_t files_total) {
        input.progress("compress", done, total, files_done, files_total);
      };
    }
    auto compressed = precompress(*context.objects, context.compress_cache, input.files,
                                  input.compression, progress, &input.local);
    if (!compressed) return tl::unexpected(compressed.error());
    report.precompressed = *compressed;
    clock.finish("compress");
  }

  Manifest manifest;
  manifest.site = input.site;
  manifest.created = nowRfc3339();
  manifest.source = input.source;
  manifest.files = std::move(input.files);
  manifest.rules = std::move(*rules);
  auto version = commitVersion(*context.objects, manifest, input.version_prefix, input.version);
  if (!version) return tl::unexpected(version.error());
  report.version = *version;
  clock.finish("commit");

  if (!input.activate) return {};
  // This deploy committed the version itself, so the flip needs no further check.
  auto flipped = flipPointer(*context.pointers, input.site, report.version, input.expected_pointer,
                             report.deploy_id);
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
  clock.finish("activate");
  return {};
}

Result<DeployReport> deploy(const PipelineContext& context, const DeployOptions& options) {
  DeployReport report;
  report.site = options.site;
  report.source = options.source.string();

  DeployRecord record;
  record.site = options.site;
  record.source = report.source;
  record.trigger = options.trigger;
  if (context.history != nullptr) {
    if (auto begun = context.history->begin(record); !begun) return tl::unexpected(begun.error());
    report.deploy_id = record.id;
  } else {
    // A caller that records the deploy itself (the pipeline's workers) names it.
    report.deploy_id = options.deploy_id.empty() ? newDeployId() : options.deploy_id;
  }

  auto result = runStages(context, options, report);

  if (context.history != nullptr) {
    record.version = report.version;
    record.source = report.source;
    record.activated = report.activated;
    record.files = report.files;
    record.new_files = report.new_files;
    record.reused_files = report.reused_files;
    record.bytes = report.bytes;
    record.new_bytes = report.new_bytes;
    record.stages = report.stages;
    record.finished = nowRfc3339();
    record.status = result ? "succeeded" : "failed";
    if (!result) record.error = result.error().message;
    if (auto saved = context.history->update(record); !saved && result) {
      return tl::unexpected(saved.error());
    }
  }
  return result;
}

}  // namespace cutover
