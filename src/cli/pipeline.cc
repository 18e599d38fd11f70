#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cli/pipeline_host.h"
#include "cli/pipeline_support.h"
#include "cli/reload.h"
#include "runs/workers.h"

namespace cutover::cli {
namespace {

struct RunArgs {
  std::string site;
  std::string commit;
  std::string branch;
  std::string archive;
  std::string trigger = "manual";
  bool no_wait = false;
  bool quiet = false;
  bool preview = false;
  unsigned timeout = 0;
};

struct PipelineArgs {
  std::string api_listen;
  bool api_listen_set = false;
};

int runPipeline(const GlobalOptions& global, const PipelineArgs& args) {
  auto data = DataDir::open(global);
  Config config = *data.config;  // as started: a reload replaces data.config
  std::string api_listen = args.api_listen_set ? args.api_listen : config.api_listen;
  if (api_listen == "off") api_listen.clear();
  sigset_t signals = blockServeSignals();

  // The sites answer on the edges; their URL is the edge default's, for the API's answers.
  auto host =
      PipelineHost::start(data, PipelineHost::Options{api_listen, "http://{site}.localhost:8080/"});
  if (!host) return reportError(host.error());
  std::fprintf(stderr, "cutover: pipeline running with %u workers on %s (%zu sites)\n",
               config.workers, data.root.c_str(), config.sites.size());
  for (const auto& site : config.sites) {
    if (!site.builds()) continue;
    std::fprintf(
        stderr, "  %-16s %s@%s%s\n", site.name.c_str(), site.repo.c_str(), site.branch.c_str(),
        site.poll_interval.count() > 0
            ? (", polled every " + std::to_string(site.poll_interval.count()) + " s").c_str()
            : "");
  }
  ConfigReloader reloader(data, "pipeline", host->get());
  int signal = waitForStopSignal(signals, &reloader);
  std::fprintf(stderr, "cutover: %s received, letting running builds finish (up to 10 s)\n",
               signal == SIGINT ? "SIGINT" : "SIGTERM");
  (*host)->stop();
  return kExitOk;
}

void printOutcome(const DeployRecord& r) {
  if (r.is(DeployStatus::succeeded) && !r.alias.empty()) {
    std::string what = r.commit.empty() ? r.source : r.commit.substr(0, 7);
    std::string of = r.pr != 0 ? fmt::format("pull request {}", r.pr) : "branch " + r.branch;
    std::printf(
        "cutover: built %s of %s as a preview of %s, not live: version %s answers at "
        "%s--%s.<preview domain>, and so does %s--%s.<preview domain>, which follows %s "
        "(cutover previews %s; cutover promote %s %s makes it live)\n",
        what.c_str(), of.c_str(), r.site.c_str(), r.version.c_str(), r.version.c_str(),
        r.site.c_str(), r.alias.c_str(), r.site.c_str(), of.c_str(), r.site.c_str(), r.site.c_str(),
        r.alias.c_str());
  } else if (r.is(DeployStatus::succeeded) && r.preview) {
    std::string what = r.commit.empty() ? r.source : r.commit.substr(0, 7);
    std::printf(
        "cutover: built %s as a preview of %s, not live: version %s answers at %s--%s.<preview "
        "domain> for 7 days (cutover versions preview; cutover activate %s %s makes it live)\n",
        what.c_str(), r.site.c_str(), r.version.c_str(), r.version.c_str(), r.site.c_str(),
        r.site.c_str(), r.version.c_str());
  } else if (r.is(DeployStatus::succeeded) && r.locked) {
    std::string what = r.commit.empty() ? r.source : r.commit.substr(0, 7);
    std::printf(
        "cutover: built %s as version %s of %s, not live: its deploys are locked (cutover sites "
        "says why; cutover activate %s %s makes it live, cutover unlock %s the next deploy)\n",
        what.c_str(), r.version.c_str(), r.site.c_str(), r.site.c_str(), r.version.c_str(),
        r.site.c_str());
  } else if (r.is(DeployStatus::succeeded)) {
    std::string what = r.commit.empty() ? r.source : r.commit.substr(0, 7);
    std::printf("cutover: deployed %s → live: %s is now %s (build %s, total %s)\n", what.c_str(),
                r.site.c_str(), r.version.c_str(),
                stageSpan(r, "building", "uploading").empty()
                    ? "-"
                    : stageSpan(r, "building", "uploading").c_str(),
                stageSpan(r, "queued", "finished").c_str());
  } else {
    std::printf("cutover: deploy %s of %s %s: %s\n", r.id.c_str(), r.site.c_str(), r.status.c_str(),
                r.error.c_str());
    std::printf("cutover: the live site is unchanged; log: cutover logs %s\n", r.id.c_str());
  }
  std::fflush(stdout);
}

int runPipelineRun(const GlobalOptions& global, const RunArgs& args) {
  auto data = DataDir::open(global);
  const std::optional<Config>& config = data.config;
  DeployRequest request;
  request.site = args.site;
  request.trigger = args.trigger;
  request.commit = args.commit;
  request.branch = args.branch;
  request.preview = args.preview;
  if (!args.archive.empty()) request.archive = std::filesystem::absolute(args.archive);
  if (config && request.archive.empty()) {
    const SiteConfig* site = config->site(args.site);
    if (site == nullptr || !site->builds()) {
      std::fprintf(stderr, "cutover: site %s has no repo in %s, so there is nothing to build\n",
                   args.site.c_str(), global.config.c_str());
      return kExitUsage;
    }
    // Only the production branch goes live; another branch builds as its preview.
    if (!args.branch.empty() && args.branch != site->branch) request.preview = true;
  }
  auto id = enqueueDeploy(*data.history, data.root, request);
  if (!id) return reportError(id.error());
  std::printf("cutover: %sdeploy %s of %s queued%s%s\n", request.preview ? "preview " : "",
              id->c_str(), args.site.c_str(), args.commit.empty() ? "" : " for commit ",
              args.commit.empty() ? "" : args.commit.substr(0, 7).c_str());
  std::fflush(stdout);
  if (args.no_wait) return kExitOk;

  // A running pipeline (cutover serve or cutover pipeline) takes the request within 100 ms.
  // Without one, this process builds it itself, taking only this site's requests.
  std::unique_ptr<Workers> local;
  bool told_waiting = false;
  FollowOptions follow;
  follow.print_log = !args.quiet;
  if (args.timeout > 0) follow.timeout = std::chrono::seconds(args.timeout);
  follow.tick = [&] {
    if (local || pipelineRunning(data.root)) return true;
    if (!config) {
      std::printf(
          "cutover: no pipeline is running on %s and no --config was given to build "
          "here; the deploy stays queued until `cutover pipeline` or `cutover serve` "
          "starts\n",
          data.root.c_str());
      std::fflush(stdout);
      told_waiting = true;
      return false;
    }
    WorkersOptions options;
    options.data_dir = data.root;
    options.threads = 1;
    options.only_sites = {args.site};
    options.poll = false;
    options.schedule = false;
    options.advertise = false;
    auto started = Workers::start(*config, data.context(), options);
    if (started) local = std::move(*started);
    // This process builds it now: the build's own timeout bounds the wait, not --timeout.
    follow.timeout.reset();
    return true;
  };
  auto followed = followDeploy(*data.history, data.root, *id, follow);
  if (!followed.record) return reportError(Error{Errc::not_found, "deploy " + *id + " vanished"});
  if (followed.timed_out) {
    if (told_waiting) return kExitOk;
    std::printf("cutover: deploy %s is still %s; follow it with: cutover logs %s --follow\n",
                followed.record->id.c_str(), followed.record->status.c_str(),
                followed.record->id.c_str());
    std::fflush(stdout);
    return kExitFailed;
  }
  if (local) local->stop();
  printOutcome(*followed.record);
  return followed.record->is(DeployStatus::succeeded) ? kExitOk : kExitFailed;
}

}  // namespace

void addPipelineCommands(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<PipelineArgs>();
  auto* cmd =
      app.add_subcommand("pipeline", "Build and deploy sites from git: the workers, polling");
  cmd->add_option("--api-listen", args->api_listen,
                  "Run the admin API (and webhooks) on this address, or off (default: the "
                  "config's [api] listen, 127.0.0.1:8081 unless set)");
  cmd->footer(
      "Runs the build workers for every site of the config and the admin API, without an edge\n"
      "(for a machine that builds but does not serve): requests queued by git hooks, webhooks\n"
      "(POST /hooks/SITE on the API), polling and `cutover pipeline run` are built (one at a\n"
      "time per site, the newest request first) and made live. SIGTERM or SIGINT lets running\n"
      "builds finish for 10 s, then kills them; queued requests wait for the next start.\n"
      "SIGHUP or `cutover reload` reads the config again (sites, builds, secrets, polling).\n\n"
      "Examples:\n"
      "  cutover pipeline --config cutover.toml\n"
      "  cutover pipeline run docs --config cutover.toml\n");

  auto run_args = std::make_shared<RunArgs>();
  auto* sub =
      cmd->add_subcommand("run", "Queue a build of a site and wait for it, printing progress");
  sub->add_option("site", run_args->site, "The site to build")->required();
  sub->add_option("--commit", run_args->commit,
                  "Build this commit (full id) instead of the branch head");
  sub->add_option("--branch", run_args->branch,
                  "Build this branch's head (default: the site's); another branch than the "
                  "site's builds as a preview at its alias BRANCH--SITE, never live");
  sub->add_option("--archive", run_args->archive, "Deploy this archive instead of building");
  sub->add_option("--trigger", run_args->trigger, "Recorded as what started it (default manual)");
  sub->add_flag("--preview", run_args->preview,
                "A preview build: stored with its preview link open for 7 days and never made "
                "live, at its branch's alias BRANCH--SITE; the build sees "
                "CUTOVER_CONTEXT=preview");
  sub->add_flag("--no-wait", run_args->no_wait, "Print the deploy id and return at once");
  sub->add_flag("--quiet,-q", run_args->quiet,
                "Print stages and the outcome, not the build's output");
  sub->add_option(
      "--timeout", run_args->timeout,
      "Stop waiting for a running pipeline after this many seconds (the build goes on)");
  sub->footer(
      "When `cutover pipeline` or `cutover serve` runs on the same data folder, it builds the\n"
      "request; otherwise this process builds it (given --config). Exit status 0 once the deploy\n"
      "is live (with --preview, or while the site is locked: stored), 1 if it failed (the live "
      "site is unchanged).\n\n"
      "Examples:\n  cutover pipeline run docs --commit 4f2a... --config cutover.toml\n"
      "  cutover pipeline run docs --branch feature --preview --config cutover.toml\n");
  sub->callback([&global, &run, run_args] {
    run = [&global, run_args] { return runPipelineRun(global, *run_args); };
  });
  cmd->callback([&global, &run, args, sub, cmd] {
    if (sub->parsed()) return;
    args->api_listen_set = cmd->count("--api-listen") > 0;
    run = [&global, args] {
      if (global.config.empty()) {
        std::fprintf(stderr, "cutover: pipeline needs --config FILE (the sites to build)\n");
        return kExitUsage;
      }
      return runPipeline(global, *args);
    };
  });
}

}  // namespace cutover::cli
