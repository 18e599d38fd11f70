#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "common/log.h"
#include "cutover/common/config_error.h"

namespace cutover::cli {
namespace {

// Neither a config nor a data folder given: the config in the usual places, so a command run
// from another folder reaches the data folder `cutover serve` uses instead of a new one.
std::string findConfig() {
  for (const char* candidate : {"cutover.toml", kSystemConfig}) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  }
  return {};
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{
      "cutover deploys static sites atomically and serves them.\n"
      "Each deploy stores an immutable version, then flips one pointer to it."};
  app.name("cutover");
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "cutover " CUTOVER_VERSION);
  GlobalOptions global;
  if (const char* env = std::getenv("CUTOVER_DATA"); env != nullptr && *env != '\0') {
    global.data_dir = env;
    global.data_dir_set = true;
  }
  if (const char* env = std::getenv("CUTOVER_CONFIG"); env != nullptr) global.config = env;
  app.add_option("--data-dir", global.data_dir,
                 "Folder holding versions, pointers and history (default ./cutover-data, or "
                 "$CUTOVER_DATA, or the config's data_dir)");
  app.add_option("--config,-c", global.config,
                 "The sites' configuration, cutover.toml: builds, hosts, settings and which stores "
                 "(default $CUTOVER_CONFIG, else ./cutover.toml or /etc/cutover/cutover.toml when "
                 "no --data-dir is given)");
  std::string log_format = "text";
  std::string log_level = "info";
  app.add_option("--log-format", log_format,
                 "How servers and background work log to stderr: text (one plain line a "
                 "message) or json (one object a line: time, level, message); default text, or "
                 "$CUTOVER_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("CUTOVER_LOG_FORMAT");
  app.add_option("--log-level", log_level,
                 "The least severe messages logged: debug, info, warn or error; default info, or "
                 "$CUTOVER_LOG_LEVEL")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->envname("CUTOVER_LOG_LEVEL");
  app.footer(
      "Examples:\n"
      "  cutover deploy ./public --site docs     store ./public as a new version of docs, make it "
      "live\n"
      "  cutover serve --listen 127.0.0.1:8080   serve every site (docs at "
      "http://docs.localhost:8080/)\n"
      "  cutover rollback docs                   back to the version live before\n"
      "Run 'cutover COMMAND --help' for a command's options.\n\n"
      "Stores: blobs and manifests in DATA/objects and pointers in DATA/pointers, unless\n"
      "$CUTOVER_STORE (or the config's `store`) names an object store, e.g.\n"
      "s3://bucket/prefix?endpoint=http://127.0.0.1:7480, and $CUTOVER_POINTERS (or `pointers`)\n"
      "a pointer store: etcd://127.0.0.1:2379 or redis://127.0.0.1:6379/0. S3 credentials come\n"
      "from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.\n");

  Runner run;
  addDeployCommand(app, global, run);
  addServeCommand(app, global, run);
  addVersionsCommand(app, global, run);
  addActivateCommands(app, global, run);
  addPreviewsCommands(app, global, run);
  addGcCommand(app, global, run);
  addSitesCommands(app, global, run);
  addDeploysCommand(app, global, run);
  addPipelineCommands(app, global, run);
  addLogsCommand(app, global, run);
  addInitCommand(app, global, run);
  addTokenCommands(app, global, run);
  addDoctorCommand(app, global, run);
  addCacheCommands(app, global, run);
  addReloadCommand(app, global, run);

  try {
    app.parse(argc, argv);
    if (app.count("--data-dir") > 0) global.data_dir_set = true;
    log::setJson(log_format == "json");
    log::setLevel(log_level == "debug"   ? log::Level::debug
                  : log_level == "warn"  ? log::Level::warn
                  : log_level == "error" ? log::Level::error
                                         : log::Level::info);
    if (global.config.empty() && !global.data_dir_set) global.config = findConfig();
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  // $CUTOVER_PARSE_ONLY: check a command line (the README's examples are checked so) and stop.
  if (const char* only = std::getenv("CUTOVER_PARSE_ONLY"); only != nullptr && *only != '\0') {
    return run ? kExitOk : kExitUsage;
  }
  try {
    return run ? run() : kExitUsage;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "cutover: %s\n", e.what());
    return kExitUsage;
  } catch (const DataDirError& e) {
    std::fprintf(stderr, "cutover: %s\n", e.what());
    return kExitFailed;
  }
}

}  // namespace cutover::cli
