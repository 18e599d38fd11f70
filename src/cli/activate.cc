#include "cutover/pipeline/activate.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/common/names.h"
#include "cutover/common/utf8.h"
#include "cutover/config/config.h"
#include "cutover/pipeline/gc.h"
#include "cutover/pipeline/schedule.h"
#include "cutover/pointer/aliases.h"
#include "cutover/store/manifest.h"
#include "edge/http_date.h"
#include "pipeline/store_lock.h"

namespace cutover::cli {
namespace {

struct ActivateArgs {
  std::string site;
  std::string version;
  bool no_lock = false;
  bool lock = false;
  std::string reason;
  std::string at;
};

// "2026-12-24T09:00:00Z" (UTC), or a time from now: "90s", "10m", "2h", "1d".
Result<std::int64_t> parseWhen(const std::string& text, std::int64_t now) {
  if (auto t = edge::parseRfc3339(text)) return static_cast<std::int64_t>(*t);
  if (auto d = parseDuration(text)) {
    return now + std::chrono::duration_cast<std::chrono::seconds>(*d).count();
  }
  return fail(Errc::invalid_argument,
              fmt::format("'{}' is neither a UTC time like 2026-12-24T09:00:00Z nor a time from "
                          "now like 10m or 2h",
                          text));
}

// Who runs this command, for the history's record of the flip.
std::string localUser() {
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr) {
    return std::string("user ") + pw->pw_name;
  }
  return "user " + std::to_string(::getuid());
}

// `cutover promote SITE ALIAS|VERSION`: the version a preview alias names now (or a version id
// as given) becomes live, the same bytes the preview served: nothing is rebuilt.
Result<Flip> promote(DataDir& data, const ActivateArgs& args) {
  auto version = previewVersion(*data.pointers, args.site, args.version);
  if (!version) return tl::unexpected(version.error());
  std::string what = *version == args.version ? "version " + *version
                                              : fmt::format("preview {}--{} (version {})",
                                                            args.version, args.site, *version);
  std::optional<DeployLock> lock;
  if (args.lock) lock = lockForFlip("promotion of " + *version, localUser());
  auto flip = activateVersion(*data.objects, *data.pointers, args.site, *version, std::move(lock));
  if (flip) std::printf("promoted %s to live\n", what.c_str());
  return flip;
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
  if (p.lock) {
    std::printf(
        "deploys of %s are locked (%s): new deploys are stored, not made live, until "
        "`cutover unlock %s`\n",
        site.c_str(), p.lock->reason.c_str(), site.c_str());
  }
  return kExitOk;
}

// `cutover lock` and `cutover unlock`: the lock lives in the site's live pointer, so every
// machine's deploys and builds see it in the same compare-and-set that would flip.
int runLock(const GlobalOptions& global, const ActivateArgs& args, bool lock) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  auto data = DataDir::open(global, DataDir::with_history);
  std::optional<DeployLock> value;
  if (lock) {
    value = DeployLock{args.reason.empty() ? std::string("locked by hand")
                                           : std::string(clipUtf8(args.reason, 200)),
                       localUser(), nowRfc3339()};
  }
  auto set = setDeployLock(*data.pointers, args.site, value);
  if (!set) return reportError(set.error());
  const char* how = lock ? "lock" : "unlock";
  if (auto recorded =
          data.history->recordFlip(args.site, how, set->version, set->version, localUser());
      !recorded) {
    std::fprintf(stderr, "cutover: the %s is set but was not recorded in the history: %s\n", how,
                 recorded.error().message.c_str());
  }
  if (lock) {
    std::printf(
        "deploys of %s are locked (%s): builds and deploys are stored, not made live; %s "
        "stays live until `cutover activate` or `cutover unlock %s`\n",
        args.site.c_str(), value->reason.c_str(), set->version.c_str(), args.site.c_str());
  } else {
    std::printf("deploys of %s are unlocked: the next deploy goes live (%s is live now)\n",
                args.site.c_str(), set->version.c_str());
  }
  return kExitOk;
}

