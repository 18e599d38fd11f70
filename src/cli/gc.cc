#include "cutover/pipeline/gc.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/lock_wait.h"
#include "cli/output.h"
#include "pipeline/store_lock.h"

namespace cutover::cli {
namespace {

int runGc(const GlobalOptions& global, const GcOptions& options) {
  auto data = DataDir::open(global, DataDir::stores);
  Result<StoreLock> lock = [&] {
    WaitNotice notice(std::chrono::seconds(1), [&] { explainStoreLockWait(data); });
    return StoreLock::acquire(data.lockFile(), StoreLock::Mode::exclusive);
  }();
  if (!lock) return reportError(lock.error());
  auto report = collectGarbage(*data.objects, *data.pointers, options);
  if (!report) return reportError(report.error());
  for (const auto& d : report->running_deploys) {
    std::printf("kept every blob: %s is running\n", d.c_str());
  }
  const char* verb = options.dry_run ? "would remove" : "removed";
  for (const auto& v : report->removed_versions) std::printf("%s version %s\n", verb, v.c_str());
  for (const auto& a : report->removed_aliases) {
    std::printf("removed preview alias %s: no build for longer than its site's previews.expires\n",
                a.c_str());
  }
  std::printf("%s %zu versions and %zu blobs; kept %zu versions and %zu blobs", verb,
              report->removed_versions.size(), report->removed_blobs, report->kept_versions,
              report->kept_blobs);
  if (report->removed_leftovers != 0) {
    std::printf("; removed %zu leftovers of interrupted deploys", report->removed_leftovers);
  }
  std::printf("\n");
  return kExitOk;
}

}  // namespace

void addGcCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto options = std::make_shared<GcOptions>();
  auto* cmd = app.add_subcommand("gc", "Delete old versions and the files only they used");
  cmd->add_option("--keep", options->keep, "Newest versions kept per site (default 10)");
  cmd->add_flag("--dry-run", options->dry_run, "Say what would be removed, remove nothing");
  cmd->add_option("--pin-window", options->pin_window_seconds,
                  "Keep versions live within this many seconds (default 3600; serve's "
                  "--pin-window)");
  cmd->footer(
      "Never removes a live version, the previous one (rollback needs it), the newest N, or a\n"
      "version live within the pin window (open pages still load its files). Also removes what\n"
      "interrupted deploys left behind. Waits for running deploys on this machine\n"
      "(pending remote deploys included) and, after a second, says which; while a\n"
      "deploy runs on any machine sharing the stores, removes no blob and no version made since\n"
      "it started.\n\n"
      "Example:\n  cutover gc --keep 10\n");
  cmd->callback(
      [&global, &run, options] { run = [&global, options] { return runGc(global, *options); }; });
}

}  // namespace cutover::cli
