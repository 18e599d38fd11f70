#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cli/pipeline_support.h"
#include "runs/workers.h"

namespace cutover::cli {
namespace {

struct LogsArgs {
  std::string id;
  bool follow = false;
};

int runLogs(const GlobalOptions& global, const LogsArgs& args) {
  auto data = DataDir::open(global, DataDir::with_history);
  auto record = data.history->find(args.id);
  if (!record) return reportError(record.error());
  if (!*record) {
    return reportError(Error{Errc::not_found, "no deploy " + args.id + " (see cutover deploys)"});
  }
  if (args.follow) {
    auto followed = followDeploy(*data.history, data.root, args.id, FollowOptions{});
    if (!followed.record) return kExitFailed;
    const auto& r = *followed.record;
    std::printf("cutover: deploy %s %s%s%s\n", r.id.c_str(), r.status.c_str(),
                r.error.empty() ? "" : ": ", r.error.c_str());
    return r.is(DeployStatus::succeeded) ? kExitOk : kExitFailed;
  }
  auto file = (*record)->log.empty() ? deployLogPath(data.root, args.id)
                                     : std::filesystem::path((*record)->log);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::printf("deploy %s has no log (%s)%s%s\n", args.id.c_str(), (*record)->status.c_str(),
                (*record)->error.empty() ? "" : ": ", (*record)->error.c_str());
    return kExitOk;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

}  // namespace

void addLogsCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<LogsArgs>();
  auto* cmd =
      app.add_subcommand("logs", "Print a deploy's log: git, the build's output, the stages");
  cmd->add_option("deploy", args->id, "The deploy id (cutover deploys lists them)")->required();
  cmd->add_flag("--follow,-f", args->follow,
                "Keep printing new lines until the deploy ends; exit 0 if it succeeded");
  cmd->footer("Example:\n  cutover logs d-20260102-100000-4f2a1b --follow\n");
  cmd->callback(
      [&global, &run, args] { run = [&global, args] { return runLogs(global, *args); }; });
}

}  // namespace cutover::cli