// `cutover schedule SITE VERSION AT`: the running serve or pipeline flips it when due.
int runSchedule(const GlobalOptions& global, const ActivateArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  std::int64_t now = std::time(nullptr);
  auto at = parseWhen(args.at, now);
  if (!at) return reportError(at.error());
  if (*at < now - 60) {
    return reportError(Error{Errc::invalid_argument, fmt::format("{} is in the past ({} now)",
                                                                 rfc3339(*at), rfc3339(now))});
  }
  auto data = DataDir::open(global, DataDir::stores);
  auto before = scheduleFlip(*data.objects, *data.pointers, args.site,
                             ScheduledFlip{args.version, *at, localUser(), args.lock});
  if (!before) return reportError(before.error());
  std::printf("%s goes live on %s at %s (in %llds)%s\n", args.version.c_str(), args.site.c_str(),
              rfc3339(*at).c_str(), static_cast<long long>(*at - now),
              args.lock ? ", and locks its deploys" : "");
  if (*before) {
    std::printf("replaces the scheduled activation of %s at %s\n", (*before)->version.c_str(),
                rfc3339((*before)->at).c_str());
  }
  std::fprintf(stderr,
               "a running `cutover serve` or `cutover pipeline` on these stores performs it; "
               "`cutover schedule cancel %s` calls it off\n",
               args.site.c_str());
  return kExitOk;
}

int runScheduleCancel(const GlobalOptions& global, const ActivateArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  auto data = DataDir::open(global, DataDir::stores);
  auto cancelled = cancelSchedule(*data.pointers, args.site);
  if (!cancelled) return reportError(cancelled.error());
  if (!*cancelled) {
    return reportError(
        Error{Errc::not_found, "site " + args.site + " has no scheduled activation"});
  }
  std::printf("cancelled: %s was to go live on %s at %s\n", (*cancelled)->version.c_str(),
              args.site.c_str(), rfc3339((*cancelled)->at).c_str());
  return kExitOk;
}

