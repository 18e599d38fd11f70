#include "cutover/pipeline/activate.h"

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/pipeline/gc.h"
#include "pipeline/store_lock.h"

namespace cutover::cli {
namespace {

struct ActivateArgs {
  std::string site;
  std::string version;
};

// Who runs this command, for the history's record of the flip.
std::string localUser() {
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr) {
    return std::string("user ") + pw->pw_name;
  }
  return "user " + std::to_string(::getuid());
}

int printFlip(const Result<Flip>& flip, const std::string& site, History& history,
              std::string_view how) {
  if (!flip) return reportError(flip.error());
  const auto& p = flip->pointer;
  // The flip is done; a history that cannot record it is said, not turned into a failure.
  if (auto recorded = history.recordFlip(site, how, p.previous, p.version, localUser());
      !recorded) {
    std::fprintf(stderr, "cutover: the flip is live but was not recorded in the history: %s\n",
                 recorded.error().message.c_str());
  }
  std::printf("%s is live on %s (was %s); the flip took %s\n", p.version.c_str(), site.c_str(),
              p.previous.empty() ? "nothing" : p.previous.c_str(),
              formatMillis(flip->flip_ms).c_str());
  return kExitOk;
}

// Held while flipping, so gc cannot remove the version between the check and the flip.
// The lease tells gc on other machines sharing the stores to keep `version` too.
template <class Flipper>
int flipLocked(const GlobalOptions& global, const std::string& site, std::string_view how,
               Flipper flipper, const std::string& version = {}) {
  auto data = DataDir::open(global, DataDir::with_history);
  auto lock = StoreLock::acquire(
      data.lockFile(), StoreLock::Mode::shared,
      FleetRequest{data.pointers.get(), std::string(how) + " " + site, site, version});
  if (!lock) return reportError(lock.error());
  return printFlip(flipper(data), site, *data.history, how);
}

}  // namespace

void addActivateCommands(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<ActivateArgs>();
  auto* activate = app.add_subcommand("activate", "Make a stored version of a site live");
  activate->add_option("site", args->site, "The site's name")->required();
  activate->add_option("version", args->version, "The version id (see 'cutover versions SITE')")
      ->required();
  activate->footer("Example:\n  cutover activate docs 20261127-195529-3f9a1c\n");
  activate->callback([&global, &run, args] {
    run = [&global, args] {
      return flipLocked(
          global, args->site, "activate",
          [&](DataDir& data) {
            return activateVersion(*data.objects, *data.pointers, args->site, args->version);
          },
          args->version);
    };
  });

  auto* back =
      app.add_subcommand("rollback", "Make the version live before the current one live again");
  back->add_option("site", args->site, "The site's name")->required();
  back->footer(
      "Rolling back twice returns to where you started. To go further back, pick a version\n"
      "from 'cutover versions SITE' and 'cutover activate' it.\n\n"
      "Example:\n  cutover rollback docs\n");
  back->callback([&global, &run, args] {
    run = [&global, args] {
      return flipLocked(global, args->site, "rollback", [&](DataDir& data) {
        return rollback(*data.objects, *data.pointers, args->site);
      });
    };
  });
}

}  // namespace cutover::cli
