#include "runs/deploy_job.h"

#include <fmt/format.h>

#include <ctime>

#include "cutover/pointer/aliases.h"
#include "cutover/store/manifest.h"
#include "pipeline/build/build.h"
#include "pipeline/build/command.h"
#include "pipeline/build/git.h"
#include "pipeline/pipeline.h"
#include "pipeline/recorder.h"
#include "runs/workers.h"

namespace cutover {
namespace {

// Stores and activates `source` through the pipeline's stages from the upload on, with the marks
// "uploading" and, from the stages' own timings, "activating".
Result<DeployReport> storeAndActivate(Recorder& recorder, const PipelineContext& context,
                                      const std::filesystem::path& source,
                                      const SourceLimits& limits, const std::string& version_prefix,
                                      build::BuildLog& log, const std::string& version = {}) {
  DeployRecord& record = recorder.record();
  // Build outputs live in a fresh workspace every time, so the stat cache would only gather dead
  // paths.
  PipelineContext fresh = context;
  fresh.stat_cache = nullptr;
  DeployOptions options;
  options.site = record.site;
  options.source = source;
  options.trigger = record.trigger;
  options.version_prefix = version_prefix;
  options.version = version;
  options.limits = limits;
  options.activate = !record.preview;
  DeployReport report;
  report.deploy_id = record.id;
  auto uploading_at = nowUnixMs();
  recorder.mark(Mark::uploading, uploading_at);
  log.note("storing " + source.filename().string());
  if (auto ran = runPipeline(fresh, options, report); !ran) return tl::unexpected(ran.error());
  double before_flip = 0;
  for (const auto& s : report.stages) {
    if (s.name != toString(Stage::activate)) before_flip += s.ms;
  }
  if (report.activated) {
    record.timeline.push_back({std::string(toString(Mark::activating)),
                               uploading_at + static_cast<std::int64_t>(before_flip)});
  }
  recorder.take(report);
  log.note(fmt::format("stored version {}: {} files ({} new)", report.version, report.files,
                       report.new_files));
  if (report.activated) log.note(fmt::format("live: {} → {}", record.site, report.version));
  return report;
}

// A preview build of a branch or pull request moves its alias to the version just stored (whose
// preview link keeps it from gc meanwhile), then keeps the site within its cap of aliases.
Result<void> moveAlias(DeployRecord& record, const SiteConfig& site, PointerStore& pointers,
                       const std::string& version, build::BuildLog& log) {
  AliasTarget target{site.name, record.branch, record.pr, record.commit,
                     static_cast<std::int64_t>(site.previews.expires.count())};
  auto moved = flipAlias(pointers, target, version, record.id, std::time(nullptr));
  if (!moved) {
    return fail(moved.error().code,
                fmt::format("version {} is stored, but its preview alias did not move: {}", version,
                            moved.error().message));
  }
  record.alias = moved->first;
  log.note(fmt::format("preview: {}--{} → {}", record.alias, site.name, version));
  auto trimmed = trimAliases(pointers, site.name, site.previews.max, record.alias);
  if (!trimmed) {
    log.note("could not keep the site within its cap of previews: " + trimmed.error().message);
  } else {
    for (const auto& name : *trimmed) {
      log.note(fmt::format("preview {}--{} retired: the site keeps at most {} previews", name,
                           site.name, site.previews.max));
    }
  }
  return {};
}

// 2. Build (pipeline.cc lists the stages): fetch the commit, run the site's build command, then
// the output goes on through the pipeline.
Result<DeployReport> runBuild(Recorder& recorder, const Config& config,
                              const PipelineContext& context, const std::filesystem::path& data_dir,
                              build::BuildLog& log, std::stop_token stop) {
  DeployRecord& record = recorder.record();
  const SiteConfig* site = config.site(record.site);
  if (site == nullptr || !site->builds()) {
    return fail(Errc::invalid_argument,
                fmt::format("site {} has no repo in {}, so there is nothing to build", record.site,
                            config.file.string()));
  }
  build::BuildPlan plan;
  plan.site = *site;
  if (record.branch.empty()) record.branch = site->branch;
  // Only the production branch goes live: any other branch, or a pull request, is a preview.
  if (record.branch != site->branch || record.pr != 0) record.preview = true;
  if (record.preview) {
    for (auto& [name, value] : site->previews.envFor(record.branch)) plan.site.env[name] = value;
  }
  plan.branch = record.branch;
  plan.pr = record.pr;
  plan.ref = !record.commit.empty()     ? record.commit
             : !record.head_ref.empty() ? record.head_ref
                                        : record.branch;
  plan.hidden = data_dir;
  plan.deploy_id = record.id;
  plan.production = !record.preview;  // a production build goes live; a preview build does not
  std::string port = config.serve_listen.substr(config.serve_listen.rfind(':') + 1);
  plan.url = site->hosts.empty() ? fmt::format("http://{}.localhost:{}", site->name, port)
                                 : "https://" + site->hosts.front();
  plan.preview_url = fmt::format("http://{{version}}--{}.localhost:{}", site->name, port);
  if (site->build_cache) plan.cache = build::buildCacheFolder(data_dir, site->name);
  build::Workspace workspace(data_dir / "tmp" / ("build-" + record.id));
  auto started = nowUnixMs();
  // Recorded as soon as it is checked out, so a build that fails still names its commit.
  auto checked_out = [&](const build::CommitInfo& commit) {
    record.commit = commit.sha;
    record.commit_message = commit.subject;
    record.commit_author = commit.author;
    record.source = fmt::format("{}@{}", site->repo, commit.sha.substr(0, 12));
    recorder.saveOrLog();
  };
  auto entered = [&](std::string_view mark) { recorder.mark(parseMark(mark).value()); };
  auto built = build::buildSite(plan, workspace, log, entered, stop, checked_out);
  if (!built) return tl::unexpected(built.error());
  double fetch_ms = 0;
  for (const auto& m : record.timeline) {
    if (m.name == toString(Mark::building)) fetch_ms = static_cast<double>(m.at_ms - started);
  }
  recorder.time(Stage::fetch, fetch_ms);
  recorder.time(Stage::build, built->command_ms);
  recorder.saveOrLog();
  auto stored = storeAndActivate(recorder, context, built->output, config.limitsFor(record.site),
                                 built->commit.sha.substr(0, 7), log, built->version);
  if (!stored || !record.preview) return stored;
  if (auto moved = moveAlias(record, *site, *context.pointers, stored->version, log); !moved) {
    return tl::unexpected(moved.error());
  }
  return stored;
}

// A pushed commit is deployed only while it is its branch's head: a push delivered again later
// (a replayed webhook), or one a newer push has overtaken, would otherwise put an old commit live.
// nullopt: build it; else why not. A head that cannot be read lets the build go on, and fail at
// its fetch if the repository is unreachable.
std::optional<std::string> stalePush(const DeployRecord& record, const Config& config,
                                     const std::filesystem::path& data_dir, std::stop_token stop) {
  if (record.trigger != "webhook" || !build::isCommitId(record.commit)) return std::nullopt;
  const SiteConfig* site = config.site(record.site);
  if (site == nullptr || !site->builds()) return std::nullopt;
  const std::string& branch = !record.head_ref.empty() ? record.head_ref
                              : record.branch.empty()  ? site->branch
                                                       : record.branch;
  auto home = data_dir / "tmp" / "poll-home";
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  build::GitOptions git;
  git.env = build::cleanEnvironment(home);
  git.timeout = std::chrono::seconds(60);
  git.stop = stop;
  auto head = build::remoteHead(site->repo, branch, git);
  if (!head) {
    if (head.error().code != Errc::not_found) return std::nullopt;
    return fmt::format("ignored: branch {} no longer exists, so {} is not its head", branch,
                       record.commit.substr(0, 12));
  }
  if (*head == record.commit) return std::nullopt;
  return fmt::format(
      "ignored: {} is not the head of branch {} (the head is {}); an old or "
      "replayed push is not deployed",
      record.commit.substr(0, 12), branch, head->substr(0, 12));
}

}  // namespace

void runDeployJob(DeployRecord record, const Config& config, const PipelineContext& context,
                  const std::filesystem::path& data_dir, std::stop_token stop) {
  Recorder recorder(record, context.history);
  if (record.log.empty()) record.log = deployLogPath(data_dir, record.id).string();
  auto log = build::BuildLog::open(record.log);
  if (!log) {
    recorder.finish(&log.error());
    recorder.saveOrLog();
    return;
  }
  (*log)->note(fmt::format("deploy {} of {} ({})", record.id, record.site, record.trigger));
  Result<DeployReport> result;
  if (!record.archive.empty()) {
    record.source = std::filesystem::path(record.archive).filename().string();
    result = storeAndActivate(recorder, context, record.archive, config.limitsFor(record.site), "",
                              **log);
  } else if (auto stale = stalePush(record, config, data_dir, stop)) {
    (*log)->note(*stale);
    recorder.ignore(std::move(*stale));
    return;
  } else {
    result = runBuild(recorder, config, context, data_dir, **log, stop);
  }
  // The log has the output already: its first line says why, once.
  if (!result) {
    const auto& message = result.error().message;
    (*log)->note("failed: " + message.substr(0, message.find('\n')));
  }
  if (record.remove_archive && !record.archive.empty()) {
    std::error_code ec;
    std::filesystem::remove(record.archive, ec);
  }
  recorder.finish(result);
  recorder.saveOrLog();
}

}  // namespace cutover
