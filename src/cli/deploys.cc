#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"

namespace cutover::cli {
namespace {

struct DeploysArgs {
  std::string site;
  std::size_t limit = 20;
  bool json = false;
};

bool isFlip(const DeployRecord& d) { return d.trigger == "rollback" || d.trigger == "activate"; }

// How long the deploy took: from queued to finished for the pipeline's deploys (whose stages
// are recorded only as far as they got), else the sum of its stages.
std::string totalTime(const DeployRecord& d) {
  if (d.timeline.size() >= 2 && d.timeline.back().name == toString(Mark::finished)) {
    return formatMillis(static_cast<double>(d.timeline.back().at_ms - d.timeline.front().at_ms));
  }
  if (d.stages.empty()) return "-";
  double total = 0;
  for (const auto& s : d.stages) total += s.ms;
  return formatMillis(total);
}

// What a pipeline deploy adds: its trigger, commit and the time each stage took.
void printPipelineDetails(const DeployRecord& d) {
  if (d.timeline.empty()) return;
  std::string line = "    " + (d.trigger.empty() ? std::string("-") : d.trigger);
  if (!d.commit.empty()) {
    line += "  " + d.commit.substr(0, 7);
    if (!d.commit_message.empty()) line += " \"" + d.commit_message + "\"";
    if (!d.commit_author.empty()) line += " by " + d.commit_author;
  } else if (!d.archive.empty()) {
    line += "  archive " + std::filesystem::path(d.archive).filename().string();
  }
  if (!d.stage.empty()) line += "  [" + d.stage + "]";
  std::printf("%s\n", line.c_str());
  std::string timings;
  for (std::size_t i = 0; i + 1 < d.timeline.size(); ++i) {
    const auto& mark = d.timeline[i];
    if (!timings.empty()) timings += ", ";
    timings +=
        mark.name + " " + formatMillis(static_cast<double>(d.timeline[i + 1].at_ms - mark.at_ms));
  }
  if (!timings.empty()) std::printf("    %s\n", timings.c_str());
}

int runDeploys(const GlobalOptions& global, const DeploysArgs& args) {
  auto data = DataDir::open(global, DataDir::with_history);
  auto records = data.history->list(args.site, args.limit);
  if (!records) return reportError(records.error());
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& d : *records) list.push_back(d.toJson());
    std::printf("%s\n", list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }
  if (records->empty()) std::printf("no deploys yet\n");
  for (const auto& d : *records) {
    if (isFlip(d)) {
      std::printf("%s  %s  %-10s %-9s %-36s %s from %s by %s\n", d.id.c_str(), d.started.c_str(),
                  d.site.c_str(), d.status.c_str(), d.version.c_str(), d.trigger.c_str(),
                  d.previous.empty() ? "nothing" : d.previous.c_str(),
                  d.actor.empty() ? "-" : d.actor.c_str());
      continue;
    }
    // A deploy that stored nothing has no counts to show, only the time it took.
    std::string files = "        -";
    if (d.files != 0 || d.is(DeployStatus::succeeded)) {
      files = fmt::format("{:5} files ({} new)", d.files, d.new_files);
    }
    std::printf("%s  %s  %-10s %-9s %-36s %s  %s%s\n", d.id.c_str(), d.started.c_str(),
                d.site.c_str(), d.status.c_str(), d.version.empty() ? "-" : d.version.c_str(),
                files.c_str(), totalTime(d).c_str(),
                d.activated ? "  live-flip"
                : d.locked  ? "  locked"
                : d.preview ? "  preview"
                            : "");
    printPipelineDetails(d);
    if (!d.error.empty()) std::printf("    error: %s\n", d.error.c_str());
  }
  return kExitOk;
}

}  // namespace

void addDeploysCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<DeploysArgs>();
  auto* cmd = app.add_subcommand("deploys",
                                 "List recorded deploys, rollbacks and activations, newest "
                                 "first, with outcome, errors and who flipped what");
  cmd->add_option("site", args->site, "Only this site's deploys");
  cmd->add_option("--limit,-n", args->limit, "How many (default 20)");
  cmd->add_flag("--json", args->json,
                "Print them as a JSON array (id, site, status, stage, trigger, commit, timeline, "
                "error, ...)");
  cmd->footer("Example:\n  cutover deploys docs -n 5\n");
  cmd->callback(
      [&global, &run, args] { run = [&global, args] { return runDeploys(global, *args); }; });
}

}  // namespace cutover::cli
