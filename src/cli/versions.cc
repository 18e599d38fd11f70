#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/common/names.h"
#include "cutover/config/config.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/gc.h"
#include "cutover/pointer/records.h"
#include "cutover/store/manifest.h"

namespace cutover::cli {
namespace {

struct VersionsArgs {
  std::string site;
  bool json = false;
};

// One site's versions: printed, or appended to `out` for --json. Returns false on an error
// (already reported).
bool listSite(DataDir& data, const std::string& site, bool json, bool heading,
              nlohmann::json& out) {
  auto versions = data.objects->listVersions(site);
  if (!versions) {
    reportError(versions.error());
    return false;
  }
  auto live = readLivePointer(*data.pointers, site);
  if (!live) {
    reportError(live.error());
    return false;
  }
  std::string live_version = *live ? (*live)->version : "";
  std::string previous = *live ? (*live)->previous : "";
  if (heading && !json) std::printf("%s\n", site.c_str());
  if (versions->empty() && !json) {
    std::fprintf(stderr, "site %s has no versions\n", site.c_str());
    return true;
  }
  for (const auto& v : *versions) {
    auto found = data.history->findByVersion(site, v.version);
    DeployRecord record = found && *found ? **found : DeployRecord{};
    if (json) {
      out.push_back({{"site", site},
                     {"version", v.version},
                     {"created", v.created},
                     {"live", v.version == live_version},
                     {"source", record.source},
                     {"deploy", record.id},
                     {"branch", record.branch},
                     {"commit", record.commit},
                     {"commit_message", record.commit_message}});
      continue;
    }
    const char* mark = v.version == live_version ? "* live    "
                       : v.version == previous   ? "  previous"
                                                 : "          ";
    // Where it came from: the branch and commit it was built from, else the folder or archive.
    std::string origin = record.source;
    if (!record.commit.empty()) {
      origin = (record.branch.empty() ? std::string() : record.branch + "@") +
               record.commit.substr(0, 7);
      if (!record.commit_message.empty()) origin += " \"" + record.commit_message + "\"";
    }
    std::printf("%s %-36s %s  %s\n", mark, v.version.c_str(), v.created.c_str(), origin.c_str());
  }
  return true;
}

int runVersions(const GlobalOptions& global, const VersionsArgs& args) {
  if (!args.site.empty()) {
    if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  }
  auto data = DataDir::open(global, DataDir::with_history);
  std::vector<std::string> sites{args.site};
  if (args.site.empty()) {
    auto stored = data.objects->listSites();
    if (!stored) return reportError(stored.error());
    sites = *stored;
    std::sort(sites.begin(), sites.end());
    if (sites.empty() && !args.json)
      std::printf("no sites yet: cutover deploy ./public --site NAME\n");
  }
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < sites.size(); ++i) {
    if (i > 0 && !args.json) std::printf("\n");
    if (!listSite(data, sites[i], args.json, args.site.empty(), out)) return kExitFailed;
  }
  if (args.json) std::printf("%s\n", out.dump().c_str());
  return kExitOk;
}

struct DeleteArgs {
  std::string site;
  std::string version;
};

int runVersionsDelete(const GlobalOptions& global, const DeleteArgs& args) {
  auto data = DataDir::open(global, DataDir::stores);
  if (auto gone = deleteVersion(*data.objects, *data.pointers, args.site, args.version); !gone) {
    return reportError(gone.error());
  }
  std::printf("deleted version %s of %s; edges no longer serve it (its files go at the next gc)\n",
              args.version.c_str(), args.site.c_str());
  return kExitOk;
}

// `versions delete SITE VERSION`: a version gone at once, whatever pins or fallbacks ask for.
void addVersionsDeleteCommand(CLI::App& versions, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<DeleteArgs>();
  auto* cmd = versions.add_subcommand("delete", "Delete a stored version at once");
  cmd->add_option("site", args->site, "The site's name")->required();
  cmd->add_option("version", args->version, "The version id")->required();
  cmd->footer(
      "Edges stop serving the version at once: previews, pinned pages, ?dpl= and fallbacks for\n"
      "open tabs answer as if it had never been stored. Refuses the live version. If it was the\n"
      "previous version, rollback has nothing to return to. Its files are removed by the next "
      "gc.\n\n"
      "Example:\n  cutover versions delete docs 20261127-195529-3f9a1c\n");
  cmd->callback([&global, &run, args] {
    run = [&global, args] { return runVersionsDelete(global, *args); };
  });
}

struct PreviewArgs {
  std::string site;
  std::string version;
  std::string expires = "7d";
};

int runVersionsPreview(const GlobalOptions& global, const PreviewArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  if (auto ok = validateVersionId(args.version); !ok) return reportError(ok.error());
  auto expiry = parsePreviewExpiry(args.expires, "--expires");
  if (!expiry) return reportError(expiry.error());
  std::int64_t seconds = *expiry;
  auto data = DataDir::open(global, DataDir::stores);
  if (seconds > 0) {
    // Only a stored version gets a link (closing one needs no version).
    if (auto manifest = data.objects->readManifest(args.site, args.version); !manifest) {
      if (manifest.error().code == Errc::not_found) {
        return reportError(Error{
            Errc::not_found, fmt::format("site {} has no version {}", args.site, args.version)});
      }
      return reportError(manifest.error());
    }
  }
  std::int64_t now = std::time(nullptr);
  std::int64_t until = now + seconds;
  if (auto set = setPreviewLink(*data.pointers, args.site, args.version, until, now); !set) {
    return reportError(set.error());
  }
  if (seconds == 0) {
    std::printf(
        "closed the preview link of version %s of %s: its preview host answers 404 "
        "unless it is live, and gc may collect it\n",
        args.version.c_str(), args.site.c_str());
  } else {
    std::printf("preview of version %s of %s open until %s at %s--%s.<preview domain>\n",
                args.version.c_str(), args.site.c_str(), rfc3339(until).c_str(),
                args.version.c_str(), args.site.c_str());
  }
  return kExitOk;
}

// `versions preview SITE VERSION [--expires D]`: issues, renews or closes a preview link.
void addVersionsPreviewCommand(CLI::App& versions, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<PreviewArgs>();
  auto* cmd = versions.add_subcommand(
      "preview", "Open (or renew, or close) a stored version's preview link for a while");
  cmd->add_option("site", args->site, "The site's name")->required();
  cmd->add_option("version", args->version, "The version id")->required();
  cmd->add_option("--expires", args->expires,
                  "How long from now the link answers: 30m, 12h, 7d (the default), up to 366d; "
                  "0 closes it now");
  cmd->footer(
      "A version answers at its preview host, VERSION--SITE.<preview domain> (serve\n"
      "--preview-domain, default localhost), while its link is open or while it is live. Each\n"
      "deploy opens its version's link for 7 days (deploy --preview-expires). gc keeps a version\n"
      "while its link is open.\n\n"
      "Examples:\n  cutover versions preview docs 20261127-195529-3f9a1c\n"
      "  cutover versions preview docs 20261127-195529-3f9a1c --expires 30d\n"
      "  cutover versions preview docs 20261127-195529-3f9a1c --expires 0\n");
  cmd->callback([&global, &run, args] {
    run = [&global, args] { return runVersionsPreview(global, *args); };
  });
}

}  // namespace

void addVersionsCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<VersionsArgs>();
  auto* cmd =
      app.add_subcommand("versions",
                         "List a site's stored versions (every site's without one), newest first, "
                         "marking the live one, with the branch and commit each was built from");
  cmd->add_option("site", args->site, "The site's name (default: every site)");
  cmd->add_flag("--json", args->json, "Print a JSON array");
  cmd->footer(
      "Examples:\n  cutover versions docs\n  cutover versions --json\n"
      "  cutover versions delete docs VERSION\n"
      "  cutover versions preview docs VERSION --expires 30d\n");
  addVersionsDeleteCommand(*cmd, global, run);
  addVersionsPreviewCommand(*cmd, global, run);
  cmd->callback([&global, &run, args, cmd] {
    if (cmd->got_subcommand("delete") || cmd->got_subcommand("preview")) return;
    run = [&global, args] { return runVersions(global, *args); };
  });
}

}  // namespace cutover::cli
