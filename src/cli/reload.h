#pragma once

#include <csignal>
#include <filesystem>
#include <optional>
#include <string>

#include "cli/data_dir.h"
#include "cutover/common/fd.h"

namespace cutover::cli {

class ApiHost;
class PipelineHost;

// A process started with a config (`cutover serve --config`, `cutover pipeline`) that takes the
// config again on SIGHUP or `cutover reload`. It registers itself as DATA/run/ROLE-PID.pid, a
// file it holds locked while it runs (so a file left by a crash is told apart from a live
// process, whatever became of its pid), and answers each reload in DATA/run/ROLE-PID.reloaded:
// "N ok MESSAGE" or "N failed MESSAGE", N counting the reloads.
class ConfigReloader {
 public:
  // `builders` may be null (an edge without workers), and `api` (no API, or the one `builders`
  // runs). `data`, `builders` and `api` outlive this.
  ConfigReloader(DataDir& data, const std::string& role, PipelineHost* builders,
                 ApiHost* api = nullptr);
  ~ConfigReloader();
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // Reads the config file again. A config that does not load keeps the running one; either way
  // the outcome is logged on stderr and written for `cutover reload`.
  void reload();

 private:
  void answer(bool ok, const std::string& message);

  DataDir& data_;
  PipelineHost* builders_;
  ApiHost* api_;
  std::filesystem::path pid_file_;
  std::filesystem::path answer_file_;
  UniqueFd lock_;
  unsigned count_ = 0;
};

// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and so in the threads it starts afterwards).
sigset_t blockServeSignals();

// Waits for SIGINT or SIGTERM, reloading the config on each SIGHUP (when `reloader` is not
// null; else SIGHUP says it has no config to reload). Returns the stopping signal.
int waitForStopSignal(const sigset_t& signals, ConfigReloader* reloader);

}  // namespace cutover::cli