int runScheduleList(const GlobalOptions& global) {
  auto data = DataDir::open(global, DataDir::stores);
  auto all = listSchedules(*data.pointers);
  if (!all) return reportError(all.error());
  if (all->empty()) std::fprintf(stderr, "no activation is scheduled\n");
  for (const auto& [site, flip] : *all) {
    std::printf("%s  %s at %s (by %s%s)\n", site.c_str(), flip.version.c_str(),
                rfc3339(flip.at).c_str(), flip.by.c_str(), flip.lock ? ", locks" : "");
  }
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
  activate->add_flag("--no-lock", args->no_lock,
                     "Do not lock the site's deploys (by default an activation locks them, so "
                     "the next push does not undo it)");
  activate->footer(
      "An activation locks the site's deploys: later deploys and builds are stored but not made\n"
      "live until `cutover unlock SITE` (or pass --no-lock).\n\n"
      "Example:\n  cutover activate docs 20261127-195529-3f9a1c\n");
  activate->callback([&global, &run, args] {
    run = [&global, args] {
      return flipLocked(
          global, args->site, "activate",
          [&](DataDir& data) {
            std::optional<DeployLock> lock;
            if (!args->no_lock) lock = lockForFlip("activation of " + args->version, localUser());
            return activateVersion(*data.objects, *data.pointers, args->site, args->version,
                                   std::move(lock));
          },
          args->version);
    };
  });

  auto* back =
      app.add_subcommand("rollback", "Make the version live before the current one live again");
  back->add_option("site", args->site, "The site's name")->required();
  back->add_flag("--no-lock", args->no_lock,
                 "Do not lock the site's deploys (by default a rollback locks them, so the next "
                 "push does not undo it)");
  back->footer(
      "Rolling back twice returns to where you started. To go further back, pick a version\n"
      "from 'cutover versions SITE' and 'cutover activate' it. A rollback locks the site's\n"
      "deploys: later deploys and builds are stored but not made live until\n"
      "`cutover unlock SITE` (or pass --no-lock).\n\n"
      "Example:\n  cutover rollback docs\n");
  back->callback([&global, &run, args] {
    run = [&global, args] {
      return flipLocked(global, args->site, "rollback", [&](DataDir& data) {
        std::optional<DeployLock> lock;
        if (!args->no_lock) lock = lockForFlip("rollback", localUser());
        return rollback(*data.objects, *data.pointers, args->site, std::move(lock));
      });
    };
  });

  auto* promote_cmd = app.add_subcommand(
      "promote", "Make a preview's version live as it is, without rebuilding it");
  promote_cmd->add_option("site", args->site, "The site's name")->required();
  promote_cmd
      ->add_option("preview", args->version,
                   "A preview alias (feature-login, pr-12: see `cutover previews SITE`) or a "
                   "version id")
      ->required();
  promote_cmd->add_flag("--lock", args->lock,
                        "Also lock the site's deploys, so the next push does not replace it");
  promote_cmd->footer(
      "The version the alias names at this moment goes live: the exact files the preview\n"
      "served, byte for byte. A later push to the production branch goes live as usual\n"
      "(unless --lock, or the site is locked already).\n\n"
      "Examples:\n  cutover promote docs feature-login\n  cutover promote docs pr-12 --lock\n");
  promote_cmd->callback([&global, &run, args] {
    run = [&global, args] {
      return flipLocked(
          global, args->site, "promote", [&](DataDir& data) { return promote(data, *args); },
          args->version);
    };
  });

  auto* schedule = app.add_subcommand(
      "schedule", "Make a stored version live at a given time (a release at 9:00)");
  schedule->add_option("site", args->site, "The site's name");
  schedule->add_option("version", args->version, "The version id");
  schedule->add_option("at", args->at,
                       "When: a UTC time (2026-12-24T09:00:00Z) or a time from now (10m, 2h)");
  schedule->add_flag("--lock", args->lock, "Also lock the site's deploys when it goes live");
  schedule->footer(
      "A running `cutover serve` or `cutover pipeline` on the same stores flips the pointer\n"
      "when the time comes (within a second), once however many run; gc keeps the version\n"
      "until then. One scheduled activation per site: a new one replaces it.\n\n"
      "Examples:\n  cutover schedule docs 20261127-195529-3f9a1c 2026-12-24T09:00:00Z\n"
      "  cutover schedule docs 20261127-195529-3f9a1c 30m\n  cutover schedule list\n"
      "  cutover schedule cancel docs\n");
  auto* cancel = schedule->add_subcommand("cancel", "Call off a site's scheduled activation");
  cancel->add_option("site", args->site, "The site's name")->required();
  cancel->callback([&global, &run, args] {
    run = [&global, args] { return runScheduleCancel(global, *args); };
  });
  auto* list = schedule->add_subcommand("list", "List the scheduled activations");
  list->callback([&global, &run] { run = [&global] { return runScheduleList(global); }; });
  schedule->callback([&global, &run, args, schedule] {
    if (schedule->got_subcommand("cancel") || schedule->got_subcommand("list")) return;
    run = [&global, args] {
      if (args->site.empty() || args->version.empty() || args->at.empty()) {
        return reportError(
            Error{Errc::invalid_argument, "usage: cutover schedule SITE VERSION AT (see --help)"});
      }
      return runSchedule(global, *args);
    };
  });

  auto* lock = app.add_subcommand(
      "lock", "Lock a site's deploys: they are stored but not made live until `cutover unlock`");
  lock->add_option("site", args->site, "The site's name")->required();
  lock->add_option("--reason", args->reason, "Why, shown to whoever deploys next");
  lock->footer(
      "Builds and deploys of a locked site still run and store their versions; none flips the\n"
      "live pointer. `cutover activate` and `cutover rollback` still flip it (and keep the lock).\n"
      "The lock is in the pointer store, so every machine of a fleet honours it.\n\n"
      "Example:\n  cutover lock docs --reason \"launch freeze\"\n");
  lock->callback(
      [&global, &run, args] { run = [&global, args] { return runLock(global, *args, true); }; });
  auto* unlock = app.add_subcommand("unlock", "Let a locked site's next deploy go live again");
  unlock->add_option("site", args->site, "The site's name")->required();
  unlock->footer("Example:\n  cutover unlock docs\n");
  unlock->callback(
      [&global, &run, args] { run = [&global, args] { return runLock(global, *args, false); }; });
}

}  // namespace cutover::cli
