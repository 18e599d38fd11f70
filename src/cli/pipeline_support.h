#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cutover/config/config.h"
#include "runs/history.h"

namespace cutover::cli {

// Reads cutover.toml; throws ConfigError (exit 2) with the file's own message if it is bad.
Config loadConfigOrExit(const std::string& file);

// The data folder a command uses: --data-dir or $CUTOVER_DATA when given, else the config's
// data_dir, else the default.
std::filesystem::path resolveDataDir(const GlobalOptions& global, const Config* config);

struct FollowOptions {
  bool print_log = true;                        // print the log's lines as they are written
  std::optional<std::chrono::seconds> timeout;  // give up waiting after this long
  // Called on every poll (e.g. to start a builder); returning false stops waiting (timed_out).
  std::function<bool()> tick;
};

// The outcome of following a deploy to its end.
struct Followed {
  std::optional<DeployRecord> record;  // the last state seen (nullopt: no such deploy)
  bool timed_out = false;
};

// Polls the history every 50 ms until deploy `id` ends (or the timeout passes), printing each
// stage it enters and, if asked, the log lines as they are written. Follows the deploy that
// superseded it, if one did.
Followed followDeploy(History& history, const std::filesystem::path& data_dir, std::string id,
                      const FollowOptions& options);

// "12 ms", "1.4 s" between two stage marks of a record; empty if either is missing.
std::string stageSpan(const DeployRecord& record, std::string_view from, std::string_view to);

}  // namespace cutover::cli
