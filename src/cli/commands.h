#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace cutover::cli {

struct GlobalOptions {
  std::string data_dir = "./cutover-data";
  bool data_dir_set = false;  // given by --data-dir or $CUTOVER_DATA: a config's data_dir yields
  std::string config;         // --config FILE or $CUTOVER_CONFIG: cutover.toml
};

// Where a config is looked for last, after $CUTOVER_CONFIG and ./cutover.toml.
inline constexpr const char* kSystemConfig = "/etc/cutover/cutover.toml";

// The command chosen on the command line, set by its parse callback; returns the exit status.
using Runner = std::function<int()>;

// One function per command, each in its own file: registers the subcommand on `app`.
void addDeployCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addServeCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addVersionsCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addActivateCommands(CLI::App& app, const GlobalOptions& global,
                         Runner& run);  // activate, rollback, promote, schedule, lock, unlock
void addPreviewsCommands(CLI::App& app, const GlobalOptions& global,
                         Runner& run);  // previews, previews remove
void addGcCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addSitesCommands(CLI::App& app, const GlobalOptions& global,
                      Runner& run);  // sites, status, site set
void addDeploysCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addPipelineCommands(CLI::App& app, const GlobalOptions& global,
                         Runner& run);  // pipeline, pipeline run
void addLogsCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addInitCommand(CLI::App& app, const GlobalOptions& global, Runner& run);  // init --git-hook
void addReloadCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addDoctorCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addCacheCommands(CLI::App& app, const GlobalOptions& global, Runner& run);  // cache clear
void addTokenCommands(CLI::App& app, const GlobalOptions& global,
                      Runner& run);  // token create, list, revoke

// Parses the command line and runs the chosen command. Returns the process exit status.
int runCli(int argc, char** argv);

}  // namespace cutover::cli
