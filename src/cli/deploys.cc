#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"

namespace cutover::cli {
namespace {

struct DeploysArgs {
  std::string site;
  std::size_t limit = 20;
};

int runDeploys(const GlobalOptions& global, const DeploysArgs& args) {
  auto data = DataDir::open(global.data_dir, DataDir::with_history);
  auto records = data.history->list(args.site, args.limit);
  if (!records) return reportError(records.error());
  if (records->empty()) std::printf("no deploys yet\n");
  for (const auto& d : *records) {
    double total = 0;
    for (const auto& s : d.stages) total += s.ms;
    std::printf("%s  %s  %-10s %-9s %-36s %5llu files (%llu new)  %s%s\n", d.id.c_str(),
                d.started.c_str(), d.site.c_str(), d.status.c_str(),
                d.version.empty() ? "-" : d.version.c_str(), static_cast<unsigned long long>(d.files),
                static_cast<unsigned long long>(d.new_files), formatMillis(total).c_str(),
                d.activated ? "  live-flip" : "");
    if (!d.error.empty()) std::printf("    error: %s\n", d.error.c_str());
  }
  return kExitOk;
}

}  // namespace

void addDeploysCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<DeploysArgs>();
  auto* cmd = app.add_subcommand("deploys", "List recorded deploys, newest first, with outcome and errors");
  cmd->add_option("site", args->site, "Only this site's deploys");
  cmd->add_option("--limit,-n", args->limit, "How many (default 20)");
  cmd->footer("Example:\n  cutover deploys docs -n 5\n");
  cmd->callback([&global, &run, args] { run = [&global, args] { return runDeploys(global, *args); }; });
}

}  // namespace cutover::cli
