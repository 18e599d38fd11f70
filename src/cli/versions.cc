#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/output.h"
#include "cutover/common/names.h"
#include "cutover/pipeline/activate.h"
#include "cutover/pipeline/gc.h"

namespace cutover::cli {
namespace {

struct VersionsArgs {
  std::string site;
  bool json = false;
};

int runVersions(const GlobalOptions& global, const VersionsArgs& args) {
  if (auto ok = validateSiteName(args.site); !ok) return reportError(ok.error());
  auto data = DataDir::open(global, DataDir::with_history);
  auto versions = data.objects->listVersions(args.site);
  if (!versions) return reportError(versions.error());
  auto live = readLivePointer(*data.pointers, args.site);
  if (!live) return reportError(live.error());
  std::string live_version = *live ? (*live)->version : "";
  std::string previous = *live ? (*live)->previous : "";
  if (versions->empty() && !args.json) {
    std::fprintf(stderr, "site %s has no versions\n", args.site.c_str());
    return kExitOk;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : *versions) {
    auto record = data.history->findByVersion(args.site, v.version);
    std::string source = record && *record ? (*record)->source : "";
    std::string deploy_id = record && *record ? (*record)->id : "";
    if (args.json) {
      out.push_back({{"version", v.version},
                     {"created", v.created},
                     {"live", v.version == live_version},
                     {"source", source},
                     {"deploy", deploy_id}});
      continue;
    }
    const char* mark = v.version == live_version ? "* live    "
                       : v.version == previous   ? "  previous"
                                                 : "          ";
    std::printf("%s %-36s %s  %s\n", mark, v.version.c_str(), v.created.c_str(), source.c_str());
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

}  // namespace

void addVersionsCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<VersionsArgs>();
  auto* cmd = app.add_subcommand(
      "versions", "List a site's stored versions, newest first, marking the live one");
  cmd->add_option("site", args->site, "The site's name");
  cmd->add_flag("--json", args->json, "Print a JSON array");
  cmd->footer("Example:\n  cutover versions docs\n  cutover versions delete docs VERSION\n");
  addVersionsDeleteCommand(*cmd, global, run);
  cmd->callback([&global, &run, args, cmd] {
    if (cmd->got_subcommand("delete")) return;
    run = [&global, args] { return runVersions(global, *args); };
  });
}

}  // namespace cutover::cli
